"""Lambda entry point: seed a contiguous range of tenants into the cluster next to this function.

Terraform invokes it once per proxy shard with ``{"first_tenant": a, "last_tenant": b}``; the input
changes when that shard's tenant set does, so adding tenants re-runs it for the new ones only.
Configuration comes from the environment the stack sets.
"""

from __future__ import annotations

import functools
import os

import boto3
import db
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field, model_validator
from seeding import IamAuthenticatedUser, PasswordInSecretUser, TenantSeeder, UserIdentity
from tenant_secrets import SecretsManagerStore

from constructs_lib.tenancy import MAX_TENANTS_PER_PROXY, Tenant

logger = Logger(service="tenant-seeding")
tracer = Tracer(service="tenant-seeding")


class SeedRequest(BaseModel):
    first_tenant: int = Field(ge=0)
    last_tenant: int = Field(ge=0)
    sample_rows: bool = True  # false: tenants get an empty table (load_sample_data = false)

    @model_validator(mode="after")
    def _one_shard_at_most(self) -> SeedRequest:
        if not 0 <= self.last_tenant - self.first_tenant < MAX_TENANTS_PER_PROXY:
            raise ValueError(f"a request seeds 1..{MAX_TENANTS_PER_PROXY} consecutive tenants")
        return self


class SeedingFailed(RuntimeError):
    """Some tenants could not be seeded; the message names them (Terraform shows it on apply)."""


def identity_from_environment(store: SecretsManagerStore) -> UserIdentity:
    if os.environ["TENANT_AUTH"] == "iam":
        return IamAuthenticatedUser()
    return PasswordInSecretUser(
        store=store, name_prefix=os.environ["NAME_PREFIX"], host=os.environ["DB_HOST"], port=int(os.environ["DB_PORT"])
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=SeedRequest)
def handler(request: SeedRequest, context: LambdaContext) -> dict[str, object]:
    store = SecretsManagerStore(boto3.client("secretsmanager"))
    master = store.get(os.environ["MASTER_SECRET_ARN"])
    if not master:
        raise SeedingFailed("the cluster's master user secret has no value")
    connect = functools.partial(
        db.connect,
        host=os.environ["DB_HOST"],
        port=int(os.environ["DB_PORT"]),
        user=master["username"],
        password=master["password"],
        ca_file=os.environ["CA_BUNDLE"],
    )
    tenants = [Tenant(i) for i in range(request.first_tenant, request.last_tenant + 1)]
    seeder = TenantSeeder(connect, identity_from_environment(store), sample_rows=request.sample_rows)
    report = seeder.seed(tenants)
    logger.info("seeding finished", extra={"report": report.as_dict()})
    if report.failed:
        raise SeedingFailed(f"tenants not seeded: {', '.join(map(str, sorted(report.failed)))}; see the log")
    return report.as_dict()
