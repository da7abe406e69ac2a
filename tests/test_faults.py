"""Faults during a run: the database goes away and comes back; STS throttles or fails; credentials expire.

On a real MariaDB over TLS, with STS behind a local stand-in that throttles or fails on demand (in
front of moto's server, on 127.0.0.1) so that botocore's own retries run as they would on AWS.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import access_handler
import pytest
from moto.server import ThreadedMotoServer
from seeding import PasswordInSecretUser, TenantSeeder
from tenant_access import (
    CREDENTIAL_REFRESH_MARGIN_SECONDS,
    STS_CONFIG,
    TOKEN_REUSE_SECONDS,
    IamAuthTokens,
    TenantCredentialSource,
    sts_client,
)

from constructs_lib.function_contract import ConnectionPolicy
from constructs_lib.tenancy import Tenant, all_tenants
from loadtest.local.deployment import local_access_config
from loadtest.local.processes import free_port
from loadtest.local.standins import MemorySecretStore, NativePasswordAfterAssumeRole

TENANTS = 4
FUNCTION_TIMEOUT_SECONDS = 10


def event(tenant: int) -> dict:
    return {"queryStringParameters": {"tenant": str(tenant)}, "requestContext": {"requestId": "fault"}}


class StsStandIn:
    """An STS endpoint on 127.0.0.1 that answers with a fault while ``fault`` is set, and forwards to moto."""

    FAULTS = {
        "throttling": (400, "Sender", "Throttling", "Rate exceeded"),
        "internal": (500, "Receiver", "InternalFailure", "Internal failure"),
    }

    def __init__(self, moto_url: str) -> None:
        self.fault: str | None = None
        self.faults_left: int | None = None  # fault this many calls, then recover (None: until told)
        self.calls = 0
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (the http.server API)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stand_in.calls += 1
                if stand_in.fault:
                    status, kind, code, message = stand_in.FAULTS[stand_in.fault]
                    if stand_in.faults_left is not None:
                        stand_in.faults_left -= 1
                        if stand_in.faults_left == 0:
                            stand_in.fault = None
                    payload = (
                        f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message>"
                        "</Error><RequestId>r</RequestId></ErrorResponse>"
                    ).encode()
                else:
                    forwarded = urllib.request.Request(moto_url + self.path, data=body, headers=dict(self.headers))
                    with urllib.request.urlopen(forwarded, timeout=5) as answer:
                        status, payload = answer.status, answer.read()
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(scope="module")
def world(mariadb_factory):
    server = mariadb_factory()
    store = MemorySecretStore()
    identity = PasswordInSecretUser(store, "faults", server.host, server.port)
    assert not TenantSeeder(lambda: server.connect(), identity).seed(all_tenants(TENANTS)).failed
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    moto.start()
    sts = StsStandIn(f"http://127.0.0.1:{moto._port}")
    yield server, store, sts
    sts.server.shutdown()
    moto.stop()


@pytest.fixture
def instance(world, monkeypatch):
    """One warm access function instance, configured as the stack configures it."""
    server, store, sts = world
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }.items():
        monkeypatch.setenv(key, value)
    config = local_access_config(
        server, TENANTS, ConnectionPolicy(max_kept=TENANTS), name="faults", resource_id="prx-faults"
    )
    credentials = TenantCredentialSource(sts_client("us-east-1", endpoint_url=sts.url))
    data = access_handler.build_tenant_data(config, NativePasswordAfterAssumeRole(credentials, store, "faults"))

    def call(tenant: int) -> tuple[int, dict]:
        answer = access_handler.answer(event(tenant), data, TENANTS)
        return answer["statusCode"], json.loads(answer["body"])

    call.data, call.sts = data, sts
    yield call
    sts.fault = None
    for tenant in all_tenants(TENANTS):
        data.forget(tenant)


def test_the_database_going_away_is_a_fast_503_and_it_serves_again_once_back(instance, world):
    server = world[0]
    assert instance(1)[0] == 200 and instance(3)[0] == 200
    kept = instance.data._connections.get(3)  # tenant 3 makes no request while the database is down
    server.stop()
    try:
        started = time.monotonic()
        answers = [instance(tenant) for tenant in (1, 2, 1)]
        assert answers == [(503, {"error": "database_unavailable"})] * 3  # no hang, no other 5xx
        assert time.monotonic() - started < FUNCTION_TIMEOUT_SECONDS
    finally:
        server.resume()
    back = time.monotonic()
    assert instance(3)[0] == 200  # its kept connection died with the server: replaced, not reused dead
    assert instance.data._connections.get(3) is not kept
    assert instance(1)[0] == 200 and instance(2)[0] == 200
    assert time.monotonic() - back < 3


def test_sts_throttling_is_retried_with_backoff_and_then_served(instance):
    instance.sts.fault, instance.sts.faults_left, instance.sts.calls = "throttling", 2, 0
    assert instance(3)[0] == 200
    assert instance.sts.calls == 3  # two throttled attempts, then the one that worked


@pytest.mark.parametrize("fault", ["throttling", "internal"])
def test_sts_failing_throughout_is_a_bounded_502_and_recovery_follows(instance, fault):
    instance.sts.fault, instance.sts.faults_left, instance.sts.calls = fault, None, 0
    started = time.monotonic()
    assert instance(0) == (502, {"error": "credentials_unavailable"})
    assert instance.sts.calls == STS_CONFIG.retries["total_max_attempts"] == 3  # bounded: no more attempts
    assert time.monotonic() - started < FUNCTION_TIMEOUT_SECONDS
    instance.sts.fault = None
    assert instance(0)[0] == 200


class FakeClockSts:
    """STS that issues one-hour credentials by the test's clock (moto's follow the real one)."""

    def __init__(self, clock, expiry: dict[str, float]) -> None:
        self.clock, self.calls, self.expiry = clock, 0, expiry

    def assume_role(self, **request):
        self.calls += 1
        expires = datetime.datetime.fromtimestamp(self.clock() + request["DurationSeconds"], datetime.UTC)
        key = f"ASIA{self.calls:016d}"
        self.expiry[key] = expires.timestamp()
        return {"Credentials": {"AccessKeyId": key, "SecretAccessKey": "s", "SessionToken": "t", "Expiration": expires}}


def test_credentials_and_tokens_expiring_during_a_run_are_renewed_without_a_failed_request(world):
    """Three hours of requests, a minute apart, every new connection with a fresh enough token."""
    server, store, _ = world
    now = [time.time()]
    clock = lambda: now[0]  # noqa: E731
    expiry: dict[str, float] = {}
    sts = FakeClockSts(clock, expiry)
    tokens = IamAuthTokens("us-east-1", TenantCredentialSource(sts, clock=clock), clock=clock)
    signings = []  # (fake time, access key) of every token signed
    create_client = tokens._botocore.create_client
    tokens._botocore.create_client = lambda *a, **kw: (
        signings.append((now[0], kw["aws_access_key_id"])) or (create_client(*a, **kw))
    )

    class TokenThenNativePassword:
        """The real token path (credentials, signing, reuse) before the login MariaDB can check."""

        def password(self, tenant, target):
            tokens.password(tenant, target)
            return store.values[tenant.secret_name("faults")]["password"]

    config = local_access_config(server, TENANTS, ConnectionPolicy(max_kept=1), name="faults", resource_id="prx-faults")
    data = access_handler.build_tenant_data(config, TokenThenNativePassword())
    minutes = 180
    for minute in range(minutes):
        data.forget(Tenant(1))  # a new connection every minute: each needs a usable token
        answer = access_handler.answer(event(1), data, TENANTS)
        assert answer["statusCode"] == 200, (minute, answer)
        signed_at, key = signings[-1]
        assert now[0] - signed_at < TOKEN_REUSE_SECONDS  # the token in use is fresh (they live 15 minutes)
        assert now[0] < expiry[key] - CREDENTIAL_REFRESH_MARGIN_SECONDS  # signed by credentials still valid
        now[0] += 60
    data.forget(Tenant(1))
    assert sts.calls == -(-minutes * 60 // (3600 - CREDENTIAL_REFRESH_MARGIN_SECONDS))  # not more often
    assert len(signings) <= minutes * 60 // TOKEN_REUSE_SECONDS + sts.calls  # nor tokens
