"""A replay of the real api.github.com: a real HTTP server on 127.0.0.1 that answers each
request with an exchange recorded from GitHub by other projects (`recordings.json`: each
record names its source repository, file and commit).

Status, headers and bodies go out as recorded, with two changes a replay needs: absolute
URLs naming `https://api.github.com` (`Location`, `Link`) name this server instead, and the
headers that described the recorded transfer (length, chunking, compression; the old
`Status` header repeating the status line) are left to the server. A record whose body was
not kept gets one only where a test says which, and says so. A request nobody scripted is a
404 saying "not recorded".
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import Response

RECORDINGS = Path(__file__).parent / "recordings.json"
GITHUB = "https://api.github.com"
# What described the recorded transfer, not the answer.
TRANSFER_HEADERS = {"content-length", "transfer-encoding", "content-encoding", "connection"}


@cache
def records() -> dict[str, dict[str, Any]]:
    recorded: dict[str, dict[str, Any]] = json.loads(RECORDINGS.read_text())["records"]
    return recorded


@dataclass
class Answer:
    record: str
    body: Any = None  # for a record whose body was not kept: what the test gives it


@dataclass
class Replay:
    """Answers by request path (with its query, or without): the next scripted answer for
    it; the last one stays for any further request."""

    script: dict[str, deque[Answer]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def answer(self, path: str, *answers: str | Answer) -> None:
        self.script[path] = deque(a if isinstance(a, Answer) else Answer(a) for a in answers)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        self.requests.append((target, dict(request.headers)))
        answers = self.script.get(target) or self.script.get(request.url.path)
        if not answers:
            response = Response(b'{"message": "Not Found (not recorded)"}', 404)
        else:
            response = self._replayed(answers[0] if len(answers) == 1 else answers.popleft())
        await response(scope, receive, send)

    def _replayed(self, answer: Answer) -> Response:
        record = records()[answer.record]
        body = record["body"] if record["body"] is not None else answer.body
        headers = [
            (name.lower(), value.replace(GITHUB, self.url))
            for name, value in record["headers"]
            if name.lower() not in TRANSFER_HEADERS and name.lower() != "status"
        ]
        content = b"" if body is None else json.dumps(body).encode()
        response = Response(content, record["status"])
        response.raw_headers = [(n.encode(), v.encode()) for n, v in headers]
        if content:
            response.raw_headers.append((b"content-length", str(len(content)).encode()))
        return response


class ReplayServer:
    def __init__(self) -> None:
        self.replay = Replay()
        config = uvicorn.Config(
            self.replay, host="127.0.0.1", port=0, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> Replay:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the replay server did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.replay.url = f"http://127.0.0.1:{port}"
        return self.replay

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
