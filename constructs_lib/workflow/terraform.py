"""Terraform as every command here runs it: the same provider source and the same lock file.

The AWS provider comes from a local filesystem mirror when the machine has one (this project's build
machines ship hashicorp/aws 5.100.0 as one), else from the registry through a shared plugin cache.
A generated CLI configuration (``.terraform.rc``) says which, and ``make`` hands it to cdktf and
Terraform through ``TF_CLI_CONFIG_FILE``.

The dependency lock file is made on purpose, once, by ``terraform providers lock`` (from the mirror
for this platform, else from the registry for the common platforms) and copied into each synthesized
stack before cdktf runs, which is then told to leave it alone (``--skip-provider-lock``): cdktf's own
``providers lock -platform=linux_amd64`` always asks the registry, so it fails offline and left a
partial lock behind on a failed run.

    python -m constructs_lib.workflow.terraform config           (.terraform.rc)
    python -m constructs_lib.workflow.terraform setup            (.terraform.rc, .terraform.lock.hcl)
    python -m constructs_lib.workflow.terraform install-lock [cdktf.out]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI_CONFIG = ROOT / ".terraform.rc"
LOCK_FILE = ROOT / ".terraform.lock.hcl"
PLUGIN_CACHE = ROOT / ".terraform-plugin-cache"
AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"
AWS_PROVIDER_VERSION = "5.100.0"  # what cdktf-cdktf-provider-aws 20.1.0 requires
# Where a filesystem mirror of hashicorp/aws may be (TF_PROVIDER_MIRROR first).
MIRROR_SEARCH = (
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
    "/opt/*",
    "/opt/*/*",
)
# Platforms a registry-made lock file covers, so it serves the team's laptops and CI alike.
REGISTRY_PLATFORMS = ("linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64", "windows_amd64")
QUIET = {
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    "CHECKPOINT_DISABLE": "1",
}


def this_platform() -> str:
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return f"{platform.system().lower()}_{machine}"


def provider_mirror() -> Path | None:
    """A directory holding hashicorp/aws at the pinned version in Terraform's unpacked mirror layout."""
    candidates = [os.environ["TF_PROVIDER_MIRROR"]] if os.environ.get("TF_PROVIDER_MIRROR") else []
    for pattern in MIRROR_SEARCH:
        candidates += glob.glob(os.path.expanduser(pattern))
    for candidate in candidates:
        if (Path(candidate) / AWS_PROVIDER / AWS_PROVIDER_VERSION / this_platform()).is_dir():
            return Path(candidate)
    return None


def cli_config(path: Path = CLI_CONFIG) -> Path:
    """Write a Terraform CLI config: the local mirror for hashicorp/aws if any, the registry otherwise."""
    mirror = provider_mirror()
    if mirror is None:
        PLUGIN_CACHE.mkdir(exist_ok=True)
        path.write_text(f'plugin_cache_dir = "{PLUGIN_CACHE}"\n')
        return path
    # The mirror is unpacked: Terraform links to it, so no plugin cache is needed.
    path.write_text(
        f"""provider_installation {{
  filesystem_mirror {{
    path    = "{mirror}"
    include = ["{AWS_PROVIDER}"]
  }}
  direct {{
    exclude = ["{AWS_PROVIDER}"]
  }}
}}
"""
    )
    return path


def available() -> str | None:
    """Why Terraform cannot run here, or None if it can."""
    if shutil.which("terraform") is None:
        return "terraform CLI not on PATH"
    if provider_mirror() is None and not os.environ.get("TF_ALLOW_PROVIDER_DOWNLOAD"):
        return "no local hashicorp/aws 5.100.0 mirror (set TF_PROVIDER_MIRROR, or TF_ALLOW_PROVIDER_DOWNLOAD=1)"
    return None


def run(
    args: Sequence[str], cwd: Path, config: Path, env: Mapping[str, str] = {}, timeout: int = 900
) -> subprocess.CompletedProcess[str]:
    child_env = {**os.environ, **QUIET, "TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1", **env}
    return subprocess.run(
        ["terraform", *args, "-no-color"], cwd=cwd, env=child_env, capture_output=True, text=True, timeout=timeout
    )


class TerraformError(RuntimeError):
    def __init__(self, result: subprocess.CompletedProcess[str]) -> None:
        self.result = result
        super().__init__(f"terraform {result.args[1]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")


def check(result: subprocess.CompletedProcess[str]) -> str:
    if result.returncode != 0:
        raise TerraformError(result)
    return result.stdout


def write_lock_file(path: Path = LOCK_FILE, config: Path = CLI_CONFIG) -> str:
    """Make the lock file for the pinned hashicorp/aws; returns where its hashes came from."""
    mirror = provider_mirror()
    platforms = [this_platform()] if mirror else list(REGISTRY_PLATFORMS)
    with tempfile.TemporaryDirectory() as scratch:
        required = {"aws": {"source": "hashicorp/aws", "version": AWS_PROVIDER_VERSION}}
        (Path(scratch) / "main.tf.json").write_text(json.dumps({"terraform": {"required_providers": required}}))
        args = ["providers", "lock", *(f"-platform={p}" for p in platforms)]
        if mirror:
            args.append(f"-fs-mirror={mirror}")
        check(run(args, Path(scratch), config))
        shutil.copyfile(Path(scratch) / ".terraform.lock.hcl", path)
    source = f"the mirror at {mirror}" if mirror else "the registry"
    return f"{path.name}: hashicorp/aws {AWS_PROVIDER_VERSION} from {source} for {', '.join(platforms)}"


def install_lock(outdir: Path, lock: Path = LOCK_FILE) -> list[Path]:
    """Copy the lock file into every synthesized stack, where ``terraform init`` reads it."""
    if not lock.is_file():
        raise FileNotFoundError(f"{lock} is missing: run `make stacks` (or this module's `setup`) first")
    stacks = sorted(path.parent for path in outdir.glob("stacks/*/cdk.tf.json"))
    if not stacks:
        raise FileNotFoundError(f"no synthesized stack in {outdir}: synthesize first (make synth)")
    for stack in stacks:
        shutil.copyfile(lock, stack / ".terraform.lock.hcl")
    return stacks


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("config", help="write .terraform.rc")
    setup = commands.add_parser("setup", help="write .terraform.rc, and .terraform.lock.hcl if it is missing")
    setup.add_argument("--relock", action="store_true", help="make the lock file again")
    install = commands.add_parser("install-lock", help="copy the lock file into each synthesized stack")
    install.add_argument("outdir", nargs="?", default=ROOT / "cdktf.out", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command in ("config", "setup"):
            config = cli_config()
            print(f"{config.name}: hashicorp/aws from {provider_mirror() or 'the registry'}")
        if args.command == "setup" and (args.relock or not LOCK_FILE.is_file()):
            print(write_lock_file())
        if args.command == "install-lock":
            for stack in install_lock(args.outdir):
                print(f"locked {stack.name}")
    except (TerraformError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
