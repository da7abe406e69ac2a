"""Run Terraform on synthesized stacks, with the AWS provider from a local mirror when there is one.

On this project's build machines the image ships hashicorp/aws as a filesystem mirror; we point
Terraform at it with a generated CLI config. Elsewhere Terraform downloads the provider from the
registry as usual (into a shared plugin cache, so it happens once).
"""

from __future__ import annotations

import glob
import os
import platform
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.support.paths import QUIET_TOOLS_ENV, ROOT

AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"
AWS_PROVIDER_VERSION = "5.100.0"
MIRROR_SEARCH = (
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
    "/opt/*",
    "/opt/*/*",
)


def _platform() -> str:
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return f"{platform.system().lower()}_{machine}"


def provider_mirror() -> Path | None:
    """A directory holding hashicorp/aws at the pinned version in Terraform's unpacked mirror layout."""
    candidates = [os.environ["TF_PROVIDER_MIRROR"]] if os.environ.get("TF_PROVIDER_MIRROR") else []
    for pattern in MIRROR_SEARCH:
        candidates += glob.glob(os.path.expanduser(pattern))
    for candidate in candidates:
        if (Path(candidate) / AWS_PROVIDER / AWS_PROVIDER_VERSION / _platform()).is_dir():
            return Path(candidate)
    return None


def cli_config(directory: Path) -> Path:
    """Write a Terraform CLI config: the local mirror for hashicorp/aws if any, the registry otherwise."""
    cache = ROOT / ".terraform-plugin-cache"
    cache.mkdir(exist_ok=True)
    mirror = provider_mirror()
    installation = ""
    if mirror is not None:
        installation = f"""
provider_installation {{
  filesystem_mirror {{
    path    = "{mirror}"
    include = ["{AWS_PROVIDER}"]
  }}
  direct {{
    exclude = ["{AWS_PROVIDER}"]
  }}
}}
"""
    path = directory / "terraform.rc"
    # The mirror is unpacked: Terraform links to it, so the cache is only for registry downloads.
    cache_line = "" if mirror else f'plugin_cache_dir = "{cache}"\n'
    path.write_text(cache_line + installation)
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
    child_env = {**os.environ, **QUIET_TOOLS_ENV, "TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1", **env}
    return subprocess.run(
        ["terraform", *args, "-no-color"], cwd=cwd, env=child_env, capture_output=True, text=True, timeout=timeout
    )


def check(result: subprocess.CompletedProcess[str]) -> str:
    if result.returncode != 0:
        raise AssertionError(f"terraform {result.args[1]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result.stdout


# Warnings `terraform validate` may print for these stacks, each for its reason; any other fails.
KNOWN_WARNINGS = {
    "reset_on_delete": "aws_api_gateway_account.reset_on_delete is deprecated in provider 5.x because 6.x always "
    "resets the account setting on destroy; 5.x leaves it pointing at a deleted role without it",
}


def validate(stack_dir: Path, config: Path) -> str:
    """``terraform validate``; raises unless it succeeds with no warning beyond KNOWN_WARNINGS."""
    check(run(["init", "-backend=false", "-input=false"], stack_dir, config))
    output = check(run(["validate"], stack_dir, config))
    if "Success! The configuration is valid" not in output:
        raise AssertionError(output)
    for warning in output.split("Warning: ")[1:]:
        if not any(known in warning for known in KNOWN_WARNINGS):
            raise AssertionError(f"unexpected terraform warning:\n{warning[:2000]}")
    return output
