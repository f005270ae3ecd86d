"""Tests of the chat page: reply formatting with a fake QA, and a live server with the real one."""

from __future__ import annotations

import socket

import gradio as gr
import pytest

from conftest import free_port
from embeddings.store.manifest import IndexMissingError
from qa.api import QuestionError
from qa.types import Answer, Citation, PassageHit, Note
from ui import app, server
from ui.render import CLOSEST, NOT_FOUND, emphasise_figures, render_reply

SENTENCE = "2022年，百色市铝产业总产值达到1045亿元，同比增长50.1%。"
PASSAGE = "百色市是中国重要的铝产业基地。" + SENTENCE + "预计2017-2025年新增42臺电解槽。"
DOC = "004_7ed03d3179984da0.txt"


def _found(question: str) -> Answer:
    start = 100 + PASSAGE.index(SENTENCE)
    citation = Citation(doc=DOC, title="百色铝产业<b>报告</b>", source="广西日报", date="2023-02-01",
                        paragraph=3, start=start, end=start + len(SENTENCE))
    passages = (PassageHit(doc=DOC, text=PASSAGE, score=0.91234, paragraph=3, start=100, end=100 + len(PASSAGE)),
                PassageHit(doc="001_x.txt", text="别的段落 <i>不含</i> 答案。", score=0.5, paragraph=1))
    return Answer(question=question, found=True, sentence=SENTENCE, probability=0.87, citation=citation,
                  passages=passages)


def _not_found(question: str) -> Answer:
    passages = (PassageHit(doc="002_y.txt", text="火星<script>alert(1)</script>探测。", score=0.21, paragraph=2),)
    return Answer(question=question, found=False, sentence=None, probability=0.1, citation=None, passages=passages,
                  notes=(Note("cut", "the question was cut to its first 500 characters", (("count", 500),)),))


class FakeQA:
    """Answers by keyword, like the real `QA` in shape only."""

    def __init__(self):
        self.warmed = False

    def warm_up(self) -> None:
        self.warmed = True

    def ask(self, question: str) -> Answer:
        if not question.strip():
            raise QuestionError("the question is empty: type a question")
        if "index" in question:
            raise IndexMissingError("no index at /x; rebuild it with: aluqa build --index /x")
        if "boom" in question:
            raise RuntimeError("internal detail")
        if "百色" in question:
            return _found(question)
        return _not_found(question)


def _reply(question: str) -> str:
    _, history, _ = app.chat(FakeQA(), question, [])
    return history[-1]["content"]


def test_build_demo_builds_without_launching():
    demo = app.build_demo(FakeQA())
    assert isinstance(demo, gr.Blocks)
    assert not demo.is_running
    names = {fn.api_name for fn in demo.fns.values()}
    assert {"answer", "chat"} <= names


def test_examples_ask_in_one_click_and_clear_empties_the_chat():
    demo = app.build_demo(FakeQA())
    labels = [c["props"].get("value") for c in demo.config["components"] if c["type"] == "button"]
    # Example questions are shown as written; the other buttons carry catalogue keys for gr.I18n.
    assert set(app.EXAMPLES) <= set(labels) and any('"key": "clear"' in str(label) for label in labels)
    example_fns = [fn for fn in demo.fns.values() if fn.inputs and isinstance(fn.inputs[0], gr.Button)]
    assert sorted(fn.inputs[0].value for fn in example_fns) == sorted(app.EXAMPLES)
    box, history, state, turns = example_fns[0].fn(example_fns[0].inputs[0].value, [], None, [], "en")
    assert box == "" and history[0]["content"] == f"<p>{example_fns[0].inputs[0].value}</p>"
    assert state is not None and state.question == example_fns[0].inputs[0].value
    assert [turn.typed for turn in turns] == [example_fns[0].inputs[0].value]
    clear = next(fn for fn in demo.fns.values() if not fn.inputs and len(fn.outputs) == 5)
    assert clear.fn() == ("", [], None, [], "")  # the follow-up state and the turns are forgotten too


def test_found_reply_shows_sentence_figures_citation_and_sources():
    reply = _reply("2022年百色市铝产业总产值是多少？")
    assert "<strong>1045亿元</strong>" in reply
    assert "<strong>50.1%</strong>" in reply
    assert "广西日报 · 2023-02-01 · ¶3 · <code>004_7ed03d3179984da0.txt</code>" in reply
    assert "百色铝产业&lt;b&gt;报告&lt;/b&gt;" in reply
    assert "<details><summary>Sources — 2 passages</summary>" in reply
    assert f"<mark>{SENTENCE}</mark>" in reply
    assert "score 0.912" in reply and "¶1" in reply
    assert "&lt;i&gt;不含&lt;/i&gt;" in reply and "<i>" not in reply


@pytest.mark.parametrize("text, figures", [
    ("总产值1045亿元", ["1045亿元"]),
    ("关停了42臺机组", ["42臺"]),
    ("同比增长50.1%", ["50.1%"]),
    ("2017-2025年规划", ["2017-2025年"]),
    ("三年关停六個熱電廠", ["三年", "六個"]),
    ("output rose 12.5 percent to 3.5 million tonnes", ["12.5 percent", "3.5 million tonnes"]),
])
def test_figures_are_emphasised(text, figures):
    html = emphasise_figures(text)
    for figure in figures:
        assert f"<strong>{figure}</strong>" in html


@pytest.mark.parametrize("sentence, question, bold, plain", [
    ("2022年,全市铝产业总产值1045亿元;", "2022年百色市铝产业总产值是多少？", ["1045亿元"], ["2022年"]),
    ("电解铝172.43万吨,约占全国的5.24%;", "那电解铝占全国多少？", ["5.24%"], ["172.43万吨"]),
    ("產值85.6億元,同比增長31.2%", "廣元市铝产业产值是多少亿元？", ["85.6億元"], ["31.2%"]),
])
def test_only_the_asked_for_figure_is_emphasised(sentence, question, bold, plain):
    html = emphasise_figures(sentence, question)
    assert all(f"<strong>{figure}</strong>" in html for figure in bold)
    assert not any(f"<strong>{figure}</strong>" in html for figure in plain)


def test_the_selectors_span_is_emphasised_instead_of_the_figure_rule():
    from ui.render import emphasise_answer

    sentence = "会议由市长<b>张三</b>主持,1000人参加。"
    span = {"text": "市长<b>张三</b>", "start": 3, "end": 14}
    html = emphasise_answer(sentence, "会议由谁主持？", span)
    assert "<strong>市长&lt;b&gt;张三&lt;/b&gt;</strong>" in html and "<strong>1000" not in html
    # No span (or one that does not fit the sentence): the asked-for figure rule, as before.
    assert emphasise_answer(sentence, "多少人参加？", None) == emphasise_figures(sentence, "多少人参加？")
    assert emphasise_answer(sentence, "多少人参加？", {"start": 5, "end": 99}) == emphasise_figures(sentence, "多少人参加？")


def test_user_and_corpus_html_is_escaped():
    question = "<script>alert('x')</script> 火星 *bold* $x$"
    _, history, _ = app.chat(FakeQA(), question, [])
    for message in history:
        assert "<script" not in message["content"]
    assert "&lt;script&gt;" in history[0]["content"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in history[1]["content"]
    assert "*" not in history[0]["content"] and "$" not in history[0]["content"]


def test_not_found_reply_says_so_and_shows_closest_material_and_note():
    reply = _reply("火星上有铝厂吗？")
    assert NOT_FOUND in reply
    assert f"<details><summary>{CLOSEST} — 1 passage</summary>" in reply
    assert "<code>002_y.txt</code> · ¶2 · score 0.210" in reply
    assert "<em>Note: the question was cut to its first 500 characters</em>" in reply
    assert "<mark>" not in reply


def test_question_error_is_the_reply():
    assert _reply("   ") == "<p>the question is empty: type a question</p>"
    assert app.respond(FakeQA(), "  ") == {"question": "  ", "found": False,
                                           "error": "the question is empty: type a question"}


def test_index_error_is_the_reply():
    assert "rebuild it with: aluqa build --index /x" in _reply("no index here")


def test_unexpected_error_gives_a_reply_without_details():
    reply = _reply("boom")
    assert "server log" in reply and "internal detail" not in reply


def test_chat_keeps_the_history():
    _, history, _ = app.chat(FakeQA(), "百色?", [{"role": "user", "content": "hi"},
                                                  {"role": "assistant", "content": "hello"}])
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]


def test_answer_endpoint_and_chat_share_one_code_path():
    data = app.respond(FakeQA(), "2022年百色市铝产业总产值是多少？")
    assert data == _found("2022年百色市铝产业总产值是多少？").to_dict()
    assert render_reply(data) == _reply("2022年百色市铝产业总产值是多少？")


def test_serve_reports_index_error_with_exit_code_3(capsys):
    class Broken(FakeQA):
        def warm_up(self):
            raise IndexMissingError("no index at /x; rebuild it with: aluqa build --index /x")

    assert server.serve(qa=Broken()) == 3
    assert "rebuild it with" in capsys.readouterr().err


def test_serve_warms_up_then_listens_locally(monkeypatch, capsys):
    calls = {}
    fake = FakeQA()

    def run_app(app, sock):
        calls.update(address=sock.getsockname(), warmed=fake.warmed, app=app)

    monkeypatch.setattr(server, "run_app", run_app)
    assert server.serve(qa=fake, port=0) == 0
    assert calls["warmed"] and calls["address"][0] == "127.0.0.1"
    from fastapi.testclient import TestClient

    with TestClient(calls["app"]) as client:  # the page and the chat endpoint on the same app
        assert client.get("/v1/models").json()["data"][0]["id"] == "aluqa"
        assert "AluQA" in client.get("/").text
    assert "reachable from the network" not in capsys.readouterr().err

    assert server.serve(host="0.0.0.0", port=0, qa=fake) == 0
    assert "reachable from the network" in capsys.readouterr().err


def test_real_qa_class_with_stub_encoder(stub_qa):
    # The real pipeline end to end (stub vectors): the reply renders and stays escaped.
    data = app.respond(stub_qa, "<script>alert(1)</script> 2022年百色市铝产业总产值是多少？")
    assert set(data) >= {"question", "found", "sentence", "citation", "passages", "note"}
    reply = render_reply(data)
    assert "<script" not in reply and reply
    assert app.respond(stub_qa, "？？？")["error"]


def test_serve_reports_a_taken_port(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert server.serve(port=port, qa=FakeQA()) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


# --- live server with the real pipeline -------------------------------------------------


@pytest.fixture(scope="module")
def live_client(real_qa):
    """The page served once per module with the real `QA()` (conftest), and a client for it."""
    from gradio_client import Client

    demo = app.build_demo(real_qa).queue(default_concurrency_limit=4)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, show_error=False)
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        demo.close()


@pytest.mark.slow
def test_live_answer_endpoint(live_client):
    data = live_client.predict("2022年百色市铝产业总产值是多少？", api_name="/answer")
    assert data["found"] is True
    assert "1045亿元" in data["sentence"]
    assert data["citation"]["doc"] == DOC


@pytest.mark.slow
def test_live_chat_endpoint(live_client):
    box, history = live_client.predict("2022年百色市铝产业总产值是多少？", [], api_name="/chat")
    assert box == ""
    reply = str(history[-1]["content"])
    assert "1045亿元" in reply and DOC in reply


def test_the_pages_filter_reaches_the_question(stub_qa):
    from ui.chat import answer_turn

    turn, _ = answer_turn(stub_qa, "2022年百色市铝产业总产值是多少？", None, since="2030", until="", source="")
    assert turn.reply.found is False and "the filter may be why" in turn.reply.note
    turn, _ = answer_turn(stub_qa, "2022年百色市铝产业总产值是多少？", None, since="", until="", source="")
    assert turn.reply.found is True and "filter" not in turn.reply.note
