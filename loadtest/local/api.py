"""A local stand-in for API Gateway: turns HTTP requests into REST API proxy events for the access function.

Routes ``GET /proxy_stage/`` and ``GET /no_proxy_stage/`` to each stage's function (a
``FunctionPool``: Lambda's instances, each with its own configuration and warm state) and answers
what the function answers. Like the API's request validator it refuses a request without
``tenant`` itself.
"""

from __future__ import annotations

import contextlib
import csv
import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit


class Function(Protocol):
    """What a stage's Lambda integration calls: one event in, the function's answer out."""

    def invoke(self, event: Any) -> dict: ...


def proxy_event(stage: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str]) -> dict:
    """The REST API proxy event API Gateway would send for this request."""
    return {
        "resource": "/",
        "path": path,
        "httpMethod": "GET",
        "headers": dict(headers),
        "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
        "multiValueQueryStringParameters": dict(query) or None,
        "requestContext": {"stage": stage, "requestId": str(uuid.uuid4()), "httpMethod": "GET", "path": path},
        "isBase64Encoded": False,
    }


@dataclass(frozen=True)
class AccessRecord:
    """What API Gateway's access log would say about one request of a stage."""

    time: float  # epoch seconds, when the request arrived
    stage: str
    status: int
    latency_ms: float


class LocalApi:
    def __init__(self, stages: Mapping[str, Function], host: str = "127.0.0.1", port: int = 0) -> None:
        self.stages = dict(stages)
        self.access_log: list[AccessRecord] = []
        self._log_lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                url = urlsplit(self.path)
                stage_name = url.path.strip("/").split("/")[0]
                stage = api.stages.get(stage_name)
                if stage is None or url.path.rstrip("/") != f"/{stage_name}":
                    return self._send(403, {"message": "Missing Authentication Token"})
                query = parse_qs(url.query, keep_blank_values=True)
                if "tenant" not in query:
                    return self._send(400, {"message": "Missing required request parameters: [tenant]"})
                event = proxy_event(stage_name, url.path, query, self.headers)
                arrived, started = time.time(), time.perf_counter()
                response = stage.invoke(event)
                self._send(response["statusCode"], response["body"], response.get("headers", {}))
                record = AccessRecord(
                    arrived, stage_name, response["statusCode"], (time.perf_counter() - started) * 1000
                )
                with api._log_lock:
                    api.access_log.append(record)

            def _send(self, status: int, body: dict | str, headers: Mapping[str, str] = {}) -> None:
                payload = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in headers.items():
                    if name.lower() != "content-type":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client left: nobody to answer
                    self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass  # Locust reports every request; a line per request here would only be noise

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def write_access_log(self, path) -> None:
        with self._log_lock, open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["time", "stage", "status", "latency_ms"])
            writer.writerows((r.time, r.stage, r.status, round(r.latency_ms, 3)) for r in self.access_log)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LocalApi:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
