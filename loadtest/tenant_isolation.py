"""Try every kind of cross-tenant access through the access function's own code path, and print the denials.

    make isolation-check                                   (local: MariaDB on 127.0.0.1, moto's STS)
    make isolation-check ISOLATION_ARGS="aws --tenant 100 --other 101 [--side no_proxy] [--outputs FILE]"

Locally, the check runs on a throwaway MariaDB seeded by the project's seeding code; a token signed by
the wrong tenant is played by that tenant's own password (MariaDB cannot check IAM tokens). On AWS it
invokes the deployed access function directly (your credentials need lambda:InvokeFunction on it):
the function assumes tenant A's role, signs real IAM tokens and logs in to the real proxy or readers,
so the denials printed are IAM's and Aurora's own. Exit status 1 if any cross-tenant attempt was
allowed, or if the tenant could not reach its own data (the check would prove nothing).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "lambda")]

SIDES = ("proxy", "no_proxy")


def print_report(report: dict, where: str) -> bool:
    print(f"isolation check ({where}): tenant {report['tenant']} against tenant {report['other']}")
    for attempt in report["attempts"]:
        verdict = "ok" if attempt["outcome"] == attempt["expected"] else "WRONG"
        answer = f"{attempt['errno']} {attempt['message']}" if attempt["outcome"] == "denied" else "logged in"
        print(f"  [{verdict}] {attempt['kind']}: {attempt['outcome']} (expected {attempt['expected']}): {answer}")
    print("isolated" if report["isolated"] else "NOT ISOLATED (or not checkable): see the lines marked WRONG")
    return bool(report["isolated"])


def local(tenant: int, other: int) -> dict:
    import boto3
    import isolation_check
    from access_handler import build_tenant_data, iam_passwords
    from moto import mock_aws
    from seeding import PasswordInSecretUser, TenantSeeder

    from constructs_lib.function_contract import ConnectionPolicy
    from constructs_lib.tenancy import Tenant, all_tenants
    from loadtest.local.deployment import local_access_config
    from loadtest.local.mariadb import MASTER_PASSWORD, MASTER_USER, start_mariadb
    from loadtest.local.standins import MemorySecretStore, NativePasswordAfterIamToken

    count = max(tenant, other) + 1
    with tempfile.TemporaryDirectory(prefix="isolation-") as scratch, mock_aws():
        server = start_mariadb(Path(scratch))
        try:
            store = MemorySecretStore()
            identity = PasswordInSecretUser(store, "isolation", server.host, server.port)
            TenantSeeder(lambda: server.connect(MASTER_USER, MASTER_PASSWORD), identity).seed(all_tenants(count))
            config = local_access_config(server, count, ConnectionPolicy(), name="isolation", resource_id="prx-local")
            tokens = iam_passwords(config, "us-east-1", boto3.client("sts", region_name="us-east-1"))
            data = build_tenant_data(config, NativePasswordAfterIamToken(tokens, store, "isolation"))
            return isolation_check.run(Tenant(tenant), Tenant(other), config.target_of, data.passwords, data.connect)
        finally:
            server.stop()


def on_aws(tenant: int, other: int, side: str, outputs_file: Path | None, region: str | None, lambda_client=None):
    """Invoke the deployed access function directly with the check's event."""
    import boto3

    from loadtest.cloudwatch_run import stack_outputs

    function = stack_outputs(outputs_file)[f"{side}_access_function_name"]
    client = lambda_client or boto3.client("lambda", region_name=region)
    answer = client.invoke(
        FunctionName=function, Payload=json.dumps({"isolation_check": {"tenant": tenant, "other": other}}).encode()
    )
    payload = json.loads(answer["Payload"].read())
    if answer.get("FunctionError"):
        raise SystemExit(f"{function} failed: {payload}")
    return payload


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("where", nargs="?", choices=("local", "aws"), default="local")
    parser.add_argument("--tenant", type=int, default=1, help="the tenant whose session tries (A)")
    parser.add_argument("--other", type=int, default=2, help="the tenant it tries to reach (B)")
    parser.add_argument("--side", choices=SIDES, default="proxy", help="aws: whose access function")
    parser.add_argument("--outputs", type=Path, help="aws: a saved `terraform output -json` of the main stack")
    parser.add_argument("--region", help="aws: default the AWS SDK's")
    options = parser.parse_args(argv)
    if options.tenant == options.other or min(options.tenant, options.other) < 0:
        parser.error("--tenant and --other name two different tenants (0 or more)")
    if options.where == "local":
        report, where = local(options.tenant, options.other), "local MariaDB"
    else:
        report = on_aws(options.tenant, options.other, options.side, options.outputs, options.region)
        where = f"AWS, {options.side} side"
    return 0 if print_report(report, where) else 1


if __name__ == "__main__":
    sys.exit(main())
