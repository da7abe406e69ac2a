"""Custom checkov check: every RDS Proxy requires TLS, and IAM authentication on every auth entry."""

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck


def _first(value):
    return value[0] if isinstance(value, list) and value else value


class RdsProxyRequiresTlsAndIamAuth(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure every RDS Proxy requires TLS and IAM authentication for every auth entry",
            id="CKV_TENANTDB_1",
            categories=[CheckCategories.ENCRYPTION],
            supported_resources=["aws_db_proxy"],
        )

    def scan_resource_conf(self, conf) -> CheckResult:
        if _first(conf.get("require_tls")) is not True:
            return CheckResult.FAILED
        entries = conf.get("auth") or []
        if not entries:
            return CheckResult.FAILED
        for entry in entries:
            entry = _first(entry) if isinstance(entry, list) else entry
            if _first(entry.get("iam_auth")) != "REQUIRED":
                return CheckResult.FAILED
        return CheckResult.PASSED


check = RdsProxyRequiresTlsAndIamAuth()
