"""Both runtimes of the access function, each run as one Lambda instance in its own process, for the contract suite.

A test starts an instance with the environment the stack would set (plus STS's local endpoint and the
tenants' native passwords, see ``access_host.py``), sends it events and reads back answers, the tokens it
signed, its connection counts and its log lines. The Node.js function runs from its package as synth
builds it (``loadtest/local/nodejs_package.py``); the Python one from ``lambda/``, as the other tests
import it.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from constructs_lib.function_contract import AccessRuntime
from loadtest.local.nodejs_package import node_environment
from tests.support.paths import ROOT

RUNTIMES: tuple[AccessRuntime, ...] = ("python", "nodejs")
HOSTS = {
    "python": ROOT / "tests" / "support" / "access_host.py",
    "nodejs": ROOT / "tests" / "support" / "access_host.cjs",
}
ANSWER_TIMEOUT_SECONDS = 60


@dataclass
class AccessInstance:
    """One instance of the function in a child process; ``call`` is one API request."""

    runtime: AccessRuntime
    process: subprocess.Popen
    answers: io.TextIOWrapper
    log_file: Path
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            line = self.answers.readline()
        if not line:
            raise RuntimeError(f"the {self.runtime} instance stopped:\n{self.log_file.read_text()[-3000:]}")
        return json.loads(line)

    def invoke(self, event: Any) -> dict[str, Any]:
        """What Lambda hands back: the response, or {"function_error": ...} when the handler raised."""
        return self._ask({"op": "invoke", "event": event})

    def call(self, event: Any) -> tuple[int, Any]:
        answer = self.invoke(event)
        assert "response" in answer, answer
        response = answer["response"]
        assert response["headers"]["Content-Type"] == "application/json"
        return response["statusCode"], json.loads(response["body"])

    def tokens(self) -> list[str]:
        return self._ask({"op": "tokens"})["tokens"]

    def stats(self) -> dict[str, int]:
        return self._ask({"op": "stats"})["stats"]

    def reset_stats(self) -> None:
        self._ask({"op": "reset_stats"})

    def server_names(self, hosts: list[str]) -> list[str]:
        return self._ask({"op": "server_names", "hosts": hosts})["names"]

    def bench(self, tenants: list[int]) -> list[float]:
        return self._ask({"op": "bench", "tenants": tenants})["samples_ms"]

    def logs(self) -> list[dict[str, Any]]:
        """The function's structured log lines so far."""
        lines = self.log_file.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def stop(self) -> None:
        if self.process.poll() is None:
            self._ask({"op": "close"})
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.answers.close()


def start_instance(
    runtime: AccessRuntime,
    environment: Mapping[str, str],
    passwords: Mapping[int, str],
    workdir: Path,
    staged_nodejs: Path | None = None,
) -> AccessInstance:
    """Start one instance with ``environment`` (the stack's variables, region, credentials, STS endpoint)."""
    workdir.mkdir(parents=True, exist_ok=True)
    password_file = workdir / "passwords.json"
    password_file.write_text(json.dumps({str(k): v for k, v in passwords.items()}))
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "ACCESS_TEST_PASSWORDS": str(password_file),
        "POWERTOOLS_TRACE_DISABLED": "1",
        **environment,
    }
    if runtime == "nodejs":
        if staged_nodejs is None:
            raise ValueError("the nodejs runtime runs from its staged package")
        env.update(ACCESS_FUNCTION_DIR=str(staged_nodejs), **node_environment(staged_nodejs))
        command = ["node", str(HOSTS["nodejs"])]
    else:
        command = [sys.executable, str(HOSTS["python"])]
    read_end, write_end = os.pipe()
    env["ACCESS_TEST_ANSWER_FD"] = str(write_end)
    log_file = workdir / f"{runtime}.log"
    with log_file.open("w") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            pass_fds=(write_end,),
            cwd=ROOT,
        )
    os.close(write_end)
    return AccessInstance(runtime, process, os.fdopen(read_end, "r"), log_file)


# ---- STS on moto's server, recording what each AssumeRole asked for -------------------------------------


@dataclass
class AssumeRoleCall:
    role_arn: str
    session_name: str
    policy: dict | None
    tags: list[dict[str, str]]
    access_key_id: str | None  # of the credentials moto answered with


def _assume_role_call(form: dict[str, list[str]], answer: bytes) -> AssumeRoleCall:
    tags, index = [], 1
    while f"Tags.member.{index}.Key" in form:
        tags.append({"Key": form[f"Tags.member.{index}.Key"][0], "Value": form[f"Tags.member.{index}.Value"][0]})
        index += 1
    key = re.search(rb"<AccessKeyId>([^<]+)</AccessKeyId>", answer)
    return AssumeRoleCall(
        role_arn=form["RoleArn"][0],
        session_name=form["RoleSessionName"][0],
        policy=json.loads(form["Policy"][0]) if "Policy" in form else None,
        tags=tags,
        access_key_id=key[1].decode() if key else None,
    )


class RecordingSts:
    """moto's server on 127.0.0.1 (every service, as ``moto_server`` serves them), noting AssumeRole calls."""

    def __init__(self) -> None:
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_request(self, *args, **kwargs) -> None:
                pass

        self.calls: list[AssumeRoleCall] = []
        moto = DomainDispatcherApplication(create_backend_app)

        def app(environ, start_response):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            answer = b"".join(moto(environ, start_response))
            form = parse_qs(body.decode(errors="replace"))
            if form.get("Action") == ["AssumeRole"]:
                self.calls.append(_assume_role_call(form, answer))
            return [answer]

        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
        self.endpoint = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def for_session(self, name: str) -> list[AssumeRoleCall]:
        return [call for call in self.calls if call.session_name == name]

    def signer_of(self, access_key_id: str) -> AssumeRoleCall:
        [call] = [call for call in self.calls if call.access_key_id == access_key_id]
        return call

    def stop(self) -> None:
        self._server.shutdown()
