"""Failed logins slowed down per client: the page's login form and the chat endpoint's API key.

Each client (by address) may fail `FREE_ATTEMPTS` times; after that it has to
wait before its next attempt, twice as long after each further failure (1 s,
2 s, 4 s ... at most a minute). A success forgets its failures. Guessing a
password or key then takes days instead of seconds, while a user who mistypes
a few times never notices.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from typing import Callable

from starlette.responses import JSONResponse

FREE_ATTEMPTS = 5
FIRST_DELAY_S = 1.0
MAX_DELAY_S = 60.0
# Clients remembered at most (the oldest are forgotten): many addresses cannot fill the memory.
MAX_CLIENTS = 10_000
LOGIN_PATHS = frozenset({"/login", "/login/"})


class FailedAttempts:
    """Failures per client, and how long each must wait before trying again.

    Args:
        clock: seconds, monotonic (tests pass their own).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()  # client -> (count, last failure)
        self._lock = threading.Lock()

    def wait_s(self, client: str) -> float:
        """Seconds `client` must still wait before its next attempt; 0 when it may try now."""
        with self._lock:
            count, last = self._failures.get(client, (0, 0.0))
        if count < FREE_ATTEMPTS:
            return 0.0
        delay = min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** (count - FREE_ATTEMPTS))
        return max(0.0, last + delay - self._clock())

    def failed(self, client: str) -> None:
        with self._lock:
            count, _ = self._failures.pop(client, (0, 0.0))
            self._failures[client] = (count + 1, self._clock())
            while len(self._failures) > MAX_CLIENTS:
                self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


def client_of(scope) -> str:
    """The client's address in an ASGI scope ("" when the server does not know it)."""
    client = scope.get("client")
    return client[0] if client else ""


def too_many_attempts(wait_s: float, body: dict) -> JSONResponse:
    """A 429 reply that says when to try again."""
    return JSONResponse(body, status_code=429, headers={"Retry-After": str(math.ceil(wait_s))})


class LoginThrottle:
    """ASGI middleware: the page's login (`POST /login`) refused with 429 while its client must wait.

    Every other request passes through untouched (no buffering of the page's streams).
    """

    def __init__(self, app, attempts: FailedAttempts):
        self.app = app
        self.attempts = attempts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in LOGIN_PATHS:
            await self.app(scope, receive, send)
            return
        client = client_of(scope)
        wait = self.attempts.wait_s(client)
        if wait > 0:
            response = too_many_attempts(wait, {"detail": f"too many failed logins: try again in {math.ceil(wait)} s"})
            await response(scope, receive, send)
            return
        status = {}

        async def send_noting_status(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self.app(scope, receive, send_noting_status)
        if status.get("code") == 200:
            self.attempts.succeeded(client)
        elif status.get("code") in (400, 401, 403):
            self.attempts.failed(client)
