"""What AWS enforces and the emulator does not: each limit or rule once, with the page that documents it.

Settings validation, the constructs and the preflight gate (``constructs_lib/preflight.py``) all read
these values; nothing else in the project writes an AWS limit as a number.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

IAM_QUOTAS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
STS_ASSUME_ROLE = "https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html"
SESSION_TAGS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html"
LAMBDA_QUOTAS = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
LAMBDA_CONCURRENCY = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html"
EC2_USER_DATA = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-add-user-data.html"
VPC_QUOTAS = "https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html"
APIGW_REST_QUOTAS = (
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html"
)
CLOUDWATCH_QUOTAS = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html"
RDS_PROXY_LIMITS = "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-proxy.html#rds-proxy.limitations"
RDS_PROXY_TLS = (
    "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-proxy.howitworks.html#rds-proxy-security.tls"
)
RDS_QUOTAS = "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/CHAP_Limits.html"
RDS_SSL = "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/UsingWithRDS.SSL.html"
AURORA_MYSQL_CALENDAR = (
    "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraMySQLReleaseNotes/AuroraMySQL.release-calendars.html"
)
AURORA_LTS = "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraMySQL.Update.SpecialVersions.html"
SPOT_FLEET_PREREQUISITES = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-fleet-prerequisites.html"
FLOW_LOGS_ROLE = "https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html"
S3_BUCKET_NAMES = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html"
CREATE_DB_PROXY = "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBProxy.html"
CREATE_DB_CLUSTER = "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBCluster.html"
CREATE_SECRET = "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html"
CREATE_LOG_GROUP = "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html"
CREATE_FUNCTION = "https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html"
CREATE_ROLE = "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html"
LAMBDA_VPC = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html"
INTERFACE_ENDPOINTS = "https://docs.aws.amazon.com/vpc/latest/privatelink/create-interface-endpoint.html"
PRIVATELINK_QUOTAS = "https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-limits-endpoints.html"
SOURCE_ACCOUNT_KEY = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourceaccount"
PROVIDER_PROXY_TARGET = "https://registry.terraform.io/providers/hashicorp/aws/5.100.0/docs/resources/db_proxy_target"


@dataclass(frozen=True)
class Limit:
    """A documented AWS limit: what it bounds, its value, and where AWS says so."""

    what: str
    value: int
    source: str

    def __str__(self) -> str:
        return f"{self.what} ({self.value:,}; {self.source})"


# IAM counts policy characters without white space.
ROLE_INLINE_POLICIES_CHARS = Limit("inline policies of one role, total characters", 10_240, IAM_QUOTAS)
MANAGED_POLICY_CHARS = Limit("managed policy characters", 6_144, IAM_QUOTAS)
TRUST_POLICY_CHARS = Limit("role trust policy characters (default quota)", 2_048, IAM_QUOTAS)
SESSION_POLICY_CHARS = Limit("AssumeRole inline session policy, plain-text characters", 2_048, STS_ASSUME_ROLE)
SESSION_TAGS_COUNT = Limit("session tags per AssumeRole", 50, SESSION_TAGS)
SESSION_TAG_KEY_CHARS = Limit("session tag key characters", 128, SESSION_TAGS)
SESSION_TAG_VALUE_CHARS = Limit("session tag value characters", 256, SESSION_TAGS)
SESSION_TAG_CHARACTERS = r"[\w\s.:/=+\-@]*"  # letters, digits, spaces and _ . : / = + - @
ROLE_CHAINING_SESSION_SECONDS = Limit(
    "session of a role assumed with role credentials (role chaining), seconds", 3600, IAM_QUOTAS
)
LAMBDA_ENVIRONMENT_BYTES = Limit("Lambda environment variables, total size", 4_096, LAMBDA_QUOTAS)
LAMBDA_UNRESERVED_FLOOR = Limit("concurrency Lambda keeps unreserved per account and region", 100, LAMBDA_CONCURRENCY)
LAMBDA_DEFAULT_CONCURRENCY = Limit("concurrent executions per account and region (default quota)", 1_000, LAMBDA_QUOTAS)
EC2_USER_DATA_BYTES = Limit("EC2 user data, raw bytes before base64", 16_384, EC2_USER_DATA)
SECURITY_GROUP_INBOUND_RULES = Limit("inbound rules per security group (default quota)", 60, VPC_QUOTAS)
SECURITY_GROUP_OUTBOUND_RULES = Limit("outbound rules per security group (default quota)", 60, VPC_QUOTAS)
ENDPOINT_POLICY_CHARS = Limit("VPC endpoint policy characters, white space included", 20_480, PRIVATELINK_QUOTAS)
API_RESOURCE_POLICY_CHARS = Limit("API Gateway resource policy characters", 8_192, APIGW_REST_QUOTAS)
API_STAGE_VARIABLE_VALUE_CHARS = Limit("API Gateway stage variable value characters", 512, APIGW_REST_QUOTAS)
DASHBOARD_WIDGETS = Limit("widgets per CloudWatch dashboard", 500, CLOUDWATCH_QUOTAS)
DASHBOARD_METRICS_PER_WIDGET = Limit("metrics per CloudWatch dashboard widget", 500, CLOUDWATCH_QUOTAS)
DASHBOARD_METRICS = Limit("metrics per CloudWatch dashboard", 2_500, CLOUDWATCH_QUOTAS)
SECRETS_PER_PROXY = Limit("Secrets Manager secrets (auth entries) per RDS Proxy", 200, RDS_PROXY_LIMITS)
PROXIES_PER_ACCOUNT = Limit("RDS proxies per account and region (default quota)", 20, RDS_QUOTAS)


@dataclass(frozen=True)
class NameRule:
    """What AWS accepts as a name: a pattern (full match) and a length range."""

    what: str
    pattern: str
    min_length: int
    max_length: int
    source: str


# Identifiers of RDS: a letter first, letters, digits and single hyphens, no hyphen at the end.
RDS_IDENTIFIER = r"[A-Za-z](?:-?[A-Za-z0-9])*"
NAME_RULES: dict[tuple[str, str], NameRule] = {
    ("aws_db_proxy", "name"): NameRule("RDS Proxy name", RDS_IDENTIFIER, 1, 63, CREATE_DB_PROXY),
    ("aws_db_proxy_endpoint", "db_proxy_endpoint_name"): NameRule(
        "RDS Proxy endpoint name", RDS_IDENTIFIER, 1, 63, CREATE_DB_PROXY
    ),
    ("aws_rds_cluster", "cluster_identifier"): NameRule(
        "Aurora cluster identifier", RDS_IDENTIFIER, 1, 63, CREATE_DB_CLUSTER
    ),
    ("aws_rds_cluster_instance", "identifier"): NameRule(
        "DB instance identifier", RDS_IDENTIFIER, 1, 63, CREATE_DB_CLUSTER
    ),
    ("aws_secretsmanager_secret", "name"): NameRule("secret name", r"[A-Za-z0-9/_+=.@-]+", 1, 512, CREATE_SECRET),
    ("aws_cloudwatch_log_group", "name"): NameRule("log group name", r"[A-Za-z0-9._/#-]+", 1, 512, CREATE_LOG_GROUP),
    ("aws_s3_bucket", "bucket"): NameRule(
        "S3 bucket name",
        r"(?!xn--)(?!sthree-)[a-z0-9](?:[a-z0-9-]|\.(?!\.))*[a-z0-9](?<!-s3alias)(?<!--ol-s3)",
        3,
        63,
        S3_BUCKET_NAMES,
    ),
    # The provider appends 26 characters to a prefix; the whole name must still be a bucket name.
    ("aws_s3_bucket", "bucket_prefix"): NameRule(
        "S3 bucket name prefix", r"[a-z0-9][a-z0-9.-]*", 1, 37, S3_BUCKET_NAMES
    ),
    ("aws_lambda_function", "function_name"): NameRule(
        "Lambda function name", r"[A-Za-z0-9_-]+", 1, 64, CREATE_FUNCTION
    ),
    ("aws_iam_role", "name"): NameRule("IAM role name", r"[\w+=,.@-]+", 1, 64, CREATE_ROLE),
    ("aws_iam_role_policy", "name"): NameRule("IAM inline policy name", r"[\w+=,.@-]+", 1, 128, IAM_QUOTAS),
}


@dataclass(frozen=True)
class EngineVersion:
    """An Aurora MySQL minor version and the end of its standard support (AWS's release calendar)."""

    minor: str  # e.g. "3.10"
    end_of_standard_support: datetime.date
    long_term_support: bool = False


# Aurora MySQL release calendar (AURORA_MYSQL_CALENDAR), as read on 2026-11-27. Versions past their
# date stay listed so that an expired pin is named as such, not as unknown.
AURORA_MYSQL_MINOR_VERSIONS = {
    version.minor: version
    for version in (
        EngineVersion("3.04", datetime.date(2026, 10, 31), long_term_support=True),
        EngineVersion("3.08", datetime.date(2026, 8, 31)),
        EngineVersion("3.09", datetime.date(2026, 8, 31)),
        EngineVersion("3.10", datetime.date(2028, 4, 30), long_term_support=True),
        EngineVersion("3.11", datetime.date(2026, 11, 13)),
        EngineVersion("3.12", datetime.date(2027, 2, 17)),
        EngineVersion("3.13", datetime.date(2027, 8, 27)),
    )
}


def aurora_mysql_minor(engine_version: str) -> str:
    """``8.0.mysql_aurora.3.10.5`` -> ``3.10``."""
    return ".".join(engine_version.rsplit(".mysql_aurora.", 1)[-1].split(".")[:2])


def engine_version_problem(engine_version: str, today: datetime.date) -> str | None:
    """Why AWS would refuse (or soon force-upgrade) this pin, or None while it is supported."""
    version = AURORA_MYSQL_MINOR_VERSIONS.get(aurora_mysql_minor(engine_version))
    if version is None:
        known = ", ".join(sorted(AURORA_MYSQL_MINOR_VERSIONS))
        return f"Aurora MySQL {aurora_mysql_minor(engine_version)} is not in the release calendar table ({known})"
    if version.end_of_standard_support <= today:
        return (
            f"Aurora MySQL {version.minor} reached the end of standard support on "
            f"{version.end_of_standard_support:%Y-%m-%d} ({AURORA_MYSQL_CALENDAR})"
        )
    return None


LAMBDA_RUNTIMES = "https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html"


@dataclass(frozen=True)
class LambdaRuntime:
    """A managed runtime's deprecation schedule: after ``block_create`` Lambda refuses to create functions on
    it (a first deploy fails), after ``block_update`` to update them (every later deploy fails)."""

    identifier: str
    deprecation: datetime.date
    block_create: datetime.date
    block_update: datetime.date


# The runtimes the functions use, from LAMBDA_RUNTIMES as read on 2026-11-27.
LAMBDA_RUNTIME_SCHEDULE = {
    runtime.identifier: runtime
    for runtime in (
        LambdaRuntime(
            "python3.12", datetime.date(2028, 10, 31), datetime.date(2028, 11, 30), datetime.date(2029, 1, 10)
        ),
        LambdaRuntime("nodejs22.x", datetime.date(2027, 4, 30), datetime.date(2027, 6, 1), datetime.date(2027, 7, 1)),
    )
}


def lambda_runtime_problem(identifier: str, today: datetime.date) -> str | None:
    """Why Lambda would refuse to create functions on this runtime today, or None."""
    runtime = LAMBDA_RUNTIME_SCHEDULE.get(identifier)
    if runtime is None:
        return (
            f"Lambda runtime {identifier} is not in the schedule table ({', '.join(sorted(LAMBDA_RUNTIME_SCHEDULE))})"
        )
    if runtime.block_create <= today:
        return (
            f"Lambda refuses to create functions on {identifier} since {runtime.block_create:%Y-%m-%d} (deprecated "
            f"{runtime.deprecation:%Y-%m-%d}; updates blocked from {runtime.block_update:%Y-%m-%d}) ({LAMBDA_RUNTIMES})"
        )
    return None


# Services that document aws:SourceAccount / aws:SourceArn in the trust policy of a role they assume
# for you. Elsewhere the keys are not sent when the service assumes the role, and a condition on them
# makes the role unusable; each entry names the page that documents it.
SOURCE_CONDITIONS_DOCUMENTED = {"vpc-flow-logs": FLOW_LOGS_ROLE}

# RDS Proxy's certificates chain to these (RDS_PROXY_TLS); Aurora's to the RDS CAs (RDS_SSL).
RDS_CA_IDENTIFIER = "rds-ca-rsa2048-g1"
