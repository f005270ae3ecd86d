"""Articles as saved web pages, PDFs and Word files, made by real tools: python-docx writes the Word
files, Chromium prints the PDFs of the pages, pypdf writes the encrypted and 1,000-page PDFs."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from conftest import SEEDS
from embeddings.text.read import CorpusError, read_article

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
NEEDS_CHROMIUM = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is installed by `make test`")


def news_page(title: str, lines: list[str], charset: str = "utf-8", author: str = "王记者",
              site: str = "铝业新闻网", date: str = "2023-08-02") -> bytes:
    """A news-like page: navigation, the article, share buttons, comments and related articles."""
    body = "\n".join(f"<p>{line}</p>" for line in lines)
    published = f'<meta property="article:published_time" content="{date}T08:00:00+08:00">' if date else ""
    page = f"""<!DOCTYPE html><html><head><meta charset="{charset}"><title>{title} - {site}</title>
<meta name="author" content="{author}"><meta property="og:site_name" content="{site}">{published}</head><body>
<nav><a href="/">首页</a> | <a href="/news">新闻中心</a> | <a href="/about">关于我们</a></nav>
<article>{body}</article>
<div class="share">分享到：微信 微博 QQ空间</div>
<div id="comments"><h3>网友评论</h3><p>网友甲：这篇报道写得很好，支持！</p><p>网友乙：希望多报道一些。</p></div>
<aside class="related"><h3>相关文章</h3><ul><li><a href="/1">某地铝产业再创新高</a></li>
<li><a href="/2">某市召开铝产业推进会</a></li></ul></aside>
<footer>版权所有 铝业新闻网</footer></body></html>"""
    # Characters the charset lacks (simplified ones in Big5) are written as character references, as editors do.
    return page.encode(charset, errors="xmlcharrefreplace")


def seed_lines(name: str) -> list[str]:
    return [line for line in (SEEDS / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("charset, seed", [("gbk", "003_8edf2b04a933f642.txt"), ("big5", "000_e9b847b5c34d142c.txt"),
                                           ("utf-8", "004_7ed03d3179984da0.txt")])
def test_a_saved_page_gives_the_article_text_of_the_txt_in_its_declared_charset(tmp_path, charset, seed):
    from_text = read_article(SEEDS / seed)
    page = _write(tmp_path, "page.html", news_page(from_text.title, seed_lines(seed), charset=charset))
    assert charset == "utf-8" or page.read_bytes().decode(charset)  # really in that charset
    from_page = read_article(page)
    assert from_page.text == from_text.text
    for furniture in ("首页", "分享到", "网友甲", "相关文章", "版权所有"):
        assert furniture not in from_page.text.replace(from_text.text, ""), furniture


def test_the_pages_metadata_wins_over_what_the_text_suggests(tmp_path):
    page = _write(tmp_path, "page.htm", news_page("滨州铝业报道", seed_lines("003_8edf2b04a933f642.txt"),
                                                  author="王记者", site="滨州网", date="2021-01-23"))
    article = read_article(page)
    assert (article.author, article.source, article.date) == ("王记者", "滨州网", "2021-01-23")
    assert article.title  # the page's own title or headline


def _docx(paragraphs: list[str], table: list[list[str]] | None = None, title: str = "", author: str = "",
          created: str = "2022-08-14") -> bytes:
    import datetime

    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, cell in enumerate(row):
                grid.cell(r, c).text = cell
    document.core_properties.title = title
    document.core_properties.author = author
    if created:
        document.core_properties.created = datetime.datetime.fromisoformat(created + "T09:30:00")
    else:  # no date: python-docx's template would otherwise state its own (2013)
        from docx.oxml.ns import qn

        properties = document.core_properties._element
        for element in properties.findall(qn("dcterms:created")):
            properties.remove(element)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_a_word_file_gives_its_paragraphs_tables_and_core_properties(tmp_path):
    lines = seed_lines("001_e7987ebe58a431b9.txt")
    path = _write(tmp_path, "report.docx", _docx(lines, [["指标", "数值"], ["铝产量", "1000万吨"]],
                                                 title="滨州铝产业链推进会", author="李编辑"))
    article, from_text = read_article(path), read_article(SEEDS / "001_e7987ebe58a431b9.txt")
    assert from_text.text in article.text and "铝产量 1000万吨" in article.text
    assert (article.title, article.author, article.date) == ("滨州铝产业链推进会", "李编辑", "2022-08-14")


def _png(width: int = 64, height: int = 32) -> bytes:
    """A small grey PNG (for a page that holds only an image)."""
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def print_pdf(html: Path, pdf: Path) -> Path:
    """The PDF Chromium prints of a page (headless, no header or footer lines)."""
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", html.as_uri()], check=True, capture_output=True, timeout=120)
    return pdf


@NEEDS_CHROMIUM
def test_the_pdf_chromium_prints_of_a_page_gives_its_sentences(tmp_path):
    seed = "004_7ed03d3179984da0.txt"
    page = _write(tmp_path, "page.html", news_page("百色铝产业", seed_lines(seed)))
    article = read_article(print_pdf(page, tmp_path / "page.pdf"))
    paragraphs = set(article.text.split("\n"))
    assert set(read_article(SEEDS / seed).text.split("\n")) <= paragraphs  # every paragraph whole
    assert article.title == "百色铝产业 - 铝业新闻网"


@NEEDS_CHROMIUM
def test_a_scanned_pdf_is_refused_with_a_clear_message(tmp_path):
    import base64

    image = base64.b64encode(_png()).decode()
    page = _write(tmp_path, "scan.html", f'<html><body><img src="data:image/png;base64,{image}" width="600"></body></html>'
                  .encode())
    pdf = print_pdf(page, tmp_path / "scan.pdf")
    with pytest.raises(CorpusError, match=r"^scan\.pdf: the PDF has no text layer \(a scanned document\?\)"):
        read_article(pdf)


def test_an_encrypted_pdf_a_huge_pdf_and_a_truncated_pdf_are_refused(tmp_path):
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.encrypt(user_password="secret", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(CorpusError, match=r"^locked\.pdf: the PDF is encrypted with a password"):
        read_article(_write(tmp_path, "locked.pdf", out.getvalue()))

    writer = PdfWriter()
    for _ in range(1000):
        writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(CorpusError, match=r"^thick\.pdf: 1000 pages, over the limit of 300"):
        read_article(_write(tmp_path, "thick.pdf", out.getvalue()))

    with pytest.raises(CorpusError, match=r"^cut\.pdf: "):
        read_article(_write(tmp_path, "cut.pdf", out.getvalue()[:2000]))


@pytest.mark.parametrize("name, data, words", [
    ("empty.docx", "EMPTY_DOCX", "no article text"),
    ("cut.docx", "CUT_DOCX", "not a readable Word document"),
    ("really_a_pdf.html", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n", "named .html but the file is a PDF"),
    ("really_a_pdf.txt", b"%PDF-1.7\n1 0 obj<<>>endobj\n", "named .txt but the file is a PDF"),
    ("not_a_pdf.pdf", "百色市铝产业".encode(), "not a .pdf file"),
    ("blank.html", "<html><body><nav>首页</nav></body></html>".encode(), "no article text"),
])
def test_broken_and_mislabelled_files_get_one_line_naming_the_file(tmp_path, name, data, words):
    if data == "EMPTY_DOCX":
        data = _docx([])
    elif data == "CUT_DOCX":
        data = _docx(["一段文字。"])[:300]
    with pytest.raises(CorpusError) as info:
        read_article(_write(tmp_path, name, data))
    message = str(info.value)
    assert message.startswith(f"{name}: ") and words in message and "\n" not in message


def test_a_batch_with_broken_files_adds_the_good_ones_and_names_the_rest(tmp_path, stub_encoder):
    from embeddings.corpus.articles import add_articles
    from embeddings.corpus.build import build_index

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(SEEDS, corpus)
    build_index(corpus, index, encoder=stub_encoder)
    good_page = _write(tmp_path, "news.html", news_page("某市铝业", ["2024年,某市铝产业总产值达到2000亿元,同比增长12%。"]))
    good_docx = _write(tmp_path, "memo.docx", _docx(["2024年,某县电解铝产量为80万吨,同比增长5%。"], title="某县铝业"))
    broken = _write(tmp_path, "broken.docx", b"PK\x03\x04 not really a zip")
    mislabelled = _write(tmp_path, "fake.html", b"%PDF-1.4\n1 0 obj<<>>endobj\n")
    report = add_articles([good_page, broken, good_docx, mislabelled], corpus, index, encoder=stub_encoder)
    assert sorted(Path(p).name for p in report.added) == ["memo.docx", "news.html"]
    assert [m.split(":")[0] for m in report.refused] == ["broken.docx", "fake.html"]
    assert not (corpus / "broken.docx").exists() and not (corpus / "fake.html").exists()
    from embeddings.store.local import CorpusIndex

    loaded = CorpusIndex.load(index)
    assert {"news.html", "memo.docx"} <= set(loaded.articles)
    assert loaded.articles["memo.docx"].title == "某县铝业"


CHARSETS = {"000_e9b847b5c34d142c.txt": "big5", "003_8edf2b04a933f642.txt": "gbk"}


@pytest.fixture(scope="module")
def format_corpora(tmp_path_factory):
    """The five seeds as news pages (Big5 and GBK among them), the PDFs Chromium prints of those
    pages, and Word files: one corpus folder per format."""
    base = tmp_path_factory.mktemp("formats")
    folders = {kind: base / kind for kind in ("html", "pdf", "docx")}
    for folder in folders.values():
        folder.mkdir()
    for seed in sorted(SEEDS.glob("*.txt")):
        lines, known = seed_lines(seed.name), read_article(seed)
        title = known.title
        page = folders["html"] / f"{seed.stem}.html"
        # The page states what a real page of the article would: its outlet and date, where known.
        page.write_bytes(news_page(title, lines, charset=CHARSETS.get(seed.name, "utf-8"),
                                   site=known.source or "铝业新闻网", date=known.date if len(known.date) == 10 else ""))
        if Path(CHROMIUM).exists():
            print_pdf(page, folders["pdf"] / f"{seed.stem}.pdf")
        (folders["docx"] / f"{seed.stem}.docx").write_bytes(
            _docx(lines, title=title, author="编辑部", created=known.date if len(known.date) == 10 else ""))
    return folders


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["html", "pdf", "docx"])
def test_the_seed_dev_set_gets_the_same_answers_from_each_format(kind, format_corpora, real_qa, tmp_path):
    """Built from 5 pages, 5 PDFs or 5 Word files instead of seeds/: every seed dev question gets
    the same reply (found or not, the same sentence text, a citation of the same article)."""
    from conftest import load_seed_qa
    from embeddings.corpus.build import build_index
    from qa import QA, Settings

    folder = format_corpora[kind]
    if not any(folder.iterdir()):
        pytest.skip("chromium is installed by `make test`")
    index = tmp_path / "index"
    build_index(folder, index)
    qa = QA(index, settings=Settings(corpus_dir=folder))
    differing = []
    for item in load_seed_qa():
        mine, reference = qa.ask(item["question"]), real_qa.ask(item["question"])
        got = (mine.found, mine.sentence, Path(mine.citation.doc).stem if mine.citation else None)
        expected = (reference.found, reference.sentence,
                    Path(reference.citation.doc).stem if reference.citation else None)
        if got != expected:
            differing.append((item["id"], expected, got))
    assert not differing, differing
