"""The OpenAI-compatible `/v1` routes: the protocol's shapes and errors (fake answerer), and the real
`openai` SDK against a live `aluqa serve` (real model), non-streaming and streaming, with a follow-up."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from fastapi.testclient import TestClient

from conftest import ROOT, LiveServer, free_port
from test_app import SENTENCE, FakeQA
from ui.openai_api import MAX_REQUEST_BYTES, MODEL, completion_chunks
from ui.server import build_app
from ui.throttle import FREE_ATTEMPTS, FailedAttempts

KEY = "k-test-0123456789"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _client(api_key=None, auth=None, attempts=None) -> TestClient:
    return TestClient(build_app(FakeQA(), auth=auth, api_key=api_key, attempts=attempts))


def _chat(client: TestClient, messages, key=KEY, **extra):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post("/v1/chat/completions", json={"model": MODEL, "messages": messages, **extra}, headers=headers)


def test_models_lists_the_one_model():
    with _client() as client:
        listed = client.get("/v1/models").json()
        assert [m["id"] for m in listed["data"]] == ["aluqa"] and listed["object"] == "list"
        assert client.get("/v1/models/aluqa").json()["id"] == "aluqa"
        assert client.get("/v1/models/gpt-4").status_code == 404


def test_a_completion_has_the_answer_in_markdown_and_its_json():
    with _client() as client:
        reply = _chat(client, [{"role": "user", "content": "2022年百色市铝产业总产值是多少？"}], key=None)
    assert reply.status_code == 200
    body = reply.json()
    assert body["object"] == "chat.completion" and body["model"] == "aluqa"
    content = body["choices"][0]["message"]["content"]
    assert body["choices"][0]["finish_reason"] == "stop"
    assert "**1045亿元**" in content and "¶3" in content and "`004_7ed03d3179984da0.txt`" in content
    assert body["aluqa"]["sentence"] == SENTENCE and body["aluqa"]["found"] is True


def test_a_follow_up_is_resolved_from_the_earlier_user_messages():
    messages = [{"role": "system", "content": "be brief"},
                {"role": "user", "content": "2021年广元市铝产业总产值是多少？"},
                {"role": "assistant", "content": "…"},
                {"role": "user", "content": [{"type": "text", "text": "百色呢？"}]}]
    with _client() as client:
        data = _chat(client, messages, key=None).json()["aluqa"]
    assert data["question"] == "2021年百色市铝产业总产值是多少？" and data["typed"] == "百色呢？"


def test_streaming_gives_chunks_that_add_up_to_the_completion_then_done():
    with _client() as client:
        with client.stream("POST", "/v1/chat/completions",
                           json={"model": MODEL, "stream": True,
                                 "messages": [{"role": "user", "content": "2022年百色市铝产业总产值是多少？"}]}) as reply:
            assert reply.headers["content-type"].startswith("text/event-stream")
            lines = [line for line in reply.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[len("data: "):]) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert "**1045亿元**" in text and chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["aluqa"]["sentence"] == SENTENCE


def test_errors_come_in_the_protocols_format():
    with _client(api_key=KEY) as client:
        cases = [
            (_chat(client, [{"role": "user", "content": "   "}]), 400, "empty"),
            (_chat(client, [{"role": "user", "content": "the index please"}]), 503, "rebuild"),
            (_chat(client, []), 400, "messages"),
            (_chat(client, [{"role": "assistant", "content": "hi"}]), 400, "last message"),
            (_chat(client, [{"role": "user", "content": 5}]), 400, "content"),
            (_chat(client, [{"role": "user", "content": "x"}], stream="yes"), 400, "stream"),
            (client.post("/v1/chat/completions", content=b"{not json", headers={"Authorization": f"Bearer {KEY}"}),
             400, "JSON"),
            (client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]},
                         headers={"Authorization": f"Bearer {KEY}"}), 404, "does not exist"),
            (_chat(client, [{"role": "user", "content": "百色？"}], key="wrong"), 401, "not the server's"),
            (_chat(client, [{"role": "user", "content": "百色？"}], key=None), 401, "API key is needed"),
        ]
        for reply, status, words in cases:
            assert reply.status_code == status, (status, reply.text)
            error = reply.json()["error"]
            assert words in error["message"] and {"type", "code", "param"} <= set(error)


def test_the_answer_route_returns_the_answers_json_in_one_request():
    with _client() as client:
        reply = client.post("/v1/answer", json={"question": "2022年百色市铝产业总产值是多少？"})
        follow = client.post("/v1/answer", json={"question": "百色呢？", "history": ["2021年广元市铝产业总产值是多少？"]})
    assert reply.status_code == 200 and reply.json() == json.loads(
        json.dumps(FakeQA().ask("2022年百色市铝产业总产值是多少？").to_dict()))
    assert follow.json()["question"] == "2021年百色市铝产业总产值是多少？" and follow.json()["typed"] == "百色呢？"


def test_the_answer_routes_errors_come_in_the_same_format():
    with _client(api_key=KEY) as client:
        def post(body, key=KEY):
            return client.post("/v1/answer", json=body, headers={"Authorization": f"Bearer {key}"} if key else {})

        cases = [
            (post({"question": "   "}), 400, "empty", "question"),
            (post({"question": "the index please"}), 503, "rebuild", None),
            (post({"question": 5}), 400, "'question' must be a string", "question"),
            (post({"question": "百色？", "history": "广元"}), 400, "'history'", "history"),
            (post({"question": "百色？", "since": 2021}), 400, "'since'", None),
            (post({"question": "百色？", "questions": []}), 400, "unknown field 'questions'", "questions"),
            (post(["百色？"]), 400, "JSON object", None),
            (post({"question": "百色？"}, key=None), 401, "API key is needed", None),
        ]
        for reply, status, words, param in cases:
            assert reply.status_code == status, (status, reply.text)
            error = reply.json()["error"]
            assert words in error["message"] and error["param"] == param, error


def test_a_one_megabyte_message_list_is_refused_with_413():
    big = [{"role": "user", "content": "百色市铝产业" * 1000}] * 60  # about 1 MB of JSON
    assert len(json.dumps(big, ensure_ascii=False).encode()) > 1_000_000 > MAX_REQUEST_BYTES
    with _client() as client:
        reply = _chat(client, big, key=None)
        assert reply.status_code == 413 and "KB" in reply.json()["error"]["message"]
        # Without a Content-Length the body is read in pieces and refused all the same.
        pieces = (piece.encode() for piece in [json.dumps({"model": MODEL, "messages": big})])
        assert client.post("/v1/chat/completions", content=pieces).status_code == 413


def test_an_unexpected_failure_is_a_500_without_a_traceback():
    with _client() as client:
        reply = _chat(client, [{"role": "user", "content": "boom"}], key=None)
    assert reply.status_code == 500 and "internal detail" not in reply.text and "Traceback" not in reply.text


def test_without_a_key_a_server_with_a_page_login_keeps_v1_closed():
    with _client(auth=("ana", "s3cret")) as client:
        reply = _chat(client, [{"role": "user", "content": "百色？"}], key=None)
        assert reply.status_code == 401 and "--api-key" in reply.json()["error"]["message"]


def test_wrong_keys_are_slowed_down_per_client_and_a_right_key_resets():
    clock = Clock()
    attempts = FailedAttempts(clock)
    with _client(api_key=KEY, attempts=attempts) as client:
        for _ in range(FREE_ATTEMPTS):
            assert _chat(client, [{"role": "user", "content": "百色？"}], key="guess").status_code == 401
        locked = _chat(client, [{"role": "user", "content": "百色？"}], key=KEY)
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1  # even the right key waits
        clock.now += 1.5
        assert _chat(client, [{"role": "user", "content": "百色？"}], key=KEY).status_code == 200
        assert attempts.wait_s("testclient") == 0


def test_failed_page_logins_are_slowed_down_per_client():
    clock = Clock()
    attempts = FailedAttempts(clock)
    with _client(auth=("ana", "s3cret"), attempts=attempts) as client:
        codes = [client.post("/login", data={"username": "ana", "password": f"guess{i}"}).status_code
                 for i in range(FREE_ATTEMPTS + 3)]
        assert codes == [400] * FREE_ATTEMPTS + [429] * 3, codes
        assert client.post("/login", data={"username": "ana", "password": "s3cret"}).status_code == 429
        clock.now += 1.5
        assert client.post("/login", data={"username": "ana", "password": "s3cret"}).status_code == 200
        assert attempts.wait_s("testclient") == 0
    other = FailedAttempts(clock)
    for _ in range(FREE_ATTEMPTS + 4):
        other.failed("a")
    assert other.wait_s("a") == pytest.approx(16.0) and other.wait_s("b") == 0  # doubles per failure, per client


def test_chunks_are_the_same_answer_as_the_completion():
    answer = FakeQA().ask("2022年百色市铝产业总产值是多少？")
    chunks = completion_chunks(answer, "chatcmpl-x")
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["aluqa"] == answer.to_dict()


# --- the real openai SDK against a live `aluqa serve` ------------------------------------------

@pytest.fixture(scope="module")
def served(tmp_path_factory, real_qa):
    """`aluqa serve` in its own process with an API key from a file, as a user starts it."""
    key_file = tmp_path_factory.mktemp("key") / "key"
    key_file.write_text(KEY + "\n", encoding="utf-8")
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "qa", "serve", "--port", str(port), "--api-key-file",
                                str(key_file)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, "ALUQA_API_KEY": ""})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    try:
        while True:
            try:
                request = urllib.request.Request(f"{url}/v1/models", headers={"Authorization": f"Bearer {KEY}"})
                urllib.request.urlopen(request, timeout=5).read()
                break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"aluqa serve did not start: {process.stderr.read().decode()[-2000:]}")
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)


def _ask_json(real_qa, asked: str, typed: str) -> dict:
    """What `aluqa ask --json` prints for the resolved question, with the words the user typed."""
    data = json.loads(json.dumps(real_qa.ask(asked).to_dict(), ensure_ascii=False))
    data["typed"] = typed if typed != asked else ""
    return data


FIRST, FOLLOW_UP = "2022年百色市铝产业总产值是多少？", "广元呢？"


@pytest.mark.slow
def test_the_openai_sdk_holds_a_two_turn_conversation(served, real_qa):
    from openai import OpenAI

    client = OpenAI(base_url=f"{served}/v1", api_key=KEY, max_retries=0)
    assert [m.id for m in client.models.list().data] == ["aluqa"]
    messages = [{"role": "user", "content": FIRST}]
    first = client.chat.completions.create(model="aluqa", messages=messages)
    assert first.model_extra["aluqa"] == _ask_json(real_qa, FIRST, FIRST)
    assert "1045" in first.choices[0].message.content
    messages += [{"role": "assistant", "content": first.choices[0].message.content},
                 {"role": "user", "content": FOLLOW_UP}]
    second = client.chat.completions.create(model="aluqa", messages=messages)
    resolved = second.model_extra["aluqa"]["question"]
    assert resolved == "2022年广元市铝产业总产值是多少？"
    assert second.model_extra["aluqa"] == _ask_json(real_qa, resolved, FOLLOW_UP)

    stream = client.chat.completions.create(model="aluqa", messages=messages, stream=True)
    chunks = list(stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == second.choices[0].message.content
    assert chunks[-1].model_extra["aluqa"] == second.model_extra["aluqa"]


@pytest.mark.slow
def test_the_answer_route_over_curl_gives_the_ask_json(served, real_qa):
    """`POST /v1/answer` as README's curl line sends it: one request, the answer's JSON back."""
    def post(body: dict) -> dict:
        command = ["curl", "-s", "-X", "POST", f"{served}/v1/answer", "-H", f"Authorization: Bearer {KEY}",
                   "-H", "Content-Type: application/json", "-d", json.dumps(body, ensure_ascii=False)]
        if shutil.which("curl"):
            return json.loads(subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout)
        request = urllib.request.Request(command[4], data=command[-1].encode("utf-8"), method="POST",
                                         headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read().decode("utf-8"))

    assert post({"question": FIRST}) == _ask_json(real_qa, FIRST, FIRST)
    follow = post({"question": FOLLOW_UP, "history": [FIRST]})
    assert follow == _ask_json(real_qa, "2022年广元市铝产业总产值是多少？", FOLLOW_UP)


@pytest.mark.slow
def test_the_openai_sdk_sees_the_protocols_errors(served):
    import openai

    wrong = openai.OpenAI(base_url=f"{served}/v1", api_key="not-the-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="aluqa", messages=[{"role": "user", "content": FIRST}])
    client = openai.OpenAI(base_url=f"{served}/v1", api_key=KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="empty"):
        client.chat.completions.create(model="aluqa", messages=[{"role": "user", "content": " "}])
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": FIRST}])


def test_a_damaged_index_is_a_503_through_the_sdk(tmp_path):
    import openai

    from embeddings.store.manifest import IndexMissingError

    class Missing(FakeQA):
        def ask(self, question):
            raise IndexMissingError(f"no index at {tmp_path}; rebuild it with: aluqa build --index {tmp_path}")

    with LiveServer(build_app(Missing())) as server:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(model="aluqa", messages=[{"role": "user", "content": FIRST}])
    assert info.value.status_code == 503 and "rebuild it with" in str(info.value)


def test_conversation_page_and_v1_give_the_same_answers_on_the_dev_conversations(stub_qa):
    """One follow-up code path: the same turns give the same questions and answers through
    `qa.Conversation`, the page's chat turn and `/v1/chat/completions` (earlier user messages)."""
    from conftest import SHARED
    from qa import Conversation
    from ui.chat import answer_turn

    conversations = [json.loads(line) for line in
                     (SHARED / "eval" / "seed_conversations_dev.jsonl").read_text(encoding="utf-8").splitlines()
                     if line.strip()]
    assert len(conversations) == 20
    with TestClient(build_app(stub_qa)) as client:
        for conversation in conversations:
            talk, state, messages = Conversation(qa=stub_qa), None, []
            for turn in conversation["turns"]:
                by_api = json.loads(json.dumps(talk.ask(turn["question"]).to_dict(), ensure_ascii=False))
                page_turn, state = answer_turn(stub_qa, turn["question"], state)
                messages.append({"role": "user", "content": turn["question"]})
                by_v1 = _chat(client, messages, key=None).json()
                assert json.loads(json.dumps(page_turn.reply.to_dict(), ensure_ascii=False)) == by_api, conversation["id"]
                assert by_v1["aluqa"] == by_api, conversation["id"]
                messages.append({"role": "assistant", "content": by_v1["choices"][0]["message"]["content"]})


def test_the_extra_field_aluqa_carries_a_date_and_source_filter(stub_qa):
    with TestClient(build_app(stub_qa)) as client:
        question = [{"role": "user", "content": "2022年百色市铝产业总产值是多少？"}]
        within = _chat(client, question, key=None, aluqa={"since": "2030"}).json()["aluqa"]
        assert within == json.loads(json.dumps(stub_qa.ask(question[0]["content"], since="2030").to_dict(),
                                               ensure_ascii=False))
        assert "the filter may be why" in within["note"]
        bad = _chat(client, question, key=None, aluqa={"since": "2022-13"})
        assert bad.status_code == 400 and "no month 13" in bad.json()["error"]["message"]
        assert _chat(client, question, key=None, aluqa="2022").status_code == 400
