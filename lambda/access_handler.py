"""Lambda entry point of the access API: five random rows of the tenant a request names.

Deployed twice from this code: behind RDS Proxy (one reader endpoint per shard of 200 tenants) and
directly against the Aurora reader endpoint. Configuration comes from the environment the stack
sets; what is built from it (clients, caches, connections) lives for the life of the instance.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from typing import Any

import boto3
import botocore.exceptions
import db
import pymysql
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from tenant_access import IamAuthTokens, ShardTarget, TenantCredentialSource
from tenant_data import PasswordSource, TenantData
from tenant_request import BadRequest, tenant_from_event

from constructs_lib.tenancy import Tenant

logger = Logger()
tracer = Tracer()


def _split(env: Mapping[str, str], name: str) -> list[str]:
    return [item for item in env[name].split(",") if item]


def shard_targets(env: Mapping[str, str]) -> list[ShardTarget]:
    """One target per proxy shard (Proxy side) or a single one (No Proxy side), from the environment.

    ``TENANT_ROLE_ARN`` may hold ``{shard}``: shard k's tenants assume shard k's role. (Lambda's
    environment is limited to 4 KB, so role ARNs are not listed one by one.)
    """
    endpoints, resource_ids = _split(env, "DB_ENDPOINTS"), _split(env, "DB_RESOURCE_IDS")
    if not len(endpoints) == len(resource_ids) >= 1:
        raise RuntimeError("DB_ENDPOINTS and DB_RESOURCE_IDS must list the same shards")
    prefix, port, role = env["DB_USER_ARN_PREFIX"], int(env["DB_PORT"]), env["TENANT_ROLE_ARN"]
    return [
        ShardTarget(
            endpoint=endpoint,
            role_arn=role.replace("{shard}", str(index)),
            db_user_arn_prefix=prefix,
            resource_id=resource_id,
            port=port,
        )
        for index, (endpoint, resource_id) in enumerate(zip(endpoints, resource_ids, strict=True))
    ]


def router(targets: list[ShardTarget]):
    if len(targets) == 1:
        return lambda tenant: targets[0]
    return lambda tenant: targets[tenant.shard]


def build_tenant_data(env: Mapping[str, str], passwords: PasswordSource) -> TenantData:
    return TenantData(
        route=router(shard_targets(env)),
        passwords=passwords,
        connect=functools.partial(db.connect, ca_file=env["CA_BUNDLE"]),
        max_connections=int(env["MAX_TENANT_CONNECTIONS"]),
    )


@functools.cache
def tenant_data() -> TenantData:
    """Built once per instance. STS is reached through the VPC's regional endpoint (set by the stack)."""
    region = os.environ["AWS_REGION"]
    sts = boto3.client("sts", region_name=region)
    return build_tenant_data(os.environ, IamAuthTokens(region, TenantCredentialSource(sts)))


def respond(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(body),
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)  # responses hold tenant rows: keep them out of traces
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    return answer(event, tenant_data(), int(os.environ["TENANT_COUNT"]))


def answer(event: Any, data: TenantData, tenant_count: int) -> dict[str, Any]:
    """The function's whole behaviour for one event, given its (per-instance) tenant data."""
    try:
        tenant = tenant_from_event(event, tenant_count)
    except BadRequest as error:
        logger.info("bad request", extra={"error": error.code})
        return respond(400, {"error": error.code, "message": str(error)})
    logger.append_keys(tenant=tenant.id)
    return read_rows(data, tenant)


def read_rows(data: TenantData, tenant: Tenant) -> dict[str, Any]:
    """Answer for one tenant; failures become JSON 5xx with an error class, never internals."""
    try:
        rows = data.random_rows(tenant)
    except pymysql.MySQLError as error:
        logger.warning(
            "database failure",
            extra={"error_class": type(error).__name__, "mysql_errno": error.args[0] if error.args else None},
        )
        return respond(503, {"error": "database_unavailable"})
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        logger.warning("credentials failure", extra={"error_class": type(error).__name__})
        return respond(502, {"error": "credentials_unavailable"})
    except Exception:
        logger.exception("unexpected failure")
        return respond(500, {"error": "internal_error"})
    return respond(200, {"tenant": tenant.id, "rows": rows})
