"""Reliability and safety: bad questions, bad article files, damaged indexes, exposure of the page.

Every case ends in a clear reply (an answer, an explicit "not found", or a
message saying what to do), never a traceback. docs/reliability.md lists the
cases, what the user sees, and the test that proves it.
"""

from __future__ import annotations

import hashlib
import html.parser
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT, SEEDS, free_port
from embeddings.text.read import MAX_ARTICLE_BYTES, CorpusError, load_corpus, read_article, safe_article_name
from embeddings.store.local import CorpusIndex
from embeddings.store.manifest import MANIFEST_FILE, IndexLoadError, IndexMismatchError, sealed
from qa.api import OTHER_SCRIPT_NOTE, QuestionError, prepare_question
from qa.settings import MAX_QUESTION_CHARS
from ui import app
from ui.render import escape_text, render_reply

LONG_QUESTION = "2022年百色市铝产业总产值是多少？" * 6000  # 114,000 characters
TRACEBACK = "Traceback (most recent call last)"


# --- questions ------------------------------------------------------------------------------

REFUSED_QUESTIONS = [
    pytest.param("", "empty", id="empty"),
    pytest.param(" \t\n\u3000 ", "empty", id="blank"),
    pytest.param("\x00\x01\x1b\x7f", "empty", id="only-control-characters"),
    pytest.param("\u200b\u200d\ufeff\u202e", "empty", id="only-invisible-characters"),
    pytest.param("😀🎉👍🏽", "no words", id="emoji-only"),
    pytest.param("🏳️‍🌈🇨🇳", "no words", id="emoji-flags-and-joiners"),
    pytest.param("？！…。", "no words", id="punctuation-only"),
    pytest.param("2022", "only a number", id="number-only"),
    pytest.param(" 1,045.5%？ ", "only a number", id="number-with-signs-only"),
    pytest.param("１２３", "only a number", id="full-width-number-only"),
    pytest.param("{0}", "no words to search for", id="template-placeholder"),
    pytest.param("{{7*7}}", "no words to search for", id="template-expression"),
    pytest.param(42, "must be text", id="not-text"),
]


@pytest.mark.parametrize(("question", "why"), REFUSED_QUESTIONS)
def test_unaskable_questions_get_a_clear_message(stub_qa, question, why):
    with pytest.raises(QuestionError, match=why) as info:
        stub_qa.ask(question)
    message = str(info.value)
    assert "\n" not in message and len(message) < 200
    # The page shows the same message as its reply.
    assert app.respond(stub_qa, question)["error"] == message


ANSWERED_QUESTIONS = [
    pytest.param(LONG_QUESTION, id="114000-characters"),
    pytest.param("2022年百色市\x00铝产业\x07总产值\x1b[31m是多少？\x7f", id="NUL-and-control-characters"),
    pytest.param("2022年百色市\u200b铝产业\u202e总产值\ufeff是多少？", id="invisible-and-bidi-characters"),
    pytest.param("\ud800百色市铝产业总产值\udfff", id="lone-surrogates"),
    pytest.param("<script>alert('x')</script>", id="script-tag"),
    pytest.param("<b>2022年</b>百色市<img src=x onerror=alert(1)>铝产业总产值是多少？", id="html-tags"),
    pytest.param("Какова стоимость алюминиевой промышленности в 2022 году?", id="russian"),
    pytest.param("ما هو إنتاج الألومنيوم في الصين؟", id="arabic"),
    pytest.param("あいうえおのアルミはどこですか", id="japanese-kana"),
    pytest.param("알루미늄 산업의 생산액은 얼마입니까?", id="korean"),
    pytest.param("百色😀铝产业🎉总产值？", id="emoji-inside-a-question"),
]


@pytest.mark.parametrize("question", ANSWERED_QUESTIONS)
def test_odd_questions_get_an_answer_or_an_explicit_not_found(stub_qa, question):
    reply = stub_qa.ask(question)
    assert 0 < len(reply.question) <= MAX_QUESTION_CHARS
    assert not any(ord(ch) < 32 or 0xD800 <= ord(ch) <= 0xDFFF for ch in reply.question)
    assert not set("\u200b\u202e\ufeff") & set(reply.question)
    if reply.found:
        assert reply.sentence and reply.citation is not None
    else:
        assert reply.sentence is None and reply.citation is None
    # The reply is valid JSON in UTF-8, and the page renders it.
    data = json.loads(json.dumps(reply.to_dict(), ensure_ascii=False).encode("utf-8"))
    assert data == json.loads(json.dumps(app.respond(stub_qa, question)))
    assert render_reply(data)


@pytest.mark.parametrize("question", [pytest.param(p.values[0], id=p.id) for p in REFUSED_QUESTIONS + ANSWERED_QUESTIONS
                                      if isinstance(p.values[0], str)])
def test_the_chat_gives_every_odd_input_a_reply_not_an_apology(stub_qa, question):
    """Through the page's chat handler (follow-up resolution included): no "something went wrong"."""
    from ui.render import UNEXPECTED

    history = app.chat(stub_qa, question, [])[1]
    reply = history[-1]["content"]
    _assert_inert(reply)
    assert UNEXPECTED not in reply  # lone surrogates too: the message is cleaned before follow-up rules read it


def test_a_long_question_is_cut_at_the_documented_limit_with_a_note(stub_qa):
    assert MAX_QUESTION_CHARS == 500
    reply = stub_qa.ask(LONG_QUESTION)
    assert len(reply.question) <= MAX_QUESTION_CHARS
    assert reply.note == f"the question was cut to its first {MAX_QUESTION_CHARS} characters"
    assert LONG_QUESTION.startswith(reply.question)
    assert reply.found and "1045亿元" in reply.sentence  # what is left is still a good question
    import qa.api

    seen = []

    class Counting:  # the first cleaning pattern, counting the characters it is given
        def __init__(self, pattern):
            self.pattern = pattern

        def sub(self, replacement, text):
            seen.append(len(text))
            return self.pattern.sub(replacement, text)

    original = qa.api._INVISIBLE
    qa.api._INVISIBLE = Counting(original)
    try:
        cleaned, note = prepare_question("百" * 10_000_000)
    finally:
        qa.api._INVISIBLE = original
    assert len(cleaned) == MAX_QUESTION_CHARS and note
    assert seen and max(seen) <= 20 * MAX_QUESTION_CHARS, "a huge paste is cut before any cleaning reads it"


OTHER_SCRIPTS = ["Какова стоимость алюминиевой промышленности в 2022 году?", "ما هو إنتاج الألومنيوم في الصين؟",
                 "あいうえおのアルミはどこですか", "알루미늄 산업의 생산액은 얼마입니까?"]


@pytest.mark.parametrize("question", OTHER_SCRIPTS)
def test_a_question_in_a_script_the_corpus_lacks_says_so(stub_qa, question):
    reply = stub_qa.ask(question)
    assert reply.note == OTHER_SCRIPT_NOTE
    assert reply.passages, "the closest material is still shown"
    assert OTHER_SCRIPT_NOTE in render_reply(reply.to_dict())


@pytest.mark.slow
@pytest.mark.parametrize("question", OTHER_SCRIPTS)
def test_a_question_in_a_script_the_corpus_lacks_is_not_found_with_the_real_model(real_qa, question):
    # Whether anything is "found" is the model's and the answerer's call: checked with the real ones.
    reply = real_qa.ask(question)
    assert not reply.found and reply.sentence is None
    assert reply.note == OTHER_SCRIPT_NOTE


def test_invisible_characters_do_not_change_the_answer(stub_qa):
    plain = stub_qa.ask("2022年百色市铝产业总产值是多少？")
    noisy = stub_qa.ask("\u202e2022年百色市\u200b铝产业总产值\ufeff是多少？\u200d")
    assert noisy.question == plain.question
    assert noisy.to_dict() == plain.to_dict()


def test_japanese_with_kanji_is_not_called_another_script():
    assert prepare_question("百色市のアルミ産業の生産額は？")[1] == ""


# --- rendering: user and corpus text never becomes markup ------------------------------------

ALLOWED_TAGS = {"p", "em", "strong", "br", "details", "summary", "ol", "li", "blockquote", "code", "mark"}
HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)>[link](javascript:alert(1))</details>"


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, list]] = []
        self.text = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_data(self, data):
        self.text += data


def _parse(markup: str) -> _Tags:
    parser = _Tags()
    parser.feed(markup)
    parser.close()
    return parser


def _assert_inert(markup: str) -> None:
    parsed = _parse(markup)
    assert {tag for tag, _ in parsed.tags} <= ALLOWED_TAGS, parsed.tags
    assert all(not attrs for _, attrs in parsed.tags), "no attribute at all (no onerror=, href=, style=)"


def test_render_reply_escapes_html_everywhere():
    citation = {"doc": HOSTILE + ".txt", "title": HOSTILE, "source": HOSTILE, "date": HOSTILE,
                "paragraph": 1, "start": 0, "end": len(HOSTILE)}
    passages = [{"doc": HOSTILE, "text": HOSTILE + "。", "score": 0.5, "paragraph": 1, "start": 0,
                 "end": len(HOSTILE) + 1}]
    found = {"question": HOSTILE, "found": True, "sentence": HOSTILE, "score": 0.9, "citation": citation,
             "passages": passages, "note": HOSTILE}
    not_found = {**found, "found": False, "sentence": None, "citation": None}
    error = {"question": HOSTILE, "found": False, "error": HOSTILE}
    for reply in (found, not_found, error):
        markup = render_reply(reply)
        _assert_inert(markup)
        text = _parse(markup).text
        assert "<script>alert(" in text and "<img src=x onerror=alert(1)>" in text, "shown as text"


def test_the_question_bubble_and_a_real_reply_are_inert(stub_qa):
    result = app.chat(stub_qa, HOSTILE + " 2022年百色市铝产业总产值是多少？", [])
    history = result[1]
    for message in history[-2:]:
        _assert_inert(message["content"])
    assert "&lt;script&gt;" in history[-2]["content"]


@pytest.mark.parametrize("typed", ["Guangyuan's output", 'say "铝"', "<a href='x'>", "#1 & 50%", "a\\b`c`*d*"])
def test_escaped_text_reads_as_typed(typed):
    shown = _parse(f"<p>{escape_text(typed)}</p>").text  # what the browser displays
    assert shown == typed


# --- questions through the command line (fresh processes) ------------------------------------

# The real `aluqa` main with the stub encoder in place of the model: fast, and
# everything else (argument parsing, QA, printing, exit codes) is the real path.
STUB_CLI = (
    "import os, sys; sys.path[:0] = [{root!r}, {tests!r}]\n"
    "os.environ['ALUQA_SELECTOR'] = 'off'  # the selector reads text with the real model\n"
    "from conftest import StubEncoder\n"
    "import embeddings.model.encoder\n"
    "embeddings.model.encoder.load_encoder = lambda *args, **kwargs: StubEncoder()\n"
    "from ui.cli import main\n"
    "sys.exit(main())\n"
).format(root=str(ROOT), tests=str(ROOT / "tests"))


def _aluqa(*args, stub: bool = False, timeout: int = 120) -> subprocess.CompletedProcess:
    prefix = ["-c", STUB_CLI] if stub else ["-m", "qa"]
    result = subprocess.run([sys.executable, *prefix, *args], capture_output=True, cwd=ROOT, timeout=timeout)
    result.stdout = result.stdout.decode("utf-8")
    result.stderr = result.stderr.decode("utf-8")
    assert TRACEBACK not in result.stderr, result.stderr
    return result


@pytest.mark.parametrize(("question", "why"), [("   ", "empty"), ("😀🎉", "no words"), ("2022", "only a number"),
                                               ("\x01\x02\x1b", "empty")])
def test_cli_refuses_unaskable_questions_with_exit_code_2(question, why):
    result = _aluqa("ask", question)
    assert result.returncode == 2
    assert result.stderr.startswith("aluqa ask: ") and why in result.stderr
    assert result.stdout == ""


def test_cli_cuts_a_long_question_and_says_so(stub_index_dir):
    # 100,000 characters; mostly ASCII because Linux caps one argument at 128 kB.
    question = "2022年百色市铝产业总产值是多少？" + "?" * (100_000 - 17)
    result = _aluqa("ask", "--index", str(stub_index_dir), question, stub=True)
    assert result.returncode == 0
    assert result.stdout.startswith(f"(the question was cut to its first {MAX_QUESTION_CHARS} characters)")


def test_cli_answers_another_script_with_a_note(stub_index_dir):
    result = _aluqa("ask", "--index", str(stub_index_dir), "Какова стоимость алюминия?", stub=True)
    assert result.returncode == 0
    assert result.stdout.startswith(f"({OTHER_SCRIPT_NOTE})\n")


def test_cli_survives_bytes_that_are_not_utf8(stub_index_dir):
    # An undecodable argument reaches Python as lone surrogates ("surrogateescape").
    question = b"\xff\xfe" + "2022年百色市铝产业总产值是多少？".encode("utf-8") + b"\x80"
    result = _aluqa("ask", "--json", "--index", str(stub_index_dir), question, stub=True)
    assert result.returncode == 0
    assert json.loads(result.stdout)["question"] == "2022年百色市铝产业总产值是多少？"


@pytest.mark.slow
def test_cli_with_the_real_model_cuts_a_long_question(real_qa):
    question = "2022年百色市铝产业总产值是多少？" + "?" * (100_000 - 17)
    result = _aluqa("ask", question, timeout=600)
    assert result.returncode == 0
    assert result.stdout.startswith(f"(the question was cut to its first {MAX_QUESTION_CHARS} characters)")
    assert "1045亿元" in result.stdout


# --- article files ----------------------------------------------------------------------------

TRADITIONAL = "魏橋創業集團三年關停了六個熱電廠，停運四十二臺機組。濱州市鋁產業發展很快，產能達到一百萬噸。"
SIMPLIFIED = "魏桥创业集团三年关停了六个热电厂，停运四十二台机组。滨州市铝产业发展很快，产能达到一百万吨。"


@pytest.mark.parametrize(("encoding", "text"), [("utf-8", SIMPLIFIED), ("utf-8-sig", TRADITIONAL),
                                                ("gb18030", SIMPLIFIED), ("gbk", SIMPLIFIED),
                                                ("big5", TRADITIONAL), ("cp950", TRADITIONAL)])
def test_legacy_chinese_encodings_are_decoded(tmp_path, encoding, text):
    path = tmp_path / f"{encoding}.txt"
    path.write_bytes(text.encode(encoding))
    assert read_article(path).text == text


@pytest.mark.parametrize(("data", "why"), [
    pytest.param(b"", "empty", id="empty"),
    pytest.param(b"\n \r\n\t", "empty", id="blank"),
    pytest.param(bytes(range(256)) * 4, "binary", id="binary"),
    pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary", id="png"),
    pytest.param(SIMPLIFIED.encode("utf-16"), "UTF-16", id="utf-16"),
    pytest.param("日本のアルミニウム産業は自動車向けの需要が増え、生産量が前年より増加した。東京の工場では新しい設備が導入された。"
                 .encode("shift_jis"), "reads as nonsense", id="shift-jis-mojibake"),
    pytest.param(b"\x80\x80\x80\xff" * 10, "not valid UTF-8 or GB18030", id="undecodable"),
])
def test_broken_article_files_are_refused_with_their_name(tmp_path, data, why):
    path = tmp_path / "broken file.txt"
    path.write_bytes(data)
    with pytest.raises(CorpusError, match=why) as info:
        read_article(path)
    assert str(info.value).startswith("broken file.txt: ")


JAPANESE = ("日本のアルミニウム産業は自動車向けの需要が増え、生産量が前年より増加した。東京の工場では新しい設備が導入された。"
            "経済産業省によると、国内のアルミ圧延品の出荷量は三年連続で増えている。")
KOREAN = ("한국의 알루미늄 산업은 자동차용 수요가 늘어 생산량이 전년보다 증가했다. 울산 공장에는 새로운 설비가 도입되었다. "
          "산업통상자원부에 따르면 국내 알루미늄 압연 제품의 출하량은 삼 년 연속 늘고 있다.")


@pytest.mark.parametrize(("text", "encoding", "language"), [
    (JAPANESE, "euc_jp", "Japanese"), (JAPANESE, "shift_jis", "Japanese"),
    (KOREAN, "euc_kr", "Korean"), (KOREAN, "cp949", "Korean"),
])
def test_japanese_and_korean_articles_are_refused_with_their_name(tmp_path, text, encoding, language):
    # EUC-JP and EUC-KR bytes also decode as GB18030 into common Chinese characters.
    text.encode(encoding).decode("gb18030")
    path = tmp_path / f"外国 {encoding}.txt"
    path.write_bytes(text.encode(encoding))
    with pytest.raises(CorpusError, match=f"reads as {language} text") as info:
        read_article(path)
    assert str(info.value).startswith(f"外国 {encoding}.txt: ") and "save it as UTF-8" in str(info.value)


@pytest.mark.parametrize("encoding", ["gb18030", "big5"])
def test_every_seed_in_a_legacy_chinese_encoding_reads_as_it_does_in_utf8(tmp_path, encoding):
    # No Chinese article may be taken for Japanese or Korean (the language check's risk).
    checked = 0
    for seed in sorted(SEEDS.iterdir()):
        text = seed.read_text(encoding="utf-8")
        try:
            data = text.encode(encoding)
        except UnicodeEncodeError:
            data = text.encode(encoding, errors="ignore")  # Big5 has no simplified characters
            text = data.decode(encoding)
        path = tmp_path / seed.name
        path.write_bytes(data)
        (tmp_path / "utf8.txt").write_text(text, encoding="utf-8")
        assert read_article(path).text == read_article(tmp_path / "utf8.txt").text, seed.name
        checked += 1
    assert checked == 5


def _bytes_read_by_this_process() -> int | None:
    try:
        with open("/proc/self/io", encoding="ascii") as handle:
            return int(next(line for line in handle if line.startswith("rchar:")).split()[1])
    except (OSError, StopIteration):
        return None


def test_a_50_mb_article_is_refused_from_its_size_without_reading_it(tmp_path):
    assert MAX_ARTICLE_BYTES == 5_000_000
    path = tmp_path / "huge.txt"
    with open(path, "wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: 50 MB long, nothing written
    before = _bytes_read_by_this_process()
    with pytest.raises(CorpusError, match=r"^huge\.txt: 52428800 bytes, over the 5000000-byte limit"):
        read_article(path)
    if before is not None:
        assert _bytes_read_by_this_process() - before < 100_000, "the file's content was never read"


def test_a_broken_file_is_skipped_by_the_corpus_and_named(tmp_path):
    shutil.copy(SEEDS / "004_7ed03d3179984da0.txt", tmp_path)
    with open(tmp_path / "huge.txt", "wb") as handle:
        handle.truncate(MAX_ARTICLE_BYTES + 1)
    (tmp_path / "empty.md").write_bytes(b"")
    errors: list[CorpusError] = []
    articles = load_corpus(tmp_path, on_error=errors.append)
    assert [a.doc for a in articles] == ["004_7ed03d3179984da0.txt"]
    assert sorted(str(e).split(":")[0] for e in errors) == ["empty.md", "huge.txt"]


def test_a_duplicate_article_is_kept_once_whatever_its_encoding_or_line_ends(tmp_path, caplog):
    text = (SEEDS / "004_7ed03d3179984da0.txt").read_text(encoding="utf-8")
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    (tmp_path / "b.txt").write_bytes(text.replace("\n", "\r\n").encode("gb18030"))
    (tmp_path / "c.md").write_text(text + "\n\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="embeddings.text.read"):
        articles = load_corpus(tmp_path)
    assert [a.doc for a in articles] == ["a.txt"]
    assert "b.txt: same article as a.txt" in caplog.text and "c.md: same article as a.txt" in caplog.text


def test_the_corpus_reads_only_files_directly_inside_its_folder(tmp_path):
    corpus, outside = tmp_path / "corpus", tmp_path / "outside"
    corpus.mkdir()
    outside.mkdir()
    (corpus / "a.txt").write_text(SIMPLIFIED, encoding="utf-8")
    (corpus / "sub").mkdir()
    (corpus / "sub" / "nested.txt").write_text("子目录里的文章。", encoding="utf-8")
    (outside / "secret.txt").write_text("外面的秘密文件。", encoding="utf-8")
    (corpus / "link.txt").symlink_to(outside / "secret.txt")
    (corpus / "up.txt").symlink_to(Path("..") / "outside" / "secret.txt")
    (corpus / "alias.txt").symlink_to(corpus / "a.txt")  # inside the folder: allowed (a duplicate here)
    (corpus / "奇怪 的 名字 (1) #&;.txt").write_text("名字奇怪的文章照样读取。", encoding="utf-8")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in corpus.iterdir())

    with pytest.raises(CorpusError, match="link.txt: a link to a file outside the corpus folder"):
        load_corpus(corpus)
    errors: list[CorpusError] = []
    articles = load_corpus(corpus, on_error=errors.append)
    assert [a.doc for a in articles] == ["a.txt", "奇怪 的 名字 (1) #&;.txt"]
    assert sorted(str(e).split(":")[0] for e in errors) == ["link.txt", "up.txt"]
    assert not any("秘密" in a.text or "子目录" in a.text for a in articles)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in corpus.iterdir()) == before, "nothing written"


@pytest.mark.parametrize(("name", "safe"), [
    ("../../etc/passwd", "passwd.txt"),
    ("..\\..\\Windows\\win.ini", "win.ini.txt"),
    ("/abs/path/新闻.md", "新闻.md"),
    ("..／..／全角.txt", "全角.txt"),
    ("新闻 2023 (1).TXT", "新闻_2023_1.txt"),
    (".hidden.txt", "hidden.txt"),
    ("-rf.txt", "rf.txt"),
    ("a..b.txt", "a.b.txt"),
    ("evil\x00name\n.txt", "evilname.txt"),
    ("report.pdf", "report.pdf"), ("scan.PDF", "scan.pdf"), ("page.HTM", "page.htm"), ("a.docx", "a.docx"),
    ("<script>alert(1)</script>.md", "script.md"),  # "/" separates: only "script>.md" is left
    ("<i>新闻稿|*?.md", "i_新闻稿.md"),
    ("滨州铝业", "滨州铝业.txt"),
    ("ｆｕｌｌ．ＴＸＴ", "full.txt"),
])
def test_safe_article_name(name, safe):
    assert safe_article_name(name) == safe


@pytest.mark.parametrize("name", ["", "..", "../..", "///", ".txt", "😀.txt", "\x00\x01", "Привет.md", " . "])
def test_safe_article_name_refuses_names_with_nothing_left(name):
    with pytest.raises(CorpusError, match="no usable file name"):
        safe_article_name(name)


@settings(max_examples=150, deadline=None, database=None)
@given(st.text(max_size=300) | st.lists(st.sampled_from(["..", "/", "\\", "．", "／", "a", "铝", ".txt", ".md", " ",
                                                         "\x00", "~", "$HOME"]), max_size=30).map("".join))
def test_safe_article_name_never_leaves_the_folder(name):
    try:
        safe = safe_article_name(name)
    except CorpusError:
        return
    folder = Path("/corpus")
    assert (folder / safe).parent == folder and os.path.normpath(folder / safe) == str(folder / safe)
    assert safe.endswith((".txt", ".md")) and not safe.startswith((".", "-"))
    assert ".." not in safe and "/" not in safe and "\\" not in safe
    assert len(safe.encode("utf-8")) <= 255
    assert safe_article_name(safe) == safe, "idempotent"


# --- the saved index: damaged, tampered or mismatched files are refused ----------------------

BM25_FILES = ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy", "params.index.json",
              "vocab.index.json")
INDEX_FILES = (MANIFEST_FILE, "articles.json", "sentences.json", "passages.json", "sentences.faiss",
               "passages.faiss", *(f"bm25_sentences/{f}" for f in BM25_FILES),
               *(f"bm25_passages/{f}" for f in BM25_FILES))
# Optional, not read by CorpusIndex.load: a damaged cache only means texts are embedded again.
CACHE_PREFIX = "embedding_cache/"


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_the_index_files_are_the_ones_tested_here(stub_index_dir):
    assert {f for f in _files(stub_index_dir) if not f.startswith(CACHE_PREFIX)} == set(INDEX_FILES)


@pytest.fixture
def index_copy(stub_index_dir, tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(stub_index_dir, copy)
    return copy


def _assert_refused(folder: Path, part: str) -> IndexLoadError:
    try:
        CorpusIndex.load(folder)
    except IndexLoadError as error:
        message = str(error)
        assert str(folder) in message, "the folder (or the file in it) is named"
        assert f"aluqa build --index {folder}" in message, "the command that fixes it"
        return error
    # Any other exception fails the test as it is: a damaged file must give IndexLoadError.
    pytest.fail(f"the index loaded although {part} is damaged")


@pytest.mark.parametrize("mode", ["half", "empty", "missing"])
@pytest.mark.parametrize("part", INDEX_FILES)
def test_a_truncated_or_missing_index_file_is_refused_with_the_fix(index_copy, part, mode):
    path = index_copy / part
    if mode == "missing":
        path.unlink()
    else:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if mode == "half" else b"")
    _assert_refused(index_copy, f"{part} ({mode})")


def test_a_missing_index_folder_is_refused_with_the_fix(tmp_path):
    _assert_refused(tmp_path / "nowhere", "the whole folder")


def test_a_damaged_embedding_cache_does_not_stop_the_index(index_copy):
    for name in _files(index_copy):
        if name.startswith(CACHE_PREFIX):
            (index_copy / name).write_bytes(b"")
    assert CorpusIndex.load(index_copy).manifest.documents == 5


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    if path.name == MANIFEST_FILE:
        # Sealed again, as by someone who knows the format: the checks behind the checksum still stand.
        data = sealed(data)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


@pytest.mark.parametrize("change", [lambda d: d.update(documents=4), lambda d: d["files"].pop("sentences.json"),
                                    lambda d: d.update(model="someone/other-model"),
                                    lambda d: d.update(checksum="0" * 64)])
def test_an_edited_manifest_is_refused_by_its_own_checksum(index_copy, change):
    path = index_copy / MANIFEST_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    error = _assert_refused(index_copy, MANIFEST_FILE)
    assert f"{path} has changed since the index was built" in str(error)


def test_the_manifest_checksum_ignores_layout_only(index_copy):
    path = index_copy / MANIFEST_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(dict(reversed(list(data.items()))), ensure_ascii=True), encoding="utf-8")
    assert CorpusIndex.load(index_copy).manifest.documents == 5


def test_an_index_with_a_sentence_removed_is_refused(index_copy):
    _edit_json(index_copy / "sentences.json", lambda d: d["sentences"].pop())
    error = _assert_refused(index_copy, "sentences.json")
    assert f"{index_copy / 'sentences.json'} has changed since the index was built" in str(error)


def test_counts_are_checked_even_when_the_checksums_agree(index_copy):
    """A manifest edited to match an edited file still has to agree with the file's contents."""
    _edit_json(index_copy / "sentences.json", lambda d: d["sentences"].pop())
    _edit_json(index_copy / MANIFEST_FILE, lambda d: d["files"].update(
        {"sentences.json": hashlib.sha256((index_copy / "sentences.json").read_bytes()).hexdigest()}))
    assert "does not match its manifest" in str(_assert_refused(index_copy, "sentences.json"))


def test_a_manifest_of_another_dimension_is_refused(index_copy):
    _edit_json(index_copy / MANIFEST_FILE, lambda d: d.update(dimension=384))
    assert "does not match its manifest" in str(_assert_refused(index_copy, MANIFEST_FILE))


def test_a_manifest_of_another_model_is_refused_by_qa_with_the_fix(index_copy, stub_encoder):
    from qa import QA

    _edit_json(index_copy / MANIFEST_FILE, lambda d: d.update(model="someone/other-model"))
    with pytest.raises(IndexMismatchError, match=r"someone/other-model.*aluqa build --index .* --model"):
        QA(index_copy, encoder=stub_encoder).ask("2022年百色市铝产业总产值是多少？")
    result = app.respond(QA(index_copy, encoder=stub_encoder), "百色？")
    assert "aluqa build" in result["error"]


def test_the_command_line_names_the_fix_for_a_damaged_index(index_copy):
    (index_copy / "sentences.faiss").write_bytes(b"")
    result = _aluqa("ask", "--index", str(index_copy), "2022年百色市铝产业总产值是多少？", stub=True)
    assert result.returncode == 3
    assert f"aluqa build --index {index_copy}" in result.stderr


def _flip_a_byte_in_the_vectors(folder: Path) -> None:
    path = folder / "sentences.faiss"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


def _change_a_sentence_text(folder: Path) -> None:
    def change(data):
        sentence = data["sentences"][3]
        sentence["text"] = sentence["text"][::-1]

    _edit_json(folder / "sentences.json", change)


@pytest.mark.parametrize("tamper", [_flip_a_byte_in_the_vectors, _change_a_sentence_text],
                         ids=["vector-bytes", "sentence-text"])
def test_tampered_index_files_are_refused(index_copy, tamper):
    tamper(index_copy)
    error = _assert_refused(index_copy, "a tampered file")
    assert "has changed since the index was built" in str(error)


def test_nothing_in_an_index_is_pickled_and_loading_never_unpickles(index_copy, monkeypatch):
    import pickle

    import bm25s
    import faiss

    for name in _files(index_copy):
        assert not name.endswith((".pkl", ".pickle", ".pt", ".bin", ".joblib")), name
        if name.endswith(".npy"):
            with open(index_copy / name, "rb") as handle:
                major, _ = np.lib.format.read_magic(handle)
                read_header = (np.lib.format.read_array_header_1_0 if major == 1
                               else np.lib.format.read_array_header_2_0)
                _, _, dtype = read_header(handle)
            assert not dtype.hasobject, f"{name} holds Python objects"

    def refuse(*args, **kwargs):
        raise AssertionError("something was unpickled")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    calls = {"np.load": [], "bm25": 0, "faiss": 0}
    real_np_load, real_bm25_load, real_read_index = np.load, bm25s.BM25.load, faiss.read_index

    def np_load(*args, **kwargs):
        calls["np.load"].append(kwargs.get("allow_pickle", False))
        return real_np_load(*args, **kwargs)

    def bm25_load(*args, **kwargs):
        calls["bm25"] += 1
        return real_bm25_load(*args, **kwargs)

    def read_index(*args, **kwargs):
        calls["faiss"] += 1
        return real_read_index(*args, **kwargs)

    monkeypatch.setattr(np, "load", np_load)
    monkeypatch.setattr(bm25s.BM25, "load", staticmethod(bm25_load))
    monkeypatch.setattr(faiss, "read_index", read_index)
    loaded = CorpusIndex.load(index_copy)
    assert loaded.sentence_vectors.ntotal == loaded.manifest.sentences
    assert calls["bm25"] == 2 and calls["faiss"] == 2
    assert calls["np.load"] and not any(calls["np.load"]), "every array is loaded with allow_pickle=False"


# --- exposure: loopback by default, a warning otherwise, optional login, never a share link ---

class _FakeQA:
    def warm_up(self):
        pass

    def ask(self, question):
        raise QuestionError("not used")


class _Listening:
    """What `listen` returns in these tests: no socket is opened (hosts such as example.org need no DNS)."""

    def __init__(self, host, port):
        self.address = (host, port)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


@pytest.fixture
def launches(monkeypatch):
    """What serve() would serve: the host, the port and the app (nothing listens: fast)."""
    from ui import server

    calls: list[dict] = []
    monkeypatch.setattr(server, "listen", _Listening)
    monkeypatch.setattr(server, "run_app", lambda app, sock: calls.append({"app": app, "address": sock.address}))
    return calls


def test_serve_never_makes_a_share_link(monkeypatch, launches, capsys):
    import gradio as gr

    from ui import server

    def launch(self, **kwargs):
        raise AssertionError("serve() must not call Gradio's launch (it could open a share link)")

    monkeypatch.setattr(gr.Blocks, "launch", launch)
    monkeypatch.setenv("GRADIO_SHARE", "True")  # even when the environment asks for one
    assert server.serve(qa=_FakeQA()) == 0
    assert launches[-1]["address"] == ("127.0.0.1", 7860)
    assert "warning" not in capsys.readouterr().err


def test_serve_on_loopback_prints_no_warning(launches, capsys):
    from ui import server

    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert server.serve(host=host, port=7001, qa=_FakeQA()) == 0
        assert launches[-1]["address"] == (host, 7001)
        assert "warning" not in capsys.readouterr().err


def test_serve_elsewhere_warns_on_stderr(launches, capsys):
    from ui import server

    for host in ("0.0.0.0", "::", "192.168.1.20", "example.org"):
        assert server.serve(host=host, port=7001, qa=_FakeQA()) == 0
        err = capsys.readouterr().err
        assert f"warning: listening on {host}" in err and "reachable from the network" in err
        assert "no login" in err and "--host 127.0.0.1" in err
        assert launches[-1]["address"] == (host, 7001)


def test_serve_asks_for_a_login_or_key_when_given(launches, capsys):
    from fastapi.testclient import TestClient

    from ui import server

    assert server.serve(host="0.0.0.0", qa=_FakeQA(), auth=("ana", "s3cret:x")) == 0
    err = capsys.readouterr().err
    assert "reachable from the network" in err and "no login" not in err and "unencrypted" in err
    with TestClient(launches[-1]["app"]) as client:
        assert client.post("/login", data={"username": "ana", "password": "no"}).status_code == 400
        assert client.post("/login", data={"username": "ana", "password": "s3cret:x"}).status_code == 200
    assert server.serve(host="0.0.0.0", qa=_FakeQA(), api_key="k") == 0
    err = capsys.readouterr().err
    assert "--api-key key" in err and "no login" not in err
    assert server.serve(qa=_FakeQA(), auth=("ana", "")) == 2
    assert "non-empty user and password" in capsys.readouterr().err
    assert server.serve(qa=_FakeQA(), api_key="  ") == 2
    assert "must not be empty" in capsys.readouterr().err


@pytest.fixture
def serve_calls(monkeypatch):
    calls: list[dict] = []

    def fake_serve(**kwargs):
        calls.append(kwargs)
        return 0

    from ui import server

    monkeypatch.setattr(server, "serve", fake_serve)
    return calls


def test_cli_serve_defaults_to_loopback_without_login(serve_calls):
    from ui.cli import main

    assert main(["serve"]) == 0
    assert serve_calls[-1]["host"] == "127.0.0.1" and serve_calls[-1]["auth"] is None


def test_cli_serve_auth_options(serve_calls, tmp_path, capsys):
    from ui.cli import main

    assert main(["serve", "--auth", "ana:pa:ss"]) == 0
    assert serve_calls[-1]["auth"] == ("ana", "pa:ss")
    login = tmp_path / "login"
    login.write_text("\nbo:secret\n", encoding="utf-8")
    assert main(["serve", "--host", "0.0.0.0", "--auth-file", str(login)]) == 0
    assert serve_calls[-1]["auth"] == ("bo", "secret") and serve_calls[-1]["host"] == "0.0.0.0"
    count = len(serve_calls)
    for args, message in ((["--auth", "nopassword"], "USER:PASSWORD"), (["--auth", ":x"], "USER:PASSWORD"),
                          (["--auth-file", str(tmp_path / "none")], "cannot read --auth-file"),):
        assert main(["serve", *args]) == 2
        assert message in capsys.readouterr().err
    login.write_text("a:b\nc:d\n", encoding="utf-8")
    assert main(["serve", "--auth-file", str(login)]) == 2
    assert "one USER:PASSWORD line" in capsys.readouterr().err
    assert len(serve_calls) == count, "nothing is served after a bad login option"
    with pytest.raises(SystemExit) as info:
        main(["serve", "--auth", "a:b", "--auth-file", str(login)])
    assert info.value.code == 2


def test_cli_serve_api_key_options(serve_calls, tmp_path, capsys, monkeypatch):
    from ui.cli import main

    monkeypatch.delenv("ALUQA_API_KEY", raising=False)
    assert main(["serve"]) == 0 and serve_calls[-1]["api_key"] is None
    assert main(["serve", "--api-key", "k1"]) == 0 and serve_calls[-1]["api_key"] == "k1"
    key = tmp_path / "key"
    key.write_text("\n k2 \n", encoding="utf-8")
    assert main(["serve", "--api-key-file", str(key)]) == 0 and serve_calls[-1]["api_key"] == "k2"
    monkeypatch.setenv("ALUQA_API_KEY", "k3")
    assert main(["serve"]) == 0 and serve_calls[-1]["api_key"] == "k3"
    assert main(["serve", "--api-key", "k1"]) == 0 and serve_calls[-1]["api_key"] == "k1"  # the option wins
    count = len(serve_calls)
    key.write_text("a\nb\n", encoding="utf-8")
    for args, message in ((["--api-key", " "], "must not be empty"), (["--api-key-file", str(key)], "one line"),
                          (["--api-key-file", str(tmp_path / "none")], "cannot read --api-key-file")):
        assert main(["serve", *args]) == 2
        assert message in capsys.readouterr().err
    assert len(serve_calls) == count, "nothing is served after a bad key option"
    from qa.settings import Settings

    assert "k3" not in repr(Settings()), "the key is never printed with the settings"


@pytest.mark.slow
def test_login_is_enforced_by_a_live_server(monkeypatch):
    """`serve(auth=...)` reaches Gradio: without the login the page refuses, with it it answers."""
    import threading

    import uvicorn
    from gradio_client import Client
    from gradio_client.exceptions import AuthenticationError

    from qa.types import Answer
    from ui import server

    class Echo:
        def ask(self, question):
            return Answer(question=question, found=False, sentence=None, citation=None, probability=0.0)

    running, status = {}, []

    def run_app(app, sock):  # serve()'s own app on its socket; the test stops it when done
        running["server"] = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        running["server"].run(sockets=[sock])

    monkeypatch.setattr(server, "run_app", run_app)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    serving = threading.Thread(target=lambda: status.append(
        server.serve(port=port, qa=Echo(), auth=("ana", "s3cret"))), daemon=True)
    serving.start()
    deadline = time.monotonic() + 60
    while not (running.get("server") and running["server"].started):
        assert serving.is_alive() and time.monotonic() < deadline, f"serve() returned {status}"
        time.sleep(0.05)
    try:
        with pytest.raises(AuthenticationError, match="credentials were not provided"):
            Client(url, verbose=False)
        with pytest.raises(ValueError, match="Could not login"):
            Client(url, auth=("ana", "wrong"), verbose=False)
        reply = Client(url, auth=("ana", "s3cret"), verbose=False).predict("百色？", api_name="/answer")
        assert reply["found"] is False and reply["question"] == "百色？"
    finally:
        running["server"].should_exit = True
        serving.join(timeout=30)
    assert status == [0]


@pytest.mark.slow
def test_the_load_benchmark_runs_clean_on_a_small_scale():
    """bench/load.py end to end (real model, live `aluqa serve`): 4 users x 6 questions, page and /v1 routes."""
    from bench.load import run

    routes = ("answer", "v1", "v1-answer")
    figures = run(users=4, questions=6, index=None, deadline_s=300, startup_timeout=600, routes=routes)
    for route in routes:
        measured = figures["routes"][route]
        assert measured["errors"] == 0 and measured["answered"] == 24 and measured["identical_share"] == 1.0
    assert figures["routes_agree"] is True


def test_pathological_articles_are_refused_with_a_clear_message_and_nothing_is_added(tmp_path, stub_encoder):
    """A 3 MB line of Chinese without punctuation and 100,000 short lines: both under the byte
    limit, both over the sentence limit, so neither can hold the build lock for many minutes."""
    from embeddings.corpus.articles import add_articles
    from embeddings.corpus.build import build_index
    from embeddings.text.read import MAX_ARTICLE_SENTENCES
    from embeddings.text.split import MAX_SENTENCE_CHARS

    one_line = tmp_path / "one_line.txt"
    one_line.write_text("铝产业" * 333_333, encoding="utf-8")  # 3 MB
    many_lines = tmp_path / "many_lines.txt"
    many_lines.write_text("\n".join(f"第{i}行铝" for i in range(100_000)), encoding="utf-8")
    assert one_line.stat().st_size <= MAX_ARTICLE_BYTES and many_lines.stat().st_size <= MAX_ARTICLE_BYTES
    for path in (one_line, many_lines):
        with pytest.raises(CorpusError, match=f"over the limit of {MAX_ARTICLE_SENTENCES} per article"):
            read_article(path)
    # Under the limit it is still an article: runs without punctuation are cut at most
    # MAX_SENTENCE_CHARS apart (often sooner), so half the limit in full-length pieces fits.
    fits = tmp_path / "fits.txt"
    fits.write_text("铝" * (MAX_SENTENCE_CHARS * (MAX_ARTICLE_SENTENCES // 2)), encoding="utf-8")
    assert read_article(fits).text

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(SEEDS, corpus)
    build_index(corpus, index, encoder=stub_encoder)
    before = sorted(p.name for p in corpus.iterdir())
    report = add_articles([one_line, many_lines], corpus, index, encoder=stub_encoder)
    assert not report.added and len(report.refused) == 2
    assert all("split it into several files" in message for message in report.refused)
    assert sorted(p.name for p in corpus.iterdir()) == before


def test_one_page_upload_adds_a_bounded_number_of_sentences(tmp_path, stub_encoder):
    """The page's build holds the lock for a bounded time: an upload over MAX_UPLOAD_SENTENCES
    adds the files that fit and refuses the rest with a message naming the file."""
    from embeddings.corpus.articles import add_articles
    from embeddings.corpus.build import build_index
    from ui.articles import MAX_UPLOAD_SENTENCES, add_to_qa

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(SEEDS, corpus)
    build_index(corpus, index, encoder=stub_encoder)
    files, each = [], MAX_UPLOAD_SENTENCES * 3 // 8  # two fit, the third goes over
    for number in range(3):
        path = tmp_path / f"report{number}.txt"
        path.write_text("\n".join(f"第{number}号报告第{i}段:某市铝产业产值为{i}亿元。" for i in range(each)),
                        encoding="utf-8")
        files.append(path)
    report = add_articles(files, corpus, index, encoder=stub_encoder, max_new_sentences=MAX_UPLOAD_SENTENCES)
    assert [Path(p).name for p in report.added] == ["report0.txt", "report1.txt"]
    (refusal,) = report.refused
    assert refusal.startswith("report2.txt: not added") and "add it in another upload" in refusal
    assert not (corpus / "report2.txt").exists()
    import inspect

    assert inspect.signature(add_to_qa).parameters["max_new_sentences"].default == MAX_UPLOAD_SENTENCES
