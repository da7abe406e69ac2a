"""Lambda entry point of the access API: five random rows of the tenant a request names.

Deployed twice from this code: behind RDS Proxy (one reader endpoint per shard of 200 tenants) and
directly against the Aurora reader endpoint. Configuration comes from the environment the stack
sets; what is built from it (clients, caches, connections) lives for the life of the instance.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

import botocore.exceptions
import db
import isolation_check
import pymysql
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from tenant_access import IamAuthTokens, TenantCredentialSource, sts_client
from tenant_data import PasswordSource, TenantData
from tenant_request import BadRequest, tenant_from_event

from constructs_lib.function_contract import FAILURE_STATUS, AccessConfig
from constructs_lib.tenancy import Tenant

logger = Logger()
tracer = Tracer()


def build_tenant_data(config: AccessConfig, passwords: PasswordSource) -> TenantData:
    return TenantData(
        route=config.target_of,
        passwords=passwords,
        connect=functools.partial(db.connect, ca_file=config.ca_file),
        policy=config.connections,
    )


def iam_passwords(config: AccessConfig, region: str, sts) -> IamAuthTokens:
    """Tokens signed with each tenant's own session; remembered only where the policy keeps things."""
    entries = config.connections.credential_entries
    return IamAuthTokens(region, TenantCredentialSource(sts, max_entries=entries), max_entries=entries)


@functools.cache
def tenant_data() -> TenantData:
    """Built once per instance. STS is reached through the VPC's regional endpoint (set by the stack)."""
    region = os.environ["AWS_REGION"]
    return build_tenant_data(configuration(), iam_passwords(configuration(), region, sts_client(region)))


@functools.cache
def configuration() -> AccessConfig:
    return AccessConfig.from_environment(os.environ)


def respond(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(body),
    }


# clear_state: keys appended for one request (its tenant) never reach the next request's lines.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)  # responses hold tenant rows: keep them out of traces
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    check = isolation_check.requested(event)
    if check is not None:
        return cross_tenant_check(check)
    return answer(event, tenant_data(), configuration().tenant_count)


def cross_tenant_check(check: isolation_check.CheckRequest) -> dict[str, Any]:
    """The deployer's isolation check (direct invocation only); its attempts are logged with the server's words."""
    config = configuration()
    if max(check.tenant, check.other) >= config.tenant_count:
        raise ValueError(f"tenants are 0..{config.tenant_count - 1}")
    data = tenant_data()
    report = isolation_check.run(
        Tenant(check.tenant), Tenant(check.other), config.target_of, data.passwords, data.connect
    )
    logger.info("isolation check", extra={"report": report})
    return report


def failure(error: str) -> dict[str, Any]:
    return respond(FAILURE_STATUS[error], {"error": error})


def answer(event: Any, data: TenantData, tenant_count: int) -> dict[str, Any]:
    """The function's whole behaviour for one event, given its (per-instance) tenant data."""
    try:
        tenant = tenant_from_event(event, tenant_count)
    except BadRequest as error:
        logger.info("bad request", extra={"error": error.code})
        return respond(400, {"error": error.code, "message": str(error)})
    logger.append_keys(tenant=tenant.id)
    try:
        return read_rows(data, tenant)
    finally:
        logger.remove_keys(["tenant"])  # also when answer() is called without the handler (local API)


def read_rows(data: TenantData, tenant: Tenant) -> dict[str, Any]:
    """Answer for one tenant; failures become JSON 5xx with an error class, never internals."""
    try:
        rows = data.random_rows(tenant)
    except pymysql.MySQLError as error:
        # The server's own words stay in the log ("Access denied for user 'user100'@'%' to database ..."):
        # they are the evidence of a denial. They never reach the caller.
        logger.warning(
            "database failure",
            extra={
                "error_class": type(error).__name__,
                "mysql_errno": error.args[0] if error.args else None,
                "mysql_message": str(error.args[1]) if len(error.args) > 1 else None,
            },
        )
        return failure("database_unavailable")
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        logger.warning("credentials failure", extra={"error_class": type(error).__name__})
        return failure("credentials_unavailable")
    except Exception:
        logger.exception("unexpected failure")
        return failure("internal_error")
    return respond(200, {"tenant": tenant.id, "rows": rows})
