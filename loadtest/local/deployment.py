"""The whole access path on this machine: MariaDB, seeded tenants, STS, each stage's function as Lambda runs
it, the API in front, and a sampler of what the server sees.

Used by the rehearsal and by the tests of Lambda's scaling model, so both exercise one setup. Everything
binds to 127.0.0.1 and everything started here is stopped on exit.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "lambda")]

from seeding import PasswordInSecretUser, TenantSeeder  # noqa: E402

from constructs_lib.function_contract import (  # noqa: E402
    AccessConfig,
    AccessRuntime,
    ConnectionPolicy,
    lambda_environment,
)
from constructs_lib.tenancy import all_tenants  # noqa: E402
from constructs_lib.workflow import emulator  # noqa: E402
from loadtest.local.api import LocalApi  # noqa: E402
from loadtest.local.instance import NATIVE_PASSWORDS_FILE, NODEJS_FUNCTION, PASSWORDS_FILE, STS_ENDPOINT  # noqa: E402
from loadtest.local.lambda_pool import FunctionPool  # noqa: E402
from loadtest.local.latency import delayed_link  # noqa: E402
from loadtest.local.mariadb import MASTER_PASSWORD, MASTER_USER, MariaDB, start_mariadb  # noqa: E402
from loadtest.local.nodejs_package import node_environment, stage_nodejs_function  # noqa: E402
from loadtest.local.processes import free_port  # noqa: E402
from loadtest.local.server_sampler import ServerSampler  # noqa: E402
from loadtest.local.standins import MemorySecretStore  # noqa: E402

NAME_PREFIX = "rehearsal"
REGION = "us-east-1"
# What the stage functions are told; partition and account are moto's, nothing leaves this machine.
RESOURCE_IDS = {"proxy": "prx-rehearsal", "no_proxy": "cluster-REHEARSAL"}
FUNCTION_TIMEOUT_SECONDS = 10  # the stacks' default access_function_timeout_seconds
DB_LATENCY_MS = 1.0  # round trip between a function and the reader in one region's VPC, roughly


@dataclass(frozen=True)
class StageSpec:
    """One API stage and its function: which side it stands for, what it keeps, how far Lambda scales it."""

    name: str
    side: str  # "proxy" or "no_proxy"
    policy: ConnectionPolicy
    concurrency: int
    runtime: AccessRuntime = "python"


@dataclass
class LocalDeployment:
    server: MariaDB
    store: MemorySecretStore
    pools: dict[str, FunctionPool]
    api: LocalApi
    sampler: ServerSampler
    log_dir: Path


def local_access_config(
    server: MariaDB,
    tenant_count: int,
    policy: ConnectionPolicy,
    *,
    name: str,
    resource_id: str,
    port: int | None = None,
) -> AccessConfig:
    """The access function's contract for a local server (one shard); ``port`` is where it reaches the server
    (the latency relay, if any). Account and partition are moto's: nothing leaves this machine."""
    return AccessConfig(
        endpoints=[server.host],
        resource_ids=[resource_id],
        tenant_role_arn=f"arn:aws:iam::123456789012:role/{name}-tenant-access",
        db_user_arn_prefix=f"arn:aws:rds-db:{REGION}:123456789012:dbuser:",
        tenant_count=tenant_count,
        connections=policy,
        ca_file=str(server.pki.ca_file),
        port=port or server.port,
    )


@contextlib.contextmanager
def local_deployment(
    scratch: Path,
    tenants: int,
    stages: Sequence[StageSpec],
    db_max_connections: int,
    db_latency_ms: float = DB_LATENCY_MS,
) -> Iterator[LocalDeployment]:
    server = start_mariadb(scratch / "mariadb", max_connections=db_max_connections)
    sts = None
    pools: dict[str, FunctionPool] = {}
    link = contextlib.ExitStack()
    try:
        db_port = link.enter_context(delayed_link(server.host, server.port, db_latency_ms / 2))
        store = MemorySecretStore()
        identity = PasswordInSecretUser(store, NAME_PREFIX, server.host, server.port)
        TenantSeeder(lambda: server.connect(MASTER_USER, MASTER_PASSWORD), identity).seed(all_tenants(tenants))
        passwords = scratch / "passwords.json"
        passwords.touch(mode=0o600)
        passwords.write_text(json.dumps(store.values))
        native = scratch / "native-passwords.json"  # by tenant id, for the Node.js instances
        native.touch(mode=0o600)
        native.write_text(
            json.dumps({t.id: store.values[t.secret_name(NAME_PREFIX)]["password"] for t in all_tenants(tenants)})
        )
        staged = stage_nodejs_function(scratch / "nodejs") if any(s.runtime == "nodejs" for s in stages) else None
        # STS in its own process: in this one it would share the interpreter lock with the API's threads.
        sts = emulator.start(free_port(), scratch / "sts.log")
        for stage in stages:
            config = local_access_config(
                server,
                tenants,
                stage.policy,
                name=f"{NAME_PREFIX}-{stage.side}",
                resource_id=RESOURCE_IDS[stage.side],
                port=db_port,
            )
            environment = {
                **lambda_environment(f"{NAME_PREFIX}-{stage.side}-access", config.to_environment()),
                "AWS_ACCESS_KEY_ID": NAME_PREFIX,
                "AWS_SECRET_ACCESS_KEY": NAME_PREFIX,
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "POWERTOOLS_TRACE_DISABLED": "1",
                "POWERTOOLS_LOG_LEVEL": "WARNING",
                PASSWORDS_FILE: str(passwords),
                STS_ENDPOINT: sts.url,
                "REHEARSAL_NAME_PREFIX": NAME_PREFIX,
            }
            if stage.runtime == "nodejs":
                environment.update(
                    {
                        NODEJS_FUNCTION: str(staged),
                        NATIVE_PASSWORDS_FILE: str(native),
                        "AWS_ENDPOINT_URL_STS": sts.url,
                        "POWERTOOLS_LOG_LEVEL": "WARN",
                        **node_environment(staged),
                    }
                )
            pools[stage.name] = FunctionPool(
                stage.name, environment, stage.concurrency, FUNCTION_TIMEOUT_SECONDS, scratch / f"{stage.name}.log"
            )
        with ServerSampler(server.socket_path) as sampler, LocalApi(pools) as api:
            yield LocalDeployment(server, store, pools, api, sampler, scratch)
    finally:
        for pool in pools.values():
            pool.close()
        link.close()
        if sts is not None:
            sts.stop()
        server.stop()
