"""An Aurora MySQL cluster: one writer and its readers, TLS-only, encrypted, private.

Engine versions are pinned (a supported one: settings check it against AWS's release calendar) and
instances do not upgrade themselves: with a pinned version, an automatic minor upgrade would make every
later plan try to downgrade, and the two sides of the load test must run the same version. AWS's
guide recommends the same for long-term-support versions (aws_rules.AURORA_LTS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from constructs import Construct

from constructs_lib.aws import (
    CloudwatchLogGroup,
    DbSubnetGroup,
    RdsCluster,
    RdsClusterInstance,
    RdsClusterParameterGroup,
    RdsClusterParameterGroupParameter,
    SecurityGroup,
)
from constructs_lib.aws_rules import RDS_CA_IDENTIFIER
from constructs_lib.network import Network, allow_tcp
from constructs_lib.platform import AwsStack
from constructs_lib.policy import Statement
from constructs_lib.tenancy import MYSQL_PORT

if TYPE_CHECKING:
    from constructs_lib.aws import IamRolePolicy
    from constructs_lib.iam import Grantee
    from constructs_lib.tenant_iam import TenantAccessRole

PARAMETER_GROUP_FAMILY = "aurora-mysql8.0"  # every Aurora MySQL 3 version
MASTER_USERNAME = "admin_user"
DATABASE_NAME = "main"
LOG_EXPORTS = ("error", "slowquery")
MAX_REPLICAS = 15
MAX_BACKUP_RETENTION_DAYS = 35


@dataclass(frozen=True)
class AuroraClusterProps:
    name: str
    network: Network
    engine_version: str
    writer_instance_class: str
    reader_instance_class: str
    performance_insights_retention_days: int
    iam_database_authentication: bool
    reader_count: int = 2
    backup_retention_days: int = 1
    log_retention_days: int = 30

    def __post_init__(self) -> None:
        # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Replication.html: up to 15 replicas;
        # the reader endpoint (the No Proxy side's target) needs at least one.
        if not 1 <= self.reader_count <= MAX_REPLICAS:
            raise ValueError(f"{self.name}: reader_count is 1..{MAX_REPLICAS} (Aurora's replica limit)")
        # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Managing.Backups.html: 1 to 35 days.
        if not 1 <= self.backup_retention_days <= MAX_BACKUP_RETENTION_DAYS:
            raise ValueError(f"{self.name}: backup_retention_days is 1..{MAX_BACKUP_RETENTION_DAYS}")


class AuroraCluster(Construct):
    """The master password is created and kept by RDS in Secrets Manager, never by Terraform."""

    def __init__(self, scope: Construct, id: str, props: AuroraClusterProps) -> None:
        super().__init__(scope, id)
        self.props = props
        self._capabilities = AwsStack.of(self).capabilities
        self.security_group = props.network.security_group(
            self, "db_sg", f"{props.name}-aurora", f"Aurora MySQL of {props.name}: {MYSQL_PORT} from its callers only"
        )
        subnet_group = DbSubnetGroup(self, "subnets", name=props.name, subnet_ids=props.network.private_subnet_ids)
        parameters = RdsClusterParameterGroup(
            self,
            "parameters",
            name=f"{props.name}-tls-only",
            family=PARAMETER_GROUP_FAMILY,
            description=f"{props.name}: refuse connections without TLS",
            parameter=[RdsClusterParameterGroupParameter(name="require_secure_transport", value="ON")],
        )
        # RDS exports to these groups; declared first, they are made with a retention and go on destroy.
        log_groups = [
            CloudwatchLogGroup(
                self,
                f"{export}_logs",
                name=f"/aws/rds/cluster/{props.name}/{export}",
                retention_in_days=props.log_retention_days,
            )
            for export in LOG_EXPORTS
        ]
        self.cluster = RdsCluster(
            self,
            "cluster",
            cluster_identifier=props.name,
            engine="aurora-mysql",
            engine_version=props.engine_version,
            database_name=DATABASE_NAME,
            master_username=MASTER_USERNAME,
            manage_master_user_password=True,
            storage_encrypted=True,
            iam_database_authentication_enabled=props.iam_database_authentication,
            db_subnet_group_name=subnet_group.name,
            db_cluster_parameter_group_name=parameters.name,
            vpc_security_group_ids=[self.security_group.id],
            backup_retention_period=props.backup_retention_days,
            copy_tags_to_snapshot=True,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            # A load-test database: destroy must not leave snapshots or protection behind.
            skip_final_snapshot=True,
            deletion_protection=False,
            apply_immediately=True,
            depends_on=log_groups,
        )
        self.writer = self._instance("writer", props.writer_instance_class, promotion_tier=0)
        self.readers = [
            self._instance(
                f"reader_{index + 1}",
                props.reader_instance_class,
                promotion_tier=1,
                performance_insights_retention_days=props.performance_insights_retention_days,
                depends_on=[self.writer],  # the first instance created becomes the writer
            )
            for index in range(props.reader_count)
        ]

    def _instance(
        self,
        role: str,
        instance_class: str,
        *,
        promotion_tier: int,
        performance_insights_retention_days: int | None = None,
        depends_on: list | None = None,
    ) -> RdsClusterInstance:
        insights = performance_insights_retention_days is not None
        return RdsClusterInstance(
            self,
            role,
            identifier=f"{self.props.name}-{role.replace('_', '-')}",
            cluster_identifier=self.cluster.id,
            engine=self.cluster.engine,
            engine_version=self.cluster.engine_version,
            instance_class=instance_class,
            db_subnet_group_name=self.cluster.db_subnet_group_name,
            publicly_accessible=False,
            promotion_tier=promotion_tier,
            performance_insights_enabled=insights,
            performance_insights_retention_period=performance_insights_retention_days,
            auto_minor_version_upgrade=False,
            # The CA the functions' RDS bundle is checked to hold (settings: rds_ca_bundle).
            ca_cert_identifier=RDS_CA_IDENTIFIER if self._capabilities.instance_ca_certificate else None,
            apply_immediately=True,
            depends_on=depends_on,
        )

    @property
    def instances(self) -> list[RdsClusterInstance]:
        return [self.writer, *self.readers]

    def allow_mysql_from(self, id: str, source: SecurityGroup, description: str) -> None:
        """Open the cluster's MySQL port to one caller's security group, and nothing else."""
        allow_tcp(self, id, source=source, target=self.security_group, port=MYSQL_PORT, description=description)

    def grant_master_secret_read(self, grantee: Grantee) -> IamRolePolicy:
        """Let a function log in as the master user (the secret RDS keeps for this cluster)."""
        return grantee.add_policy(
            "read-master-secret",
            Statement(
                sid="ReadMasterUserSecret", actions="secretsmanager:GetSecretValue", resources=self.master_secret_arn
            ),
        )

    def grant_connect(self, access_role: TenantAccessRole) -> None:
        """Let sessions of ``access_role`` connect to this cluster with IAM tokens, each as its own tenant."""
        access_role.grant_connect_as_tagged_tenant(self.resource_id)

    @property
    def master_secret_arn(self) -> str:
        return self.cluster.master_user_secret.get(0).secret_arn

    @property
    def resource_id(self) -> str:
        """The ``cluster-...`` id that ``rds-db:connect`` ARNs name."""
        return self.cluster.cluster_resource_id
