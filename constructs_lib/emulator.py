"""Pointing the stacks at an AWS emulator on this machine (moto's server), and what that changes.

Only what the emulator cannot do is switched off, each for a stated reason; the real stack is the
same stack minus exactly these. A stack carries one ``Capabilities`` value whose fields are the gap
keys below; constructs ask it (``AwsStack.of(self).capabilities.<key>``) instead of taking switches
as props. ``README.md`` lists the keys too (a test ties the three together).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from urllib.parse import urlsplit

# Services whose endpoints the provider and the S3 backend are pointed at.
PROVIDER_SERVICES = (
    "apigateway",
    "cloudwatch",
    "dynamodb",
    "ec2",
    "iam",
    "kms",
    "lambda_",
    "logs",
    "rds",
    "s3",
    "secretsmanager",
    "ssm",
    "sts",
)
BACKEND_SERVICES = ("dynamodb", "iam", "s3", "sts")
# moto accepts any credentials; these are written into emulated stacks' provider and backend.
EMULATOR_CREDENTIALS = ("testing", "testing")

# What an emulated deployment leaves out, and why (moto 5.2 with hashicorp/aws 5.100.0).
EMULATOR_GAPS = {
    "proxy_reader_endpoint": "moto has not implemented CreateDBProxyEndpoint (HTTP 500); the access function is "
    "pointed at each proxy's default endpoint instead",
    "worker_spot_fleet": "the provider panics reading moto's answer for a Spot Fleet with launch_template_config "
    "(hashLaunchSpecification); the Locust workers are left out",
    "api_resource_policy": "moto returns REST API resource policies in a form the provider cannot parse, and later "
    "reads of the API fail; the API is created without one",
    "bucket_tls_policy": "moto does not evaluate aws:SecureTransport and so denies every request under the "
    "buckets' deny-plain-HTTP policy; the buckets are created without it",
    "instance_ca_certificate": "moto keeps reporting rds-ca-default after a DB instance's CA is set, and the "
    "provider waits for the change until it times out; the instances are created without the CA pin",
    "function_interface_handover": "moto reports a fixed VPC id (vpc-123abc) for functions, so the provider cannot "
    "find the VPC's default security group to hand a function's network interfaces to on destroy; functions keep "
    "their own security group until deleted",
    "api_account_reset": "moto has not implemented API Gateway's UpdateAccount, which resetting the account's "
    "CloudWatch role on destroy calls (HTTP 500); the setting is left in place on destroy",
}


@dataclass(frozen=True)
class Capabilities:
    """What the deployment target can do: all of it on AWS; on the emulator, not the gaps above."""

    proxy_reader_endpoint: bool = True
    worker_spot_fleet: bool = True
    api_resource_policy: bool = True
    bucket_tls_policy: bool = True
    instance_ca_certificate: bool = True
    function_interface_handover: bool = True
    api_account_reset: bool = True

    @staticmethod
    def of_target(emulator_endpoint: str) -> Capabilities:
        """AWS when ``emulator_endpoint`` is empty; the emulator's (every gap off) otherwise."""
        if not emulator_endpoint:
            return Capabilities()
        return Capabilities(**{field.name: False for field in fields(Capabilities)})


def is_loopback_url(url: str) -> bool:
    """Emulators run on this machine only: http(s) to 127.0.0.0/8, localhost or [::1]."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return parts.scheme in ("http", "https") and (host == "localhost" or host == "::1" or host.startswith("127."))


def provider_endpoints(url: str) -> dict[str, str]:
    return {service: url for service in PROVIDER_SERVICES}


def backend_endpoints(url: str) -> dict[str, str]:
    return {service: url for service in BACKEND_SERVICES}
