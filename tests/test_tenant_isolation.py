"""`make isolation-check`: cross-tenant access tried through the function's code path, denials printed.

Locally on MariaDB, as the README says; with isolation broken on purpose (a stray grant), the check
must say so and fail. The AWS mode is the same check inside the deployed function, invoked directly;
here its plumbing is checked with a stand-in Lambda client (nothing reaches AWS).
"""

from __future__ import annotations

import io
import json

import boto3
import isolation_check
from access_handler import build_tenant_data, iam_passwords
from moto import mock_aws
from seeding import PasswordInSecretUser, TenantSeeder

from constructs_lib.function_contract import ConnectionPolicy
from constructs_lib.tenancy import Tenant, all_tenants
from loadtest import tenant_isolation
from loadtest.local.deployment import local_access_config
from loadtest.local.mariadb import MASTER_PASSWORD, MASTER_USER
from loadtest.local.standins import MemorySecretStore, NativePasswordAfterIamToken


def test_the_local_check_prints_the_servers_own_denials(mariadb_installed, capsys):
    assert tenant_isolation.main(["local", "--tenant", "1", "--other", "2"]) == 0
    printed = capsys.readouterr().out
    assert "Access denied for user 'user1'@'%' to database 'user_database2'" in printed
    assert "Access denied for user 'user2'@" in printed  # tenant 1's secret offered for user 2's login
    assert "SELECT command denied to user 'user1'@" in printed
    assert "WRONG" not in printed and printed.rstrip().endswith("isolated")


def test_a_stray_grant_is_reported_and_fails_the_check(mariadb_factory, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    server = mariadb_factory()
    store = MemorySecretStore()
    TenantSeeder(
        lambda: server.connect(MASTER_USER, MASTER_PASSWORD),
        PasswordInSecretUser(store, "isolation", server.host, server.port),
    ).seed(all_tenants(3))
    with server.connect() as admin, admin.cursor() as cursor:
        cursor.execute("GRANT SELECT ON `user_database2`.* TO 'user1'@'%'")  # the mistake the check must catch
    config = local_access_config(server, 3, ConnectionPolicy(), name="isolation", resource_id="prx-local")
    with mock_aws():
        tokens = iam_passwords(config, "us-east-1", boto3.client("sts", region_name="us-east-1"))
        data = build_tenant_data(config, NativePasswordAfterIamToken(tokens, store, "isolation"))
        report = isolation_check.run(Tenant(1), Tenant(2), config.target_of, data.passwords, data.connect)
    assert report["isolated"] is False
    wrong = [a["kind"] for a in report["attempts"] if a["outcome"] != a["expected"]]
    assert wrong == ["tenant 1's user on tenant 2's database", "tenant 1's user reading tenant 2's table by name"]
    assert tenant_isolation.print_report(report, "test") is False


class StandInLambda:
    def __init__(self, answer):
        self.answer, self.calls = answer, []

    def invoke(self, **call):
        self.calls.append(call)
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(self.answer).encode())}


def test_on_aws_the_deployed_function_is_invoked_directly_with_the_check(tmp_path):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"no_proxy_access_function_name": {"value": "t-no-proxy-access"}}))
    answer = {"tenant": 100, "other": 101, "isolated": True, "attempts": []}
    client = StandInLambda(answer)
    assert tenant_isolation.on_aws(100, 101, "no_proxy", outputs, None, client) == answer
    [call] = client.calls
    assert call["FunctionName"] == "t-no-proxy-access"
    assert json.loads(call["Payload"]) == {isolation_check.EVENT_KEY: {"tenant": 100, "other": 101}}
    assert isolation_check.requested(json.loads(call["Payload"])) is not None  # the function takes it as the check
