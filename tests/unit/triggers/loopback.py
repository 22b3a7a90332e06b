"""A real HTTP server on loopback that answers like Airflow's REST API, for the triggers' tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

from tests.loopback import JsonHandler


class LoopbackApi:
    """``POST /auth/token`` answers ``token_status`` (a token when 200); a GET answers ``answer(path, query)``,
    a (status, body) pair. Every GET's query is kept in ``queries``, its path in ``paths``."""

    def __init__(self, answer: Callable[[str, str], tuple[int, Any]], *, token_status: int = 200):
        self.answer = answer
        self.token_status = token_status
        self.queries: list[str] = []
        self.paths: list[str] = []
        outer = self

        class Handler(JsonHandler):

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_json(outer.token_status, {"access_token": "t"} if outer.token_status == 200 else {})

            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                outer.paths.append(url.path)
                outer.queries.append(url.query)
                self.send_json(*outer.answer(url.path, url.query))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
