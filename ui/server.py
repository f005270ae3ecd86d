"""`aluqa serve`: the chat page, its `/answer` API and the OpenAI-compatible `/v1` routes on one port.

One FastAPI app holds them all: the `/v1` routes (`ui.openai_api`) and the
Gradio page mounted at `/`, so chat clients and browsers reach the same
answerer. Failed logins and wrong API keys are slowed down per client
(`ui.throttle`); uploads are bounded by the server, not only by the page.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path

import gradio as gr
import uvicorn
from fastapi import FastAPI

from embeddings.text.read import MAX_ARTICLE_BYTES
from embeddings.store.manifest import IndexLoadError
from qa.api import QA
from qa.settings import Settings
from ui.app import CSS, I18N, build_demo
from ui.chat import Asker
from ui.openai_api import openai_router
from ui.throttle import FailedAttempts, LoginThrottle


def build_app(qa: Asker, auth: tuple[str, str] | None = None, api_key: str | None = None,
              attempts: FailedAttempts | None = None) -> FastAPI:
    """The server's app: `/v1` beside the page, the login throttled, uploads bounded.

    Args:
        qa: the answerer (a loaded `QA`, or anything with its `ask`).
        auth: the page's (user, password) login, or None.
        api_key: the key `/v1` requests must send as a Bearer token, or None.
        attempts: the failed-login counter (tests pass one with their own clock).
    """
    attempts = attempts or FailedAttempts()
    app = FastAPI(title="AluQA", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(openai_router(qa, api_key=api_key, login_required=auth is not None, attempts=attempts))
    app.add_middleware(LoginThrottle, attempts=attempts)
    demo = build_demo(qa)
    # A few questions at once: answering is short and the model is shared.
    demo.queue(default_concurrency_limit=4)
    # The page's upload limit, enforced by the server too: a bigger upload is refused
    # while it streams in, before it is written to Gradio's temporary folder.
    return gr.mount_gradio_app(app, demo, path="/", auth=auth, show_error=False, max_file_size=MAX_ARTICLE_BYTES,
                               ssr_mode=False, css=CSS, i18n=I18N)


def _is_loopback(host: str) -> bool:
    """True when only this machine can reach `host`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on host:port (OSError when the port is taken or the host unknown)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    infos = socket.getaddrinfo(host, port, family if host not in ("localhost",) else 0, socket.SOCK_STREAM)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def run_app(app: FastAPI, sock: socket.socket) -> None:
    """Serve `app` on the listening socket until Ctrl+C (or SIGTERM)."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5))
    server.run(sockets=[sock])


def serve(index_dir: Path | str | None = None, host: str = "127.0.0.1", port: int = 7860,
          qa: Asker | None = None, auth: tuple[str, str] | None = None, store: str | None = None,
          api_key: str | None = None) -> int:
    """Load the index, then serve the page and the chat endpoint until stopped (Ctrl+C).

    The server listens on loopback unless `host` says otherwise, and then a
    warning is printed; a Gradio share link is never made.

    Args:
        index_dir: the index folder (default: the index of `seeds/`, built if needed).
        host: address to listen on; anything but loopback exposes the page to the network.
        port: port to listen on.
        qa: an answerer to use instead of `QA(index_dir)`.
        store: "local" or "milvus:URI" (default: `ALUQA_STORE`, else local).
        auth: (user, password) that the page and its API then ask for (Gradio's login).
        api_key: the Bearer key the `/v1` chat endpoint then asks for.

    Returns:
        0 once stopped, 3 when the index cannot be loaded, 1 when the port is taken,
        2 when `auth` is not a (user, password) pair of non-empty strings or the key is empty.
    """
    if auth is not None and not (isinstance(auth, tuple) and len(auth) == 2
                                 and all(isinstance(part, str) and part for part in auth)):
        print("aluqa serve: the login must be a non-empty user and password", file=sys.stderr)
        return 2
    if api_key is not None and not (isinstance(api_key, str) and api_key.strip()):
        print("aluqa serve: the API key must not be empty", file=sys.stderr)
        return 2
    # The server reloads the index when `aluqa add`, `remove` or `build` replaced it.
    qa = qa if qa is not None else QA(index_dir, settings=Settings().with_(store=store), watch_index=True)
    try:
        # Load before listening: the first question is fast, and a bad index is
        # reported here rather than as an error on the page.
        if hasattr(qa, "warm_up"):
            qa.warm_up()
    except IndexLoadError as error:
        print(f"aluqa serve: {error}", file=sys.stderr)
        return 3
    if not _is_loopback(host):
        if auth or api_key:
            login = ("it asks for " + " and ".join(
                part for part, on in (("the --auth login", auth), ("the --api-key key", api_key)) if on)
                + ", which travel unencrypted over plain HTTP")
        else:
            login = "it has no login: add --auth-file FILE and --api-key-file FILE to ask for them"
        print(f"aluqa serve: warning: listening on {host}, so the page is reachable from the network "
              f"({login}); use --host 127.0.0.1 to keep it local.", file=sys.stderr)
    app = build_app(qa, auth=auth, api_key=api_key.strip() if api_key else None)
    try:
        sock = listen(host, port)
    except OSError as error:
        print(f"aluqa serve: cannot listen on {host}:{port}: {error}", file=sys.stderr)
        return 1
    print(f"aluqa serve: the page on http://{host}:{port}/, the chat endpoint on http://{host}:{port}/v1 "
          f"(model 'aluqa'); Ctrl+C stops", file=sys.stderr)
    with sock:
        run_app(app, sock)
    return 0
