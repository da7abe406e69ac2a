"""Runs the Python access function as one Lambda instance for the contract suite (the twin of access_host.cjs).

Events arrive as JSON lines on stdin; each answer goes back as one JSON line on the pipe
``ACCESS_TEST_ANSWER_FD`` names, so the function's
own log lines keep stdout to themselves. The one seam is the login secret: MariaDB cannot check IAM
tokens, so the real token path runs (AssumeRole on the STS endpoint the environment names, a token
signed with the tenant's session) and the tenant's native password is what logs in.

    ACCESS_TEST_PASSWORDS=<json file> python tests/support/access_host.py
"""

from __future__ import annotations

import functools
import json
import os
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "lambda"), str(ROOT)]

import access_handler  # noqa: E402
from tenant_access import sts_client  # noqa: E402
from tenant_data import ConnectionStats  # noqa: E402

from constructs_lib.endpoints import tls_server_name  # noqa: E402
from constructs_lib.function_contract import AccessConfig  # noqa: E402
from tests.support.lambda_context import FakeLambdaContext  # noqa: E402


def resolve_to_loopback(suffixes: list[str]) -> None:
    """The VPC's DNS, standing in: names under these suffixes reach the local server."""
    real = socket.create_connection

    def connect(address, *args, **kwargs):
        host, port = address
        return real(("127.0.0.1" if host.endswith(tuple(suffixes)) else host, port), *args, **kwargs)

    socket.create_connection = connect


class NativePasswordAfterToken:
    """The real token path (kept or not, as the function's policy says), then the tenant's native password."""

    def __init__(self, tokens, native: dict[str, str]) -> None:
        self.tokens, self.native, self.signed = tokens, native, []

    def password(self, tenant, target):
        self.signed.append(self.tokens.password(tenant, target))
        return self.native[str(tenant.id)]

    def password_as(self, session, session_target, user, user_target):
        self.signed.append(self.tokens.password_as(session, session_target, user, user_target))
        return self.native[str(session.id)]


def main() -> None:
    suffixes = [s for s in os.environ.get("ACCESS_TEST_LOOPBACK_SUFFIXES", "").split(",") if s]
    if suffixes:
        resolve_to_loopback(suffixes)
    native = json.loads(Path(os.environ["ACCESS_TEST_PASSWORDS"]).read_text())
    region = os.environ["AWS_REGION"]

    @functools.cache
    def tenant_data():
        """Built at the first event, as the handler builds its own (a bad environment fails that invocation)."""
        config = AccessConfig.from_environment(os.environ)
        tokens = access_handler.iam_passwords(config, region, sts_client(region))
        return access_handler.build_tenant_data(config, NativePasswordAfterToken(tokens, native))

    access_handler.tenant_data = tenant_data
    context = FakeLambdaContext()
    answers = os.fdopen(int(os.environ["ACCESS_TEST_ANSWER_FD"]), "w", buffering=1)

    def perform(request: dict) -> dict:
        op = request["op"]
        if op == "invoke":
            try:
                return {"response": access_handler.handler(request["event"], context)}
            except Exception as error:  # what Lambda reports as a function error
                return {"function_error": {"type": type(error).__name__, "message": str(error)}}
        if op == "tokens":
            return {"tokens": tenant_data().passwords.signed}
        if op == "stats":
            data = tenant_data()
            return {"stats": {**vars(data.stats), "open_connections": data.open_connections}}
        if op == "server_names":
            return {"names": [tls_server_name(host) for host in request["hosts"]]}
        if op == "bench":
            samples = []
            for tenant in request["tenants"]:
                event = {"queryStringParameters": {"tenant": str(tenant)}, "requestContext": {"requestId": "bench"}}
                started = time.perf_counter()
                status = access_handler.handler(event, context)["statusCode"]
                samples.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    raise RuntimeError(f"bench request for {tenant} answered {status}")
            return {"samples_ms": samples}
        if op == "reset_stats":
            tenant_data().stats = ConnectionStats()
            return {}
        if op == "close":
            if tenant_data.cache_info().currsize:
                tenant_data().close()
            return {}
        raise ValueError(f"unknown op {op}")

    for line in sys.stdin:
        answers.write(json.dumps(perform(json.loads(line))) + "\n")


if __name__ == "__main__":
    main()
