"""`aluqa eval`: the SQuAD-style reader, its index, the metrics, and refusal figures for the seed format."""

import json
import subprocess
import sys

import pytest

from conftest import ROOT
from qa.training.evaluate import ItemResult, SeedQAReport
from qa.training.datasets import (
    MARKER_FILE,
    EvalError,
    Outcome,
    SquadQuestion,
    SquadReport,
    contains_answer,
    ensure_squad_index,
    evaluate_squad,
    first_right_rank,
    ranked_docs,
    read_squad,
    refusal_figures,
    write_jsonl,
)

TINY = {"version": "v1.0", "data": [
    {"id": "A", "title": "铝业", "paragraphs": [
        {"id": "A_1", "context": "百色市是广西的铝业基地。2022年百色市铝产业总产值达1045亿元。", "qas": [
            {"id": "q1", "question": "2022年百色市铝产业总产值是多少？",
             "answers": [{"text": "1045亿元", "answer_start": 29}, {"text": "1045亿元", "answer_start": 29}]},
            {"id": "q2", "question": "百色市是哪里的铝业基地？", "answers": [{"text": "广西", "answer_start": 4}]},
        ]},
        {"id": "A_2", "context": "魏桥创业集团三年内关停热电厂，停运了42臺機組。", "qas": [
            {"id": "q3", "question": "魏桥创业集团停运了多少台机组？", "answers": [{"text": "42台机组", "answer_start": 18}]},
        ]},
    ]},
    {"title": "茶叶", "paragraphs": [
        {"context": "凉茶是广东的传统饮料，由多种中草药熬制而成。", "qas": [
            {"id": "q4", "question": "凉茶由什么熬制而成？", "answers": [{"text": "多种中草药", "answer_start": 12}]},
        ]},
    ]},
]}


@pytest.fixture
def tiny_file(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY, ensure_ascii=False), encoding="utf-8")
    return path


def test_reader_makes_one_document_per_passage(tiny_file):
    squad = read_squad(tiny_file)
    assert squad.name == "tiny"
    assert [a.doc for a in squad.articles] == ["A#1", "A#2", "茶叶#1"]
    assert [a.title for a in squad.articles] == ["铝业", "铝业", "茶叶"]
    assert squad.articles[1].text == TINY["data"][0]["paragraphs"][1]["context"]
    assert len({a.content_hash for a in squad.articles}) == 3
    assert [(q.id, q.doc) for q in squad.questions] == [("q1", "A#1"), ("q2", "A#1"), ("q3", "A#2"), ("q4", "茶叶#1")]
    assert squad.questions[0].answers == ("1045亿元",)  # repeated spans kept once


def test_reader_refuses_a_file_of_another_shape(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"rows": []}', encoding="utf-8")
    with pytest.raises(EvalError, match="SQuAD"):
        read_squad(path)
    with pytest.raises(EvalError, match="cannot read"):
        read_squad(tmp_path / "absent.json")


def test_index_is_built_once_then_reused(tiny_file, tmp_path, stub_encoder):
    squad = read_squad(tiny_file)
    folder = tmp_path / "index"
    first = ensure_squad_index(squad, folder, stub_encoder)
    assert first.built and (folder / "manifest.json").is_file() and (folder / MARKER_FILE).is_file()
    assert not ensure_squad_index(squad, folder, stub_encoder).built


def test_a_foreign_folder_is_never_overwritten(tiny_file, tmp_path, stub_encoder):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(EvalError, match="another index"):
        ensure_squad_index(read_squad(tiny_file), folder, stub_encoder)
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_evaluate_on_the_tiny_file(tiny_file, tmp_path, stub_encoder):
    from qa import QA, Settings

    squad = read_squad(tiny_file)
    ready = ensure_squad_index(squad, tmp_path / "index", stub_encoder)
    qa = QA(ready.folder, settings=Settings(dense_band=(0.3, 0.7), selector="off"), encoder=stub_encoder)
    report = evaluate_squad(qa, squad.questions, progress=False)
    figures = report.figures()
    assert figures["questions"] == 4
    # The corpus has three documents: the gold one is always among the top five.
    assert figures["passage_recall_at_5"] == 1.0
    outcome = report.outcomes[0]
    assert outcome.found and "1045亿元" in outcome.sentence and outcome.right_rank == 1
    assert outcome.doc_rank == 1 and outcome.seconds > 0
    assert all(0.0 <= figures[key] <= 1.0 for key in figures if key.startswith(("sentence", "passage", "not")))


def test_answers_compare_across_scripts_and_widths():
    assert contains_answer("魏桥停运了42臺機組。", ["42台机组"])
    assert contains_answer("产值达１０４５亿元。", ["1045亿元"])
    assert not contains_answer("产值达1045亿元。", ["1046亿元"])
    assert not contains_answer(None, ["1045亿元"])
    assert first_right_rank(["甲。", "乙含广西。", "广西。"], ["广西"]) == 2
    assert first_right_rank(["甲。"], ["广西"]) is None
    assert ranked_docs(["b", "a", "b", "c", "a"]) == ("b", "a", "c")


def _outcome(answers, found, sentence, candidates, docs, doc="gold", seconds=0.01):
    return Outcome(SquadQuestion("q", "问题？", tuple(answers), doc), found, sentence, tuple(candidates),
                   tuple(docs), seconds)


def test_figures_on_hand_made_outcomes():
    report = SquadReport([
        # right at 1; gold passage first
        _outcome(["广西"], True, "在广西。", ["在广西。", "乙。", "丙。"], ["gold", "x"], seconds=0.010),
        # wrong sentence, right one third; gold doc third once docs are deduped (x, x, y, gold)
        _outcome(["广西"], True, "甲。", ["甲。", "乙。", "在广西。"], ["x", "x", "y", "gold"], seconds=0.020),
        # "not found" although the best candidate holds the answer: wrong @1, right @3
        _outcome(["广西"], False, None, ["在广西。", "乙。"], ["gold"], seconds=0.030),
        # right only at rank 4: wrong @3; gold doc sixth: missed @5
        _outcome(["广西"], True, "甲。", ["甲。", "乙。", "丙。", "在广西。"], ["a", "b", "c", "d", "e", "gold"],
                 seconds=0.040),
    ])
    figures = report.figures()
    assert figures["questions"] == 4
    assert figures["sentence_accuracy_at_1"] == 0.25
    assert figures["sentence_accuracy_at_3"] == 0.75
    assert figures["passage_recall_at_1"] == 0.5
    assert figures["passage_recall_at_5"] == 0.75
    assert figures["not_found_share"] == 0.25
    assert figures["latency_p50_ms"] == 25.0
    assert 38.0 <= figures["latency_p95_ms"] <= 40.0
    misses = report.misses()
    assert [m["right_rank"] for m in misses] == [3, 1, 4]
    assert [m["gold_doc_rank"] for m in misses] == [3, 1, 6]


def test_refusal_precision_and_recall():
    def item(answerable, found):
        return ItemResult("i", "q", "direct", answerable, found, False, None, None, None, ())

    report = SeedQAReport([item(True, True), item(True, False), item(False, False), item(False, False),
                           item(False, True)])
    figures = refusal_figures(report)
    assert (figures.refusals, figures.right_refusals, figures.unanswerable) == (3, 2, 3)
    assert figures.precision == round(2 / 3, 4) and figures.recall == round(2 / 3, 4)
    assert refusal_figures(SeedQAReport([item(True, True)])).precision is None


def test_errors_are_written_as_json_lines(tmp_path):
    path = tmp_path / "errors.jsonl"
    assert write_jsonl(path, [{"question": "百色？", "found": False}, {"right_rank": None}]) == 2
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert rows == [{"question": "百色？", "found": False}, {"right_rank": None}]


def test_eval_of_a_missing_file_exits_with_a_message(tmp_path):
    result = subprocess.run([sys.executable, "-m", "qa", "eval", "--squad", str(tmp_path / "none.json")],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2
    assert "cannot read" in result.stderr and "Traceback" not in result.stderr


def test_squad2_unanswerable_questions_are_read_and_scored_as_refusals(tmp_path):
    data = json.loads(json.dumps(TINY))
    data["data"][0]["paragraphs"][0]["qas"].append(
        {"id": "q5", "question": "2023年百色市铝产业总产值是多少？", "answers": [], "is_impossible": True})
    path = tmp_path / "squad2.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    squad = read_squad(path)
    impossible = [q for q in squad.questions if not q.answerable]
    assert [q.id for q in impossible] == ["q5"] and impossible[0].answers == ()
    answerable = squad.questions[0]
    outcomes = [
        Outcome(impossible[0], False, None, (), (), 0.01),  # refused: right
        Outcome(answerable, True, "2022年百色市铝产业总产值达1045亿元。", ("2022年百色市铝产业总产值达1045亿元。",), ("A#1",), 0.01),
        Outcome(squad.questions[1], False, None, (), ("A#1",), 0.01),  # answerable but refused
    ]
    figures = SquadReport(outcomes).figures()
    assert figures["sentence_accuracy_at_1"] == round(2 / 3, 4)
    assert figures["refusal_recall"] == 1.0 and figures["refusal_precision"] == 0.5
    assert figures["answerable_refused_share"] == 0.5 and figures["unanswerable_questions"] == 1
    assert figures["passage_recall_at_1"] == 1.0  # over answerable questions only


def test_span_figures_score_the_answer_text_against_the_gold_spans():
    from qa.training.datasets import Outcome, SquadQuestion, SquadReport

    question = SquadQuestion("q", "产值多少？", ("1045亿元",), "A#1")
    sentence = "2022年产值1045亿元。"
    exact = Outcome(question, True, sentence, (sentence,), ("A#1",), 0.01, "1045亿元", 0.9)
    partial = Outcome(question, True, sentence, (sentence,), ("A#1",), 0.01, "1045", 0.3)
    none = Outcome(question, True, sentence, (sentence,), ("A#1",), 0.01)
    figures = SquadReport([exact, partial, none], span_threshold=0.5).figures()
    assert figures["span_exact_match"] == round(1 / 3, 4)
    assert figures["span_f1"] == round((1 + 2 * (1.0 * 4 / 6) / (1.0 + 4 / 6)) / 3, 4)
    assert figures["span_shown_share"] == round(1 / 3, 4) and figures["span_exact_match_when_shown"] == 1.0
    assert "span_f1" not in SquadReport([none]).figures()  # no span head: no span figures
