"""The Locust load generator: a primary with the web UI, and a Spot Fleet of workers.

Both run in the Load Test VPC and call the access API through its execute-api endpoint. They are
bootstrapped by plain user data (``loadtest/bootstrap.sh``) that installs the pinned Locust,
writes the project's ``loadtest/locustfile.py``, and runs Locust as a systemd service. With
``unattended`` the primary runs one headless test when it boots and copies the reports to S3; if the
workers have not connected within ``expect_workers_max_wait_seconds`` it gives up (exit 1) instead
of waiting forever.

The AMI is either pinned (``ami_id``) or resolved once from AWS's Amazon Linux 2023 parameter: later
AL2023 releases change that parameter, and since a new AMI forces a new instance, the resolved one is
kept (``ignore_changes``) so that no plan shows a surprise replacement. Spot Fleet requests made
through the API need the EC2 Spot service-linked roles (aws_rules.SPOT_FLEET_PREREQUISITES); the
stack creates them unless the account already has them.
"""

from __future__ import annotations

import base64
import ipaddress
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cdktf import Fn, TerraformResourceLifecycle
from constructs import Construct

from constructs_lib.aws import (
    DataAwsSsmParameter,
    IamInstanceProfile,
    IamServiceLinkedRole,
    Instance,
    InstanceMetadataOptions,
    InstanceRootBlockDevice,
    LaunchTemplate,
    LaunchTemplateBlockDeviceMappings,
    LaunchTemplateBlockDeviceMappingsEbs,
    LaunchTemplateIamInstanceProfile,
    LaunchTemplateMetadataOptions,
    LaunchTemplateTagSpecifications,
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleExpiration,
    S3BucketLifecycleConfigurationRuleFilter,
    SecretsmanagerSecret,
    SpotFleetRequest,
    SpotFleetRequestLaunchTemplateConfig,
    SpotFleetRequestLaunchTemplateConfigLaunchTemplateSpecification,
    SpotFleetRequestLaunchTemplateConfigOverrides,
    VpcSecurityGroupEgressRule,
    VpcSecurityGroupIngressRule,
)
from constructs_lib.iam import ServiceRole, service_role
from constructs_lib.network import HTTPS_PORT, Network, allow_tcp
from constructs_lib.platform import AwsStack
from constructs_lib.policy import Statement
from constructs_lib.private_bucket import PrivateBucket

LOADTEST_DIR = Path(__file__).resolve().parents[1] / "loadtest"
LOCUSTFILE = LOADTEST_DIR / "locustfile.py"
BOOTSTRAP = LOADTEST_DIR / "bootstrap.sh"
REQUIREMENTS_LOCK = LOADTEST_DIR / "requirements.lock"  # made by `make lock-loadtest`
WEB_PORT = 8089
MASTER_PORT = 5557
# Amazon Linux 2023, resolved by AWS's public parameter in whatever partition and region we are.
AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
REPORTS_DIR = "/var/lib/locust/reports"
SPOT_SERVICES = {"spot_fleet_service_role": "spotfleet.amazonaws.com", "spot_service_role": "spot.amazonaws.com"}


@dataclass(frozen=True)
class UnattendedRun:
    users: int
    spawn_rate: float
    run_time: str
    max_failure_ratio: float
    max_p95_ms: float
    expect_workers_max_wait_seconds: int


@dataclass(frozen=True)
class LocustFleet:
    """The Locust primary and its Spot workers, and how they run."""

    locust_version: str
    primary_instance_type: str
    worker_instance_types: Sequence[str]
    worker_capacity: int
    ui_cidr: str  # empty: no one reaches the UI from outside
    wait_seconds: tuple[float, float] = (5.0, 9.0)
    unattended: UnattendedRun | None = None
    ami_id: str = ""  # empty: AL2023 from AWS's parameter, resolved once
    create_spot_service_linked_roles: bool = True

    def __post_init__(self) -> None:
        if self.worker_capacity < 1 or not self.worker_instance_types:
            raise ValueError("a Locust fleet has at least one worker and one worker instance type")
        if not 0 <= self.wait_seconds[0] <= self.wait_seconds[1]:
            raise ValueError("wait_seconds is (min, max) with 0 <= min <= max")
        if self.ui_cidr:
            try:
                ipaddress.IPv4Network(self.ui_cidr)
            except ValueError as error:
                raise ValueError(f"ui_cidr {self.ui_cidr!r} is not an IPv4 network ({error})") from None


@dataclass(frozen=True)
class LoadTestProps:
    name: str
    network: Network
    api_url: str
    tenant_count: int
    fleet: LocustFleet


def render_bootstrap(role: str, locust_version: str, environment: Mapping[str, str], service_policy: str) -> str:
    """The user data script of one Locust role; Terraform fills in any tokens in ``environment``."""
    script = BOOTSTRAP.read_text()
    if "${" in script:
        raise ValueError(f"{BOOTSTRAP} must not contain '${{': Terraform would interpolate it")
    replacements = {
        "@@ROLE@@": role,
        "@@LOCUST_VERSION@@": locust_version,
        "@@REQUIREMENTS_LOCK@@": REQUIREMENTS_LOCK.read_text().strip(),
        "@@LOCUSTFILE_BASE64@@": base64.b64encode(LOCUSTFILE.read_bytes()).decode(),
        "@@ENVIRONMENT@@": "\n".join(f"{key}={value}" for key, value in environment.items()),
        "@@SERVICE_POLICY@@": service_policy,
    }
    for placeholder, value in replacements.items():
        script = script.replace(placeholder, value)
    return script


TOKEN = re.compile(r"(\$\{TfToken\[[^\]]+\]\})")


def compressed_user_data(script: str) -> str:
    """The script gzipped and base64-encoded (cloud-init unpacks it): EC2 allows 16 KB of user data, and the
    script carries the locustfile and the hash-locked requirements. Literal parts are escaped as raw
    strings, so the script's own quotes and backslashes reach the instance unchanged; Terraform fills in
    the values (the primary's address) before compressing."""
    parts = [part if TOKEN.fullmatch(part) else Fn.raw_string(part) for part in TOKEN.split(script) if part]
    return Fn.base64gzip(Fn.join("", parts))


class LoadTest(Construct):
    def __init__(self, scope: Construct, id: str, props: LoadTestProps) -> None:
        super().__init__(scope, id)
        network = props.network
        ami = props.fleet.ami_id or DataAwsSsmParameter(self, "ami", name=AMI_PARAMETER).value
        keep_resolved_ami = None if props.fleet.ami_id else ["ami"]
        self.reports = PrivateBucket(
            self,
            "reports",
            bucket_prefix=f"{props.name}-reports-",
            force_destroy=True,
        ).bucket
        S3BucketLifecycleConfiguration(
            self,
            "reports_expiry",
            bucket=self.reports.id,
            rule=[
                S3BucketLifecycleConfigurationRule(
                    id="expire-reports",
                    status="Enabled",
                    filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                    expiration=[S3BucketLifecycleConfigurationRuleExpiration(days=90)],
                )
            ],
        )
        primary_sg = network.security_group(self, "primary_sg", f"{props.name}-primary", "Locust primary: UI, workers")
        worker_sg = network.security_group(self, "worker_sg", f"{props.name}-worker", "Locust workers: to the primary")
        allow_tcp(
            self,
            "workers_to_primary",
            source=worker_sg,
            target=primary_sg,
            port=MASTER_PORT,
            description="Locust workers to the primary's master port",
        )
        for group in (primary_sg, worker_sg):
            # Package repositories, PyPI and the API (through its VPC endpoint) are all HTTPS.
            VpcSecurityGroupEgressRule(
                self,
                f"{group.node.id}_https_out",
                security_group_id=group.id,
                description="HTTPS: packages, PyPI, the access API",
                ip_protocol="tcp",
                from_port=HTTPS_PORT,
                to_port=HTTPS_PORT,
                cidr_ipv4="0.0.0.0/0",
            )
        if props.fleet.ui_cidr:
            VpcSecurityGroupIngressRule(
                self,
                "ui_in",
                security_group_id=primary_sg.id,
                ip_protocol="tcp",
                from_port=WEB_PORT,
                to_port=WEB_PORT,
                cidr_ipv4=props.fleet.ui_cidr,
                description="Locust web UI from the configured range only",
            )

        common = {
            "LOCUST_HOST": props.api_url,
            "LOCUST_TENANT_COUNT": str(props.tenant_count),
            "LOCUST_WAIT_MIN": str(props.fleet.wait_seconds[0]),
            "LOCUST_WAIT_MAX": str(props.fleet.wait_seconds[1]),
        }
        primary_profile, primary_role = self._instance_profile(
            "primary", props.name, reports_writer=bool(props.fleet.unattended)
        )
        # The UI operator's password: the primary makes it at its first start and keeps it here, so it is
        # never in Terraform's configuration or state (`make locust-ui` reads it).
        self.ui_secret = SecretsmanagerSecret(
            self,
            "ui_credential",
            name=f"{props.name}/ui-password",
            description="Password of the Locust web UI's operator (user locust); the primary sets it",
            recovery_window_in_days=0,
        )
        if props.fleet.unattended is None:
            primary_role.add_policy(
                self,
                "primary_ui_credential",
                "keep-ui-password",
                Statement(
                    sid="MakeAndReadTheUiPassword",
                    actions=["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"],
                    resources=self.ui_secret.arn,
                ),
            )
        self.region = AwsStack.of(self).region
        self.primary = Instance(
            self,
            "primary",
            ami=ami,
            instance_type=props.fleet.primary_instance_type,
            subnet_id=network.public_subnets[0].id,
            associate_public_ip_address=True,
            vpc_security_group_ids=[primary_sg.id],
            iam_instance_profile=primary_profile.name,
            metadata_options=InstanceMetadataOptions(http_tokens="required", http_endpoint="enabled"),
            root_block_device=InstanceRootBlockDevice(encrypted=True, volume_type="gp3", volume_size=16),
            user_data_base64=compressed_user_data(
                render_bootstrap(
                    "primary",
                    props.fleet.locust_version,
                    {**common, **self._primary_mode(props, self.ui_secret.arn, self.region)},
                    self._primary_service_policy(props),
                )
            ),
            user_data_replace_on_change=True,
            tags={"Name": f"{props.name}-primary"},
            lifecycle=TerraformResourceLifecycle(ignore_changes=keep_resolved_ami) if keep_resolved_ami else None,
        )
        primary_role.used_by(self.primary)
        worker_profile, worker_role = self._instance_profile("worker", props.name, reports_writer=False)
        worker_data = render_bootstrap(
            "worker",
            props.fleet.locust_version,
            {**common, "LOCUST_MODE_WORKER": "true", "LOCUST_MASTER_NODE_HOST": self.primary.private_ip},
            "Restart=on-failure\nRestartSec=5",
        )
        template = LaunchTemplate(
            self,
            "worker_template",
            name=f"{props.name}-worker",
            image_id=ami,
            vpc_security_group_ids=[worker_sg.id],
            iam_instance_profile=LaunchTemplateIamInstanceProfile(arn=worker_profile.arn),
            metadata_options=LaunchTemplateMetadataOptions(http_tokens="required", http_endpoint="enabled"),
            block_device_mappings=[
                LaunchTemplateBlockDeviceMappings(
                    device_name="/dev/xvda",
                    ebs=LaunchTemplateBlockDeviceMappingsEbs(encrypted="true", volume_type="gp3", volume_size=16),
                )
            ],
            user_data=compressed_user_data(worker_data),
            tag_specifications=[
                LaunchTemplateTagSpecifications(resource_type="instance", tags={"Name": f"{props.name}-worker"})
            ],
            update_default_version=True,
            lifecycle=TerraformResourceLifecycle(ignore_changes=["image_id"]) if keep_resolved_ami else None,
        )
        worker_role.used_by(template)
        if AwsStack.of(self).capabilities.worker_spot_fleet:
            fleet_role = service_role(
                self,
                "fleet_role",
                name=f"{props.name}-spot-fleet",
                service="spotfleet",
                policies={},
                managed_policies=("service-role/AmazonEC2SpotFleetTaggingRole",),
            )
            linked_roles = (
                [IamServiceLinkedRole(self, id, aws_service_name=service) for id, service in SPOT_SERVICES.items()]
                if props.fleet.create_spot_service_linked_roles
                else []
            )
            self.workers = SpotFleetRequest(
                self,
                "workers",
                iam_fleet_role=fleet_role.arn,
                target_capacity=props.fleet.worker_capacity,
                allocation_strategy="capacityOptimized",
                fleet_type="maintain",
                instance_interruption_behaviour="terminate",
                terminate_instances_with_expiration=True,
                terminate_instances_on_delete="true",
                wait_for_fulfillment=False,
                launch_template_config=[
                    SpotFleetRequestLaunchTemplateConfig(
                        launch_template_specification=SpotFleetRequestLaunchTemplateConfigLaunchTemplateSpecification(
                            id=template.id, version=Fn.tostring(template.latest_version)
                        ),
                        overrides=[
                            SpotFleetRequestLaunchTemplateConfigOverrides(
                                instance_type=instance_type, subnet_id=subnet.id
                            )
                            for instance_type, subnet in itertools.product(
                                props.fleet.worker_instance_types, network.private_subnets
                            )
                        ],
                    )
                ],
                depends_on=linked_roles,
            )
            fleet_role.used_by(self.workers)

    @property
    def locust_url(self) -> str:
        """The primary's web UI (reachable from ``ui_cidr`` only, or through ``make locust-ui``)."""
        return f"http://{self.primary.public_ip}:{WEB_PORT}"

    @staticmethod
    def _primary_mode(props: LoadTestProps, ui_secret_arn: str, region: str) -> dict[str, str]:
        mode = {"LOCUST_MODE_MASTER": "true", "LOCUST_EXPECT_WORKERS": str(props.fleet.worker_capacity)}
        run = props.fleet.unattended
        if run is None:  # the web UI, behind the operator's login (loadtest/locustfile.py)
            return {
                **mode,
                "LOCUST_WEB_PORT": str(WEB_PORT),
                "LOCUST_WEB_LOGIN": "true",
                "LOCUST_UI_SECRET_ID": ui_secret_arn,
                "AWS_DEFAULT_REGION": region,
            }
        return {
            **mode,
            "LOCUST_HEADLESS": "true",
            "LOCUST_USERS": str(run.users),
            "LOCUST_SPAWN_RATE": str(run.spawn_rate),
            "LOCUST_RUN_TIME": run.run_time,
            "LOCUST_MAX_FAILURE_RATIO": str(run.max_failure_ratio),
            "LOCUST_MAX_P95_MS": str(run.max_p95_ms),
            "LOCUST_EXPECT_WORKERS_MAX_WAIT": str(run.expect_workers_max_wait_seconds),
            "LOCUST_CSV": f"{REPORTS_DIR}/locust",
            "LOCUST_HTML": f"{REPORTS_DIR}/locust.html",
            # A row per path every second: the window and per-path series make report draws.
            "LOCUST_CSV_FULL_HISTORY": "true",
        }

    def _primary_service_policy(self, props: LoadTestProps) -> str:
        if props.fleet.unattended is None:
            return "Restart=on-failure\nRestartSec=5"
        # One run per boot, whatever its verdict; the reports go to S3 either way.
        return (
            "Restart=no\n"
            f"ExecStopPost=/usr/bin/aws s3 cp --recursive {REPORTS_DIR} "
            f"s3://{self.reports.bucket}/reports/%H/"
        )

    def _instance_profile(
        self, role: str, name: str, *, reports_writer: bool
    ) -> tuple[IamInstanceProfile, ServiceRole]:
        instance_role = service_role(
            self,
            f"{role}_role",
            name=f"{name}-{role}",
            service="ec2",
            policies={},
            # Session Manager instead of SSH: no key pairs, no port 22.
            managed_policies=("AmazonSSMManagedInstanceCore",),
        )
        if reports_writer:
            instance_role.add_policy(
                self,
                f"{role}_reports",
                "write-reports",
                Statement(sid="WriteReports", actions="s3:PutObject", resources=f"{self.reports.arn}/reports/*"),
            )
        profile = IamInstanceProfile(self, f"{role}_profile", name=f"{name}-{role}", role=instance_role.name)
        return profile, instance_role
