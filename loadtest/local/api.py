"""A local stand-in for API Gateway: turns HTTP requests into REST API proxy events for the access function.

Routes ``GET /proxy_stage/`` and ``GET /no_proxy_stage/`` to each stage's function (a
``FunctionPool``: Lambda's instances, each with its own configuration and warm state) and answers
what the function answers. Like the API's request validator it refuses a request without
``tenant`` itself.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Mapping
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


class LocalApi:
    def __init__(self, stages: Mapping[str, Function], host: str = "127.0.0.1", port: int = 0) -> None:
        self.stages = dict(stages)
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
                response = stage.invoke(event)
                self._send(response["statusCode"], response["body"], response.get("headers", {}))

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
