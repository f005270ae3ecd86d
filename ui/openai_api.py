"""The `/v1` routes of `aluqa serve`: the OpenAI-compatible chat endpoint (`POST /v1/chat/completions`,
`GET /v1/models`) and `POST /v1/answer`, the answer's JSON in one request.

Chat clients that speak the OpenAI chat protocol (Open WebUI, Cherry Studio,
LibreChat, Chatbox, the `openai` SDK) use AluQA as the model `aluqa`. The
protocol is stateless: each request carries the conversation, and a follow-up
is resolved from the earlier user messages exactly as `qa.Conversation` does.

The assistant message is Markdown (the sentence with the answer in bold, then
the citation line); the answer's JSON, the object `aluqa ask --json` prints,
is in the response's extra field `aluqa` (in the last chunk when streaming).
A request may carry the extra field `aluqa`: {"since", "until", "source"}, the
date and source filter of `QA.ask` (the `openai` SDK sends it as `extra_body`).
`POST /v1/answer` takes {"question", "history" (earlier user questions, oldest
first; optional), "since", "until", "source"} and returns the object `aluqa ask
--json` prints: one request, where the page's Gradio API takes two over plain
HTTP, and no Gradio session kept per call. Errors of both come in the chat
protocol's error format: 400 for a question that cannot be
asked or a malformed request, 401 for a missing or wrong key, 404 for another
model, 413 for a request over `MAX_REQUEST_BYTES`, 429 after repeated wrong
keys, 503 when the index cannot be loaded.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from embeddings.store.manifest import IndexLoadError
from qa.api import QuestionError
from qa.conversation import ask_with_history
from qa.types import Answer
from ui.render import reply_language, reply_markdown
from ui.throttle import FailedAttempts, client_of, too_many_attempts

logger = logging.getLogger(__name__)

MODEL = "aluqa"
# A conversation of questions and cited sentences is a few kilobytes; this bounds
# what one request can make the server read and resolve.
MAX_REQUEST_BYTES = 256 * 1024
# The earlier user questions a follow-up is resolved from (the most recent ones).
HISTORY_QUESTIONS = 32
_CREATED = int(time.time())


class ProtocolError(Exception):
    """A request the endpoint answers with an error object (status, message, OpenAI error type and code)."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, retry_after_s: float | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.param = status, message, kind, code, param
        self.retry_after_s = retry_after_s


def error_response(error: ProtocolError) -> JSONResponse:
    body = {"error": {"message": error.message, "type": error.kind, "param": error.param, "code": error.code}}
    if error.retry_after_s is not None:
        return too_many_attempts(error.retry_after_s, body)
    return JSONResponse(body, status_code=error.status)


def _text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content
                        if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str))
    raise ProtocolError(400, "a message's content must be a string or a list of content parts", param="messages")


def parse_chat_request(body: Any) -> tuple[str, list[str], bool, dict[str, str]]:
    """The question (the last message, from the user), the earlier user questions, whether to stream,
    and the date and source filter of the extra field `aluqa` ({"since", "until", "source"})."""
    if not isinstance(body, dict):
        raise ProtocolError(400, "the request body must be a JSON object")
    model = body.get("model", MODEL)
    if model != MODEL:
        raise ProtocolError(404, f"the model {str(model)[:80]!r} does not exist: this server offers {MODEL!r}",
                            code="model_not_found", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ProtocolError(400, "'messages' must be a non-empty list of {role, content} objects", param="messages")
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        raise ProtocolError(400, "each message must be an object with a 'role'", param="messages")
    if messages[-1]["role"] != "user":
        raise ProtocolError(400, "the last message must be the user's question", param="messages")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ProtocolError(400, "'stream' must be true or false", param="stream")
    questions = [_text_of(m.get("content")) for m in messages if m["role"] == "user"]
    extra = body.get("aluqa") or {}
    if not isinstance(extra, dict) or not all(isinstance(extra.get(k, ""), str) for k in ("since", "until", "source")):
        raise ProtocolError(400, "'aluqa' must be an object of strings: since, until, source", param="aluqa")
    scope = {key: extra[key] for key in ("since", "until", "source") if extra.get(key)}
    return questions[-1], questions[:-1][-HISTORY_QUESTIONS:], stream, scope


def parse_answer_request(body: Any) -> tuple[str, list[str], dict[str, str]]:
    """The question, the earlier user questions and the date and source filter of a `/v1/answer` body."""
    if not isinstance(body, dict):
        raise ProtocolError(400, "the request body must be a JSON object")
    question = body.get("question")
    if not isinstance(question, str):
        raise ProtocolError(400, "'question' must be a string", param="question")
    history = body.get("history", [])
    if not isinstance(history, list) or not all(isinstance(q, str) for q in history):
        raise ProtocolError(400, "'history' must be a list of the earlier questions (strings)", param="history")
    if not all(isinstance(body.get(k, ""), str) for k in ("since", "until", "source")):
        raise ProtocolError(400, "'since', 'until' and 'source' must be strings")
    unknown = sorted(set(body) - {"question", "history", "since", "until", "source"})
    if unknown:
        raise ProtocolError(400, f"unknown field {unknown[0][:40]!r}: expected question, history, since, until, source",
                            param=unknown[0][:40])
    scope = {key: body[key] for key in ("since", "until", "source") if body.get(key)}
    return question, history[-HISTORY_QUESTIONS:], scope


def completion(answer: Answer, completion_id: str) -> dict[str, Any]:
    """The `chat.completion` object for an answer."""
    data = answer.to_dict()
    content = reply_markdown(data, reply_language(answer.typed or answer.question))
    return {"id": completion_id, "object": "chat.completion", "created": int(time.time()), "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop", "logprobs": None}],
            "aluqa": data}


def completion_chunks(answer: Answer, completion_id: str) -> list[dict[str, Any]]:
    """The same completion as `chat.completion.chunk` objects: the role, the content, then the end with `aluqa`."""
    whole = completion(answer, completion_id)
    base = {"id": completion_id, "object": "chat.completion.chunk", "created": whole["created"], "model": MODEL}
    content = whole["choices"][0]["message"]["content"]

    def chunk(delta: dict, finish: str | None = None, **extra) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}

    # One chunk per block (answer, citation): clients show the sentence before the citation arrives.
    blocks = content.split("\n\n")
    pieces = [block + ("\n\n" if i < len(blocks) - 1 else "") for i, block in enumerate(blocks)]
    return [chunk({"role": "assistant", "content": ""}), *(chunk({"content": piece}) for piece in pieces),
            chunk({}, "stop", aluqa=whole["aluqa"])]


async def _read_body(request: Request) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise ProtocolError(413, f"the request is over {MAX_REQUEST_BYTES // 1024} KB: send fewer or shorter messages",
                            code="request_too_large")
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > MAX_REQUEST_BYTES:
            raise ProtocolError(413, f"the request is over {MAX_REQUEST_BYTES // 1024} KB: send fewer or shorter "
                                     "messages", code="request_too_large")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ProtocolError(400, f"the request body is not valid JSON: {error}") from None


def openai_router(qa, api_key: str | None = None, login_required: bool = False,
                  attempts: FailedAttempts | None = None) -> APIRouter:
    """The `/v1` routes answering through `qa` (anything with `ask(str) -> Answer`).

    Args:
        qa: the question answerer the page uses too.
        api_key: when set, every `/v1` request needs `Authorization: Bearer <api_key>`.
        login_required: the page asks for a login; without an `api_key` the `/v1`
            routes then refuse every request rather than be the open door beside it.
        attempts: where wrong keys are counted per client (shared with the page's login).
    """
    attempts = attempts or FailedAttempts()
    router = APIRouter(prefix="/v1")

    def check_key(request: Request) -> None:
        if api_key is None:
            if login_required:
                raise ProtocolError(401, "this server asks for a login: start it with --api-key (or ALUQA_API_KEY) "
                                         "to use the chat endpoint", code="invalid_api_key")
            return
        client = client_of(request.scope)
        wait = attempts.wait_s(client)
        if wait > 0:
            raise ProtocolError(429, f"too many wrong API keys: try again in {math.ceil(wait)} s",
                                kind="rate_limit_error", code="too_many_failed_keys", retry_after_s=wait)
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            attempts.failed(client)
            raise ProtocolError(401, "an API key is needed: send 'Authorization: Bearer KEY'", code="invalid_api_key")
        if not hmac.compare_digest(given.strip().encode("utf-8"), api_key.encode("utf-8")):
            attempts.failed(client)
            raise ProtocolError(401, "the API key is not the server's", code="invalid_api_key")
        attempts.succeeded(client)

    def answer(question: str, earlier: list[str], scope: dict[str, str], asked_in: str = "messages") -> Answer:
        try:
            return ask_with_history(qa, question, earlier, **scope)
        except QuestionError as error:
            raise ProtocolError(400, str(error), param=asked_in) from None
        except IndexLoadError as error:
            raise ProtocolError(503, str(error), kind="server_error", code="index_unavailable") from None

    @router.get("/models")
    def list_models(request: Request):
        try:
            check_key(request)
        except ProtocolError as error:
            return error_response(error)
        return {"object": "list", "data": [_model_card()]}

    @router.get("/models/{model}")
    def get_model(model: str, request: Request):
        try:
            check_key(request)
            if model != MODEL:
                raise ProtocolError(404, f"the model {model[:80]!r} does not exist: this server offers {MODEL!r}",
                                    code="model_not_found")
        except ProtocolError as error:
            return error_response(error)
        return _model_card()

    @router.post("/chat/completions")
    async def chat_completions(request: Request):
        try:
            check_key(request)
            question, earlier, stream, scope = parse_chat_request(await _read_body(request))
            # Answering is CPU work: a worker thread keeps the server's event loop free.
            reply = await run_in_threadpool(answer, question, earlier, scope)
        except ProtocolError as error:
            return error_response(error)
        except Exception:
            logger.exception("the chat endpoint failed")
            return error_response(ProtocolError(500, "the server could not answer (see its log)", kind="server_error"))
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        if not stream:
            return completion(reply, completion_id)

        def events():
            for chunk in completion_chunks(reply, completion_id):
                yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @router.post("/answer")
    async def answer_json(request: Request):
        try:
            check_key(request)
            question, earlier, scope = parse_answer_request(await _read_body(request))
            reply = await run_in_threadpool(answer, question, earlier, scope, "question")
        except ProtocolError as error:
            return error_response(error)
        except Exception:
            logger.exception("the answer endpoint failed")
            return error_response(ProtocolError(500, "the server could not answer (see its log)", kind="server_error"))
        return reply.to_dict()

    return router


def _model_card() -> dict[str, Any]:
    return {"id": MODEL, "object": "model", "created": _CREATED, "owned_by": "aluqa"}
