"""The functions' code and dependencies, packaged reproducibly at synth time.

Every zip is built byte-for-byte reproducibly (sorted entries, fixed timestamps, no bytecode), so
re-synthesizing unchanged code gives the same hash and ``terraform plan`` shows no change. The Python
dependency layer is built once per ``lambda/requirements.txt`` with pip for the Lambda platform; the
Node.js one (the access function's other runtime) once per ``lambda/nodejs/package-lock.json`` with
``npm ci``; both are cached under ``build/``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import certifi
from cdktf import AssetType, TerraformAsset
from constructs import Construct

from constructs_lib.aws import LambdaLayerVersion
from constructs_lib.function_contract import (
    AMAZON_ROOT_CA_FILE,
    LAMBDA_RUNTIME_IDS,
    RDS_CA_FILE,
    AccessRuntime,
    runtime_contract,
)

ROOT = Path(__file__).resolve().parents[1]
FUNCTION_SOURCES = ROOT / "lambda"
REQUIREMENTS = FUNCTION_SOURCES / "requirements.txt"
# Tenant naming, the functions' contract and the TLS name rules are shared with the synthesizer: ship
# the very same files, not copies of them.
SHARED_MODULES = {
    "constructs_lib/__init__.py": b"",
    "constructs_lib/tenancy.py": None,
    "constructs_lib/function_contract.py": None,
    "constructs_lib/endpoints.py": None,
}
BUILD_DIR = ROOT / "build" / "lambda"

RUNTIME = LAMBDA_RUNTIME_IDS["python"]
NODEJS_RUNTIME = LAMBDA_RUNTIME_IDS["nodejs"]  # the access function's other runtime
NODEJS_SOURCES = FUNCTION_SOURCES / "nodejs"
NODEJS_CONTRACT_FILE = "contract.json"
ARCHITECTURE = "x86_64"
PIP_PLATFORM = "manylinux2014_x86_64"
FIXED_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
# boto3 and its dependencies come with the Lambda runtime; a second botocore in the layer would
# shadow the runtime's and could mismatch its boto3.
RUNTIME_PROVIDED = re.compile(r"^(boto3|botocore|s3transfer|jmespath|dateutil|python_dateutil|six|urllib3|bin)([-.]|$)")


def write_reproducible_zip(files: Mapping[str, bytes], destination: Path) -> str:
    """Write ``files`` into a zip that depends only on names and contents; return its base64 SHA-256."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIMESTAMP)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    partial.replace(destination)
    return base64.b64encode(hashlib.sha256(destination.read_bytes()).digest()).decode()


def amazon_root_cas() -> bytes:
    """Amazon Root CA 1-4 from certifi's Mozilla bundle (pinned and hash-checked by Pipfile.lock)."""
    blocks = Path(certifi.where()).read_text().split("\n\n")
    chosen = [block.strip() for block in blocks if '# Label: "Amazon Root CA' in block]
    if len(chosen) != 4:
        raise RuntimeError(f"expected Amazon Root CA 1-4 in {certifi.where()}, found {len(chosen)}")
    return ("\n\n".join(chosen) + "\n").encode()


def code_files(rds_ca_pem: bytes) -> dict[str, bytes]:
    files = {path.name: path.read_bytes() for path in sorted(FUNCTION_SOURCES.glob("*.py"))}
    for name, content in SHARED_MODULES.items():
        files[name] = (ROOT / name).read_bytes() if content is None else content
    files[AMAZON_ROOT_CA_FILE] = amazon_root_cas()
    files[RDS_CA_FILE] = rds_ca_pem
    return files


def nodejs_code_files(rds_ca_pem: bytes) -> dict[str, bytes]:
    """The Node.js access function: its modules, the contract they read, the same trust stores."""
    files = {path.name: path.read_bytes() for path in sorted(NODEJS_SOURCES.glob("*.js"))}
    files["package.json"] = (NODEJS_SOURCES / "package.json").read_bytes()  # "type": "commonjs"
    files[NODEJS_CONTRACT_FILE] = (json.dumps(runtime_contract(), indent=2, sort_keys=True) + "\n").encode()
    files[AMAZON_ROOT_CA_FILE] = amazon_root_cas()
    files[RDS_CA_FILE] = rds_ca_pem
    return files


def nodejs_dependency_files() -> dict[str, bytes]:
    """The layer's files (``nodejs/node_modules/...``): exactly what package-lock.json pins, production only.

    The packages are plain JavaScript (no native builds, install scripts off), so the machine that
    packages them does not matter; cached per lock file.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("packaging the Node.js access function needs npm (Node.js 20 or later)")

    def lock_file_in(scratch: Path) -> None:
        (scratch / "nodejs").mkdir()
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(NODEJS_SOURCES / name, scratch / "nodejs" / name)

    target = _installed_once(
        BUILD_DIR / f"node-deps-{_nodejs_dependencies_key()}",
        "the Node.js dependency layer",
        lambda scratch: [npm, "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        workdir="nodejs",
        prepare=lock_file_in,
    )
    return {
        path.relative_to(target).as_posix(): path.read_bytes()
        for path in sorted(target.rglob("*"))
        if path.is_file() and path.name != ".package-lock.json"  # npm's own cache of the tree, with local paths
    }


def _installed_once(
    target: Path,
    what: str,
    command: Callable[[Path], list[str]],
    workdir: str = ".",
    prepare: Callable[[Path], None] = lambda scratch: None,
) -> Path:
    """Run an installer into a scratch directory and make it ``target``: a cache entry is complete or absent."""
    if not target.is_dir():
        BUILD_DIR.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=BUILD_DIR, prefix=f"{target.name}-building-"))
        prepare(scratch)
        result = subprocess.run(command(scratch), cwd=scratch / workdir, capture_output=True, text=True)
        if result.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            raise RuntimeError(f"building {what} failed:\n{result.stderr[-3000:]}")
        scratch.rename(target)  # atomic
    return target


def _dependencies_key() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes() + f"{RUNTIME}/{PIP_PLATFORM}".encode()).hexdigest()[:16]


def _zipped_once(destination: Path, files: Callable[[], dict[str, bytes]]) -> tuple[Path, str]:
    """A layer zip and its base64 SHA-256, written once per name (the names carry their inputs' hash)."""
    if destination.exists():
        return destination, base64.b64encode(hashlib.sha256(destination.read_bytes()).digest()).decode()
    return destination, write_reproducible_zip(files(), destination)


def dependencies_zip() -> tuple[Path, str]:
    """The layer zip and its base64 SHA-256, built once per requirements."""
    return _zipped_once(BUILD_DIR / f"dependencies-{_dependencies_key()}.zip", dependency_files)


def _nodejs_dependencies_key() -> str:
    pinned = (NODEJS_SOURCES / "package.json").read_bytes() + (NODEJS_SOURCES / "package-lock.json").read_bytes()
    return hashlib.sha256(pinned + NODEJS_RUNTIME.encode()).hexdigest()[:16]


def nodejs_dependencies_zip() -> tuple[Path, str]:
    """The Node.js layer zip and its base64 SHA-256, built once per lock file."""
    return _zipped_once(BUILD_DIR / f"dependencies-nodejs-{_nodejs_dependencies_key()}.zip", nodejs_dependency_files)


def dependency_files() -> dict[str, bytes]:
    """The layer's files (``python/...``), from pip for the Lambda platform; cached per requirements."""
    target = _installed_once(
        BUILD_DIR / f"deps-{_dependencies_key()}",
        "the Lambda dependency layer",
        lambda scratch: [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--target",
            str(scratch / "python"),
            "--platform",
            PIP_PLATFORM,
            "--implementation",
            "cp",
            "--python-version",
            RUNTIME.removeprefix("python"),
            "--only-binary=:all:",
            "-r",
            str(REQUIREMENTS),
        ],
    )
    return {
        path.relative_to(target).as_posix(): path.read_bytes()
        for path in sorted(target.rglob("*"))
        if path.is_file()
        and "__pycache__" not in path.parts
        and not path.name.endswith(".pyc")
        and not RUNTIME_PROVIDED.match(path.relative_to(target / "python").parts[0])
    }


@dataclass(frozen=True)
class FunctionPackageProps:
    name: str
    rds_ca_pem: bytes  # checked by settings (constructs_lib/rds_ca.py): holds the region's RDS root CA
    language: AccessRuntime = "python"  # nodejs: the access function's Node.js code (lambda/nodejs/)

    def __post_init__(self) -> None:
        if b"BEGIN CERTIFICATE" not in self.rds_ca_pem:
            raise ValueError("rds_ca_pem must hold PEM certificates: functions that verify Aurora need them")
        if self.language not in get_args(AccessRuntime):
            raise ValueError(f"language is one of {', '.join(get_args(AccessRuntime))}, not {self.language!r}")


class FunctionPackage(Construct):
    """One code zip for the functions of one language (they share modules), and its dependency layer."""

    def __init__(self, scope: Construct, id: str, props: FunctionPackageProps) -> None:
        super().__init__(scope, id)
        if props.language == "nodejs":
            self.runtime = NODEJS_RUNTIME
            code_zip, files = BUILD_DIR / "code-nodejs.zip", nodejs_code_files(props.rds_ca_pem)
            (layer_zip, layer_hash), layer_name = nodejs_dependencies_zip(), f"{props.name}-nodejs-dependencies"
            description = "mysql2, AWS SDK STS and RDS signer, Powertools (see lambda/nodejs/package-lock.json)"
        else:
            self.runtime = RUNTIME
            code_zip, files = BUILD_DIR / "code.zip", code_files(props.rds_ca_pem)
            (layer_zip, layer_hash), layer_name = dependencies_zip(), f"{props.name}-dependencies"
            description = "pymysql, aws-lambda-powertools (see lambda/requirements.txt)"
        self.code_hash = write_reproducible_zip(files, code_zip)
        self.code = TerraformAsset(self, "code", path=str(code_zip), type=AssetType.FILE)
        layer_asset = TerraformAsset(self, "dependencies", path=str(layer_zip), type=AssetType.FILE)
        self.layer = LambdaLayerVersion(
            self,
            "layer",
            layer_name=layer_name,
            description=description,
            filename=layer_asset.path,
            source_code_hash=layer_hash,
            compatible_runtimes=[self.runtime],
            compatible_architectures=[ARCHITECTURE],
        )
