"""Verdicts: kept from the page's like/dislike, exported in the seed QA format, run by `aluqa eval --qa`."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import SEEDS, StubEncoder
from qa.training.feedback import Verdict, append_verdict, export_seed_qa, feedback_path, read_verdicts
from ui.chat import answer_turn
from ui.verdicts import record_verdict

BAISE = "004_7ed03d3179984da0.txt"
SENTENCES = [(BAISE, "2022年,全市铝产业总产值1045亿元,占广西铝产业的80%以上;"),
             ("000_e9b847b5c34d142c.txt", "特別是魏橋創業集團三年關停5個熱電廠,停運42臺機組,總裝機容量155萬千瓦;")]


@pytest.fixture(autouse=True)
def _no_selector(monkeypatch):
    # The learned selector reads text with the real model; these tests run on the stub encoder.
    monkeypatch.setenv("ALUQA_SELECTOR", "off")


@pytest.fixture()
def index_copy(tmp_path, stub_index_dir):
    index = tmp_path / "index"
    shutil.copytree(stub_index_dir, index)
    return index


def _stub_qa(index):
    from qa import QA

    # Default settings, as `aluqa eval --qa` uses them, so the export's run can give the same answers.
    return QA(index, encoder=StubEncoder())


def test_a_like_and_a_dislike_land_in_the_file_beside_the_index(index_copy):
    qa = _stub_qa(index_copy)
    found, _ = answer_turn(qa, "2022年百色市铝产业总产值是多少？", None)
    missing, _ = answer_turn(qa, "火星上有多少座铝厂？", None)
    path = feedback_path(index_copy)
    assert path.parent == index_copy.parent and not path.exists()

    status, box = record_verdict(qa, path, [found, missing], 1, True, "  ", "zh-Hans")
    assert "评价已保存" in status and box == ""
    status, box = record_verdict(qa, path, [found, missing], 3, False, "应当说没有", "en")
    assert "saved" in status
    first, second = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert set(first) == {"question", "answer", "citation", "verdict", "comment", "time", "corpus_hash"}
    assert first["question"] == "2022年百色市铝产业总产值是多少？" and first["verdict"] == "right"
    assert first["answer"] == found.reply.sentence and first["citation"]["doc"] == BAISE
    assert first["corpus_hash"] == qa.index.manifest.corpus_hash and first["comment"] == ""
    assert second["verdict"] == "wrong" and second["answer"] is None and second["comment"] == "应当说没有"


def test_a_verdict_on_a_question_message_or_an_error_is_not_kept(index_copy, tmp_path):
    qa = _stub_qa(index_copy)
    error, _ = answer_turn(qa, "   ", None)
    path = tmp_path / "v.jsonl"
    for turns, index in (([error], 1), ([], 1), ([error], 7)):
        status, _ = record_verdict(qa, path, turns, index, True, "", "en")
        assert "no answer at that place" in status
    assert not path.exists()


def test_a_comment_is_kept_when_the_verdict_cannot_be_written(index_copy, tmp_path):
    qa = _stub_qa(index_copy)
    turn, _ = answer_turn(qa, "2022年百色市铝产业总产值是多少？", None)
    (tmp_path / "blocked").write_text("a file where a folder should be", encoding="utf-8")
    status, box = record_verdict(qa, tmp_path / "blocked" / "v.jsonl", [turn], 1, False, "我的意见", "en")
    assert "could not be saved" in status and box == "我的意见"


def test_export_turns_verdicts_into_seed_items():
    found = {"doc": BAISE, "title": "", "source": "", "date": "", "paragraph": 1, "start": 0, "end": 5}
    verdicts = [
        Verdict("2022年百色市铝产业总产值是多少？", SENTENCES[0][1], found, "right", corpus_hash="h"),
        Verdict("火星上有多少座铝厂？", None, None, "right", corpus_hash="h"),
        Verdict("魏桥关停了几个热电厂？", SENTENCES[0][1], found, "wrong", "关停5個熱電廠", corpus_hash="h"),
        Verdict("百色市有多少铝企业？", SENTENCES[0][1], found, "wrong", "不对", corpus_hash="h"),
        Verdict("广元呢？", SENTENCES[0][1], found, "wrong", "月球上有铝厂", corpus_hash="old"),
        Verdict("撤回的问题？", SENTENCES[0][1], found, "right"),
        Verdict("撤回的问题？", SENTENCES[0][1], found, "withdrawn"),
    ]
    export = export_seed_qa(verdicts, SENTENCES, corpus_hash="h")
    assert [(i["question"], i["doc"], i["must_contain"]) for i in export.items] == [
        ("2022年百色市铝产业总产值是多少？", BAISE, [SENTENCES[0][1]]),
        ("火星上有多少座铝厂？", None, []),
        ("魏桥关停了几个热电厂？", "000_e9b847b5c34d142c.txt", ["关停5個熱電廠"]),
    ]
    assert [i["id"] for i in export.items] == ["feedback001", "feedback002", "feedback003"]
    assert export.skipped == ("百色市有多少铝企业？: marked wrong without the right sentence in the comment",
                              "广元呢？: marked wrong, and the comment is found in no article of the corpus "
                              "(given on another corpus)")


def test_the_last_verdict_on_a_question_counts():
    verdicts = [Verdict("火星上有多少座铝厂？", None, None, "right"), Verdict("火星上有多少座铝厂？", None, None, "wrong")]
    assert export_seed_qa(verdicts, SENTENCES).items == ()


def test_a_damaged_verdict_file_names_the_line(tmp_path):
    path = tmp_path / "v.jsonl"
    append_verdict(path, Verdict("q", None, None, "right"))
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"question": "q", "verdict": "maybe"}\n')
    with pytest.raises(ValueError, match="line 2: not a verdict"):
        read_verdicts(path)


def test_feedback_export_then_eval_runs_on_it(index_copy, tmp_path, monkeypatch, capsys):
    from ui.cli import main

    qa = _stub_qa(index_copy)
    turns = []
    for question in ("2022年百色市铝产业总产值是多少？", "魏桥创业集团三年关停热电厂，停运了多少台机组？", "火星上有多少座铝厂？"):
        turn, _ = answer_turn(qa, question, None)
        turns.append(turn)
    for position in range(len(turns)):
        record_verdict(qa, feedback_path(index_copy), turns, 2 * position + 1, True, "", "en")

    out_file = tmp_path / "feedback_qa.jsonl"
    assert main(["feedback", "export", str(out_file), "--index", str(index_copy)]) == 0
    assert f"wrote 3 questions from 3 verdicts" in capsys.readouterr().out
    items = [json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()]
    assert [item["doc"] for item in items] == [BAISE, "000_e9b847b5c34d142c.txt", None]

    # `aluqa eval` loads the index's model by name; here that name is the stub's.
    monkeypatch.setattr("embeddings.model.encoder.load_encoder", lambda *args, **kwargs: StubEncoder())
    assert main(["eval", "--qa", str(out_file), "--index", str(index_copy), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    # The same pipeline gives the same answers it was told were right.
    assert (figures["answerable_right"], figures["answerable"]) == (2, 2)
    assert (figures["unanswerable_refused"], figures["unanswerable"]) == (1, 1)


def test_feedback_export_without_verdicts_says_where_they_would_be(index_copy, tmp_path, capsys):
    from ui.cli import main

    assert main(["feedback", "export", str(tmp_path / "out.jsonl"), "--index", str(index_copy)]) == 2
    assert f"no verdicts yet at {feedback_path(index_copy)}" in capsys.readouterr().err
