"""Tests for embeddings.text.read: reading files, refusing broken ones, loading a folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from embeddings.text import read as corpus_mod
from embeddings.text.read import CorpusError, load_corpus, read_article

SEEDS = Path(__file__).resolve().parents[3] / "seeds"
TEXT = "鋁產業發展很快。今年產能達到100萬噸。\n"


def test_read_seed():
    path = sorted(SEEDS.glob("*.txt"))[1]
    article = read_article(path)
    assert article.doc == path.name and article.date == "2022-08-14"


def test_load_seeds():
    articles = load_corpus(SEEDS)
    assert [a.doc[:3] for a in articles] == ["000", "001", "002", "003", "004"]


def test_utf8_bom(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbf" + TEXT.encode("utf-8"))
    assert read_article(path).text == TEXT.strip()


def test_gb18030_decoded(tmp_path):
    path = tmp_path / "gb.txt"
    path.write_bytes("滨州铝产业发展很快。产能达到100万吨。".encode("gb18030"))
    assert read_article(path).text == "滨州铝产业发展很快。产能达到100万吨。"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "empty"),
        (b"  \n\t\r\n", "empty"),
        ("\u3000\n".encode("utf-8"), "whitespace"),
        (b"abc\x00def", "binary"),
        (b"\xff\xfea\x00b\x00", "binary"),
        (b"\x80\x80\x80\xff", "UTF-8 or GB18030"),
        ("22.jpg\n暂无评论\n|\n".encode("utf-8"), "no article text"),
    ],
)
def test_refused_files(tmp_path, data, why):
    path = tmp_path / "bad.txt"
    path.write_bytes(data)
    with pytest.raises(CorpusError, match=why) as info:
        read_article(path)
    assert "bad.txt" in str(info.value)


def test_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_mod, "MAX_ARTICLE_BYTES", 10)
    path = tmp_path / "big.txt"
    path.write_text(TEXT, encoding="utf-8")
    with pytest.raises(CorpusError, match="big.txt.*limit"):
        read_article(path)


def test_missing_and_empty_folder(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")
    with pytest.raises(CorpusError, match=r"holds no article \(\*.txt, \*.md, \*.html"):
        load_corpus(tmp_path)
    (tmp_path / "notes.csv").write_text("a,b", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"holds no article \(\*.txt, \*.md, \*.html"):
        load_corpus(tmp_path)
    with pytest.raises(CorpusError, match="not a folder"):
        load_corpus(tmp_path / "notes.csv")


def test_duplicates_kept_once_and_order(tmp_path):
    (tmp_path / "b.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "a.md").write_text(TEXT, encoding="utf-8")
    (tmp_path / "c.txt").write_text("另一篇文章。", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_bytes(b"\x00\x01")
    (tmp_path / "skip.csv").write_text("x", encoding="utf-8")
    articles = load_corpus(tmp_path)
    assert [a.doc for a in articles] == ["a.md", "c.txt"]


def test_broken_file_with_and_without_on_error(tmp_path):
    (tmp_path / "a.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "b.txt").write_bytes(b"")
    (tmp_path / "c.txt").write_text("第三篇。", encoding="utf-8")
    with pytest.raises(CorpusError, match="b.txt"):
        load_corpus(tmp_path)
    errors: list[CorpusError] = []
    articles = load_corpus(tmp_path, on_error=errors.append)
    assert [a.doc for a in articles] == ["a.txt", "c.txt"]
    assert len(errors) == 1 and "b.txt" in str(errors[0])


def test_all_files_broken(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"")
    errors: list[CorpusError] = []
    with pytest.raises(CorpusError, match="none of its 1 files"):
        load_corpus(tmp_path, on_error=errors.append)
    assert len(errors) == 1
