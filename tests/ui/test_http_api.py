"""The `/answer` endpoint as README's "HTTP API" shows it: gradio_client, and curl's two REST requests."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request

import pytest

from conftest import free_port

from ui import app

QUESTION = "2022年百色市铝产业总产值是多少？"



@pytest.fixture(scope="module")
def base_url(real_qa):
    demo = app.build_demo(real_qa).queue(default_concurrency_limit=4)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, show_error=False)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        demo.close()


def _post(url: str, body: dict) -> str:
    """POST JSON the way README's curl command does (curl when present, else urllib)."""
    payload = json.dumps(body, ensure_ascii=False)
    if shutil.which("curl"):
        return subprocess.run(["curl", "-s", "-X", "POST", url, "-H", "Content-Type: application/json",
                               "-d", payload], capture_output=True, text=True, timeout=120, check=True).stdout
    request = urllib.request.Request(url, data=payload.encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.read().decode("utf-8")


def _get(url: str) -> str:
    if shutil.which("curl"):
        return subprocess.run(["curl", "-sN", url], capture_output=True, text=True, timeout=120, check=True).stdout
    with urllib.request.urlopen(url, timeout=120) as response:
        return response.read().decode("utf-8")


def _ask_json(qa, question: str) -> dict:
    """What `aluqa ask --json` prints for the question, read back."""
    return json.loads(json.dumps(qa.ask(question).to_dict(), ensure_ascii=False))


def _completed_data(stream: str):
    """The JSON of the `data:` line after `event: complete` in a server-sent-events stream."""
    lines = stream.splitlines()
    at = lines.index("event: complete")
    assert lines[at + 1].startswith("data: ")
    return json.loads(lines[at + 1][len("data: "):])


@pytest.mark.slow
def test_rest_call_in_two_requests_gives_the_ask_json(base_url, real_qa):
    started = json.loads(_post(f"{base_url}/gradio_api/call/answer", {"data": [QUESTION]}))
    stream = _get(f"{base_url}/gradio_api/call/answer/{started['event_id']}")
    (data,) = _completed_data(stream)
    assert data == _ask_json(real_qa, QUESTION)
    assert data["found"] is True and "1045亿元" in data["sentence"]


@pytest.mark.slow
def test_rest_call_with_an_empty_question_gives_the_error_json(base_url):
    started = json.loads(_post(f"{base_url}/gradio_api/call/answer", {"data": ["   "]}))
    (data,) = _completed_data(_get(f"{base_url}/gradio_api/call/answer/{started['event_id']}"))
    assert data["found"] is False and "empty" in data["error"]


@pytest.mark.slow
def test_gradio_client_gives_the_ask_json(base_url, real_qa):
    from gradio_client import Client

    client = Client(f"{base_url}/", verbose=False)
    assert client.predict(QUESTION, api_name="/answer") == _ask_json(real_qa, QUESTION)
    # Stateless: a follow-up is answered as it stands, without the previous question's place.
    follow_up = client.predict("那电解铝占全国多少？", api_name="/answer")
    assert follow_up["question"] == "那电解铝占全国多少？"


@pytest.mark.slow
def test_answer_within_limits_the_articles_searched(base_url, real_qa):
    from gradio_client import Client

    client = Client(base_url, verbose=False)
    within = client.predict(QUESTION, "2023", "", "", api_name="/answer_within")
    assert within == json.loads(json.dumps(real_qa.ask(QUESTION, since="2023").to_dict(), ensure_ascii=False))
    assert "within the filter (since 2023)" in within["note"]
    refused = client.predict(QUESTION, "2022-13", "", "", api_name="/answer_within")
    assert refused["found"] is False and "no month 13" in refused["error"]
