"""The `aluqa` command as a user runs it (a fresh process each time)."""

import json
import subprocess
import sys

import pytest

from conftest import ROOT, SEEDS


def run(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "qa", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def test_empty_question_exits_with_a_message():
    result = run("ask", "   ")
    assert result.returncode == 2
    assert "empty" in result.stderr and "Traceback" not in result.stderr


def test_missing_index_exits_with_the_fix(tmp_path):
    result = run("ask", "百色铝产业总产值？", "--index", str(tmp_path / "none"))
    assert result.returncode == 3
    assert "aluqa build --index" in result.stderr and "Traceback" not in result.stderr


def test_build_of_a_missing_corpus_says_so(tmp_path):
    result = run("build", "--corpus", str(tmp_path / "none"), "--index", str(tmp_path / "index"))
    assert result.returncode == 2
    assert str(tmp_path / "none") in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_ask_json_returns_the_cited_sentence(real_qa):
    result = run("ask", "--json", "2022年百色市铝产业总产值是多少？")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["found"] is True
    assert "1045亿元" in data["sentence"]
    assert data["citation"]["doc"] == "004_7ed03d3179984da0.txt"


@pytest.mark.slow
def test_ask_prints_sentence_without_pinyin(real_qa):
    result = run("ask", "魏桥创业集团三年关停热电厂，停运了多少台机组？")
    assert result.returncode == 0, result.stderr
    first_line = result.stdout.splitlines()[0]
    assert "42臺機組" in first_line and "(" not in first_line
    assert "000_e9b847b5c34d142c.txt" in result.stdout


@pytest.mark.slow
def test_build_summarises_and_the_new_index_answers(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "004.txt").write_bytes((SEEDS / "004_7ed03d3179984da0.txt").read_bytes())
    (corpus / "broken.txt").write_bytes(b"\x00\x01binary")
    index = tmp_path / "index"
    result = run("build", "--corpus", str(corpus), "--index", str(index))
    assert result.returncode == 0, result.stderr
    assert "1 documents" in result.stdout and "sentences" in result.stdout
    assert "broken.txt" in result.stderr, "a skipped file is named"
    asked = run("ask", "--json", "--index", str(index), "2022年百色市铝产业总产值是多少？")
    assert json.loads(asked.stdout)["citation"]["doc"] == "004.txt"


@pytest.mark.slow
def test_ask_with_a_date_and_source_filter(real_qa):
    result = run("ask", "--json", "--since", "2023", "2022年百色市铝产业总产值是多少？")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data == json.loads(json.dumps(real_qa.ask("2022年百色市铝产业总产值是多少？", since="2023").to_dict(),
                                         ensure_ascii=False))
    assert "left out by the date filter" in data["note"]
    outside = run("ask", "--source", "滨州日报", "--until", "2021", "2022年百色市铝产业总产值是多少？")
    assert outside.returncode == 0 and "the filter may be why" in outside.stdout
    bad = run("ask", "--since", "2022-13", "百色铝产业总产值？")
    assert bad.returncode == 2 and "no month 13" in bad.stderr and "Traceback" not in bad.stderr
