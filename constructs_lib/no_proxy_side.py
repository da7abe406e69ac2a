"""The No Proxy side: the access function connects to the cluster's reader endpoint directly.

Each tenant logs in to Aurora as its own database user with an IAM token (IAM database
authentication on the cluster), verifying the instance certificate against the RDS CA bundle.
"""

from __future__ import annotations

from constructs import Construct

from constructs_lib.access_function import AccessTarget
from constructs_lib.database_side import DatabaseSide
from constructs_lib.function_contract import RDS_CA_FILE
from constructs_lib.tenant_iam import TenantAccessRole


class NoProxySide(DatabaseSide):
    side = "no_proxy"
    iam_database_authentication = True
    ca_file = RDS_CA_FILE

    def _access_targets(self) -> list[AccessTarget]:
        return [AccessTarget(self.cluster.cluster.reader_endpoint, self.cluster.resource_id)]

    def _tenant_access_role_scope(self, shard: int) -> tuple[Construct, str]:
        # One role per shard here too (all on the one cluster), so that no role admits another shard's tenants.
        return self.cluster, f"tenant_access_{shard}"

    def _grant_connect(self, role: TenantAccessRole, shard: int) -> None:
        self.cluster.grant_connect(role)

    def _let_the_access_function_in(self) -> None:
        self.cluster.allow_mysql_from("access", self.function.security_group, "access function to Aurora")
