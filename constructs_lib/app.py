"""The composition: which boxes of the architecture diagram exist, how they connect, what a deployment reports.

``build`` reads as the diagram: the state bucket, then the shared function package, the Proxy side,
the No Proxy side, the Load Test side calling both through the API, and the dashboard comparing them.
Constructs describe resources; the stack outputs (what ``cdktf output`` and the Makefile read) are
declared here, under the names the README lists.
"""

from __future__ import annotations

from collections.abc import Callable

from cdktf import App
from constructs import Construct

from constructs_lib.database_side import AccessSpec, ClusterSpec, DatabaseSide, DatabaseSideProps
from constructs_lib.function_package import FunctionPackage, FunctionPackageProps
from constructs_lib.load_test import LocustFleet, UnattendedRun
from constructs_lib.load_test_side import ApiSpec, LoadTestSide, LoadTestSideProps
from constructs_lib.monitoring import Monitoring, MonitoringProps
from constructs_lib.network import Network
from constructs_lib.no_proxy_side import NoProxySide
from constructs_lib.platform import AwsStack, add_outputs, tag_side
from constructs_lib.proxy_side import ProxySide
from constructs_lib.settings import Settings
from constructs_lib.stack_names import BOOTSTRAP_STACK, MAIN_STACK
from constructs_lib.state import StateBootstrap, StateProps, use_remote_state
from constructs_lib.tenancy import all_tenants, tenant_secret_prefix
from constructs_lib.tenant_proxy import ConnectionPool

VPC_CIDRS = {"proxy": "10.0.0.0/16", "no_proxy": "10.1.0.0/16", "load_test": "10.2.0.0/16"}


def build(app: App, settings: Settings) -> AwsStack:
    """Both stacks of a deployment; returns the main one."""
    stack_settings = {
        "environment": settings.environment,
        "name_prefix": settings.name_prefix,
        "account_id": settings.account_id,
        "emulator_endpoint": settings.emulator_endpoint,
    }
    state = StateProps(
        bucket=settings.state_bucket_name,
        key=settings.state_object_key,
        region=settings.state_bucket_region,
        local_state_file=str(settings.state_bootstrap_path),
        lock_table=settings.state_lock_table,
        emulator_endpoint=settings.emulator_endpoint,
    )
    bootstrap = AwsStack(app, BOOTSTRAP_STACK, region=settings.state_bucket_region, **stack_settings)
    _state_outputs(bootstrap, StateBootstrap(bootstrap, "state", state))

    stack = AwsStack(app, MAIN_STACK, region=settings.region, **stack_settings)
    use_remote_state(stack, state)
    zones = stack.availability_zones(settings.availability_zones)
    shared = Construct(stack, "shared")
    tag_side(shared, "shared")
    package = FunctionPackage(
        shared, "functions", FunctionPackageProps(name=settings.name_prefix, rds_ca_pem=settings.rds_ca_pem())
    )
    access_package = package
    if settings.access_function_runtime == "nodejs":  # the access functions only; seeding stays Python
        access_package = FunctionPackage(
            shared,
            "access-nodejs",
            FunctionPackageProps(name=settings.name_prefix, rds_ca_pem=settings.rds_ca_pem(), language="nodejs"),
        )
    side = _database_side_props(settings, zones, package, access_package)

    pool = ConnectionPool(
        max_connections_percent=settings.proxy_max_connections_percent,
        max_idle_connections_percent=settings.proxy_max_idle_connections_percent,
    )
    proxy = ProxySide(stack, side("proxy"), pool)
    _proxy_side_outputs(stack, proxy)
    if not settings.create_load_test_stack:
        return stack

    no_proxy = NoProxySide(stack, side("no_proxy"))
    _database_side_outputs(stack, no_proxy)
    load_test = LoadTestSide(
        stack,
        LoadTestSideProps(
            name_prefix=settings.name_prefix,
            cidr_block=VPC_CIDRS["load_test"],
            availability_zones=zones,
            flow_logs=settings.vpc_flow_logs,
            targets=[proxy, no_proxy],
            tenant_count=settings.tenant_count,
            api=ApiSpec(
                endpoint_type=settings.api_endpoint_type,
                throttling_rate_limit=settings.api_throttling_rate_limit,
                throttling_burst_limit=settings.api_throttling_burst_limit,
            ),
            fleet=_locust_fleet(settings),
        ),
    )
    _load_test_outputs(stack, load_test)
    monitoring = Monitoring(
        shared,
        "monitoring",
        MonitoringProps(
            name=f"{settings.name_prefix}-proxy-vs-no-proxy",
            api_name=load_test.api.api.name,
            sides=[proxy.metrics(), no_proxy.metrics()],
        ),
    )
    add_outputs(stack, "monitoring", {"dashboard_name": (monitoring.dashboard.dashboard_name, "CloudWatch dashboard")})
    return stack


def _database_side_props(
    settings: Settings, zones: list[str], package: FunctionPackage, access_package: FunctionPackage
) -> Callable[[str], DatabaseSideProps]:
    """A database side's props from settings: the two sides differ in their VPC block and connection policy."""
    tenants = all_tenants(settings.tenant_count)
    cluster = ClusterSpec(
        engine_version=settings.aurora_engine_version,
        writer_instance_class=settings.writer_instance_class,
        reader_instance_class=settings.reader_instance_class,
        performance_insights_retention_days=settings.performance_insights_retention_days,
    )

    def props(key: str) -> DatabaseSideProps:
        return DatabaseSideProps(
            name_prefix=settings.name_prefix,
            cidr_block=VPC_CIDRS[key],
            availability_zones=zones,
            flow_logs=settings.vpc_flow_logs,
            tenants=tenants,
            package=package,
            cluster=cluster,
            sample_data=settings.sample_data,
            access=AccessSpec(
                timeout_seconds=settings.access_function_timeout_seconds,
                memory_mb=settings.access_function_memory_mb,
                reserved_concurrency=settings.access_function_reserved_concurrency,
                connections=settings.connection_policy(key),
                package=access_package,
            ),
        )

    return props


def _locust_fleet(settings: Settings) -> LocustFleet:
    return LocustFleet(
        locust_version=settings.locust_version,
        primary_instance_type=settings.locust_instance_type,
        worker_instance_types=settings.locust_worker_instance_types,
        worker_capacity=settings.locust_worker_capacity,
        ui_cidr=settings.locust_ui_cidr,
        wait_seconds=(settings.locust_wait_min_seconds, settings.locust_wait_max_seconds),
        ami_id=settings.locust_ami_id,
        create_spot_service_linked_roles=settings.create_spot_service_linked_roles,
        unattended=UnattendedRun(
            users=settings.locust_users,
            spawn_rate=settings.locust_spawn_rate,
            run_time=settings.locust_run_time,
            max_failure_ratio=settings.locust_max_failure_ratio,
            max_p95_ms=settings.locust_max_p95_ms,
            expect_workers_max_wait_seconds=settings.locust_expect_workers_max_wait_seconds,
        )
        if settings.locust_unattended
        else None,
    )


# ---- outputs: names are the deployment's interface (README "Outputs", Makefile, tests) -------------------


def _network_outputs(stack: AwsStack, side: str, network: Network) -> None:
    add_outputs(
        stack,
        side,
        {
            "vpc_id": (network.vpc.id, f"{side}: VPC id"),
            "private_subnet_ids": (network.private_subnet_ids, f"{side}: private subnet ids"),
        },
    )


def _database_side_outputs(stack: AwsStack, side: DatabaseSide) -> None:
    _network_outputs(stack, side.side, side.network)
    cluster = side.cluster
    outputs = {
        "cluster_id": (cluster.cluster.cluster_identifier, "Aurora cluster identifier"),
        "writer_endpoint": (cluster.cluster.endpoint, "Aurora writer endpoint"),
        "reader_endpoint": (cluster.cluster.reader_endpoint, "Aurora reader endpoint"),
        "replica_ids": ([reader.identifier for reader in cluster.readers], "Aurora replica identifiers"),
        "master_secret_arn": (cluster.master_secret_arn, "RDS-managed master user secret"),
        "access_function_name": (side.function.function.function_name, "access function name"),
    }
    add_outputs(stack, side.side, {key: (value, f"{side.side}: {text}") for key, (value, text) in outputs.items()})


def _proxy_side_outputs(stack: AwsStack, proxy: ProxySide) -> None:
    _database_side_outputs(stack, proxy)
    add_outputs(
        stack,
        proxy.side,
        {
            "proxy_names": ([p.proxy.name for p in proxy.proxies], "proxy: RDS Proxy names, by shard"),
            "proxy_reader_endpoints": (
                [p.read_endpoint for p in proxy.proxies],
                "proxy: READ_ONLY endpoints, by shard",
            ),
            "tenant_secret_prefix": (
                tenant_secret_prefix(proxy.props.name_prefix),
                "proxy: name prefix of the tenant secrets",
            ),
        },
    )


def _load_test_outputs(stack: AwsStack, load_test: LoadTestSide) -> None:
    _network_outputs(stack, "load_test", load_test.network)
    api = load_test.api
    outputs = {f"{stage}_url": (api.stages[stage].invoke_url, f"API URL of {stage}") for stage in api.stages}
    outputs["access_log_groups"] = ([group.name for group in api.log_groups.values()], "API access log groups")
    outputs["url"] = (api.base_url, "API base URL: append /proxy_stage/?tenant=N or /no_proxy_stage/?tenant=N")
    outputs["name"] = (api.api.name, "REST API name (ApiName in CloudWatch; make report reads it)")
    add_outputs(stack, "api", outputs)
    locust = load_test.locust
    add_outputs(
        stack,
        "load_test",
        {
            "locust_url": (locust.locust_url, "Locust web UI (from locust_ui_cidr)"),
            "primary_instance_id": (locust.primary.id, "Locust primary (make locust-ui forwards its UI port)"),
            "ui_secret_arn": (locust.ui_secret.arn, "Secret holding the Locust UI operator's password"),
            "reports_bucket": (locust.reports.bucket, "S3 bucket of unattended-run reports"),
        },
    )


def _state_outputs(stack: AwsStack, state: StateBootstrap) -> None:
    outputs = {"bucket": (state.bucket.bucket, "S3 bucket holding the Terraform state")}
    if state.lock_table:
        outputs["lock_table"] = (state.lock_table.name, "DynamoDB table holding the Terraform state locks")
    add_outputs(stack, "state", outputs)
