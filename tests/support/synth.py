"""Run the app as a user would (``python main.py --set ...``) and read what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from constructs_lib.stack_names import BOOTSTRAP_STACK, MAIN_STACK  # noqa: F401  (re-exported to the tests)
from tests.support.paths import MAIN, QUIET_TOOLS_ENV, ROOT

BOOTSTRAP_STATE_FILE = "terraform.state-bootstrap.tfstate"


def run_main(
    outdir: Path, overrides: Mapping[str, object] = {}, env: Mapping[str, str] = {}, python: str = sys.executable
) -> subprocess.CompletedProcess[str]:
    args = [python, str(MAIN)]
    for key, value in overrides.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        args += ["--set", f"{key}={text}"]
    child_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RDSPROXY_")},
        **QUIET_TOOLS_ENV,
        "CDKTF_OUTDIR": str(outdir),
        # Terraform runs of the tests keep the bootstrap stack's local state with them, never in the project.
        "RDSPROXY_STATE_BOOTSTRAP_FILE": str(outdir / BOOTSTRAP_STATE_FILE),
        **env,
    }
    return subprocess.run(args, cwd=ROOT, env=child_env, capture_output=True, text=True, timeout=600)


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    body: dict[str, Any]

    @property
    def path(self) -> str:
        return self.body["//"]["metadata"]["path"]

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"

    def ref(self, attribute: str) -> str:
        """The Terraform expression another resource uses to name this one's attribute."""
        return "${" + f"{self.address}.{attribute}" + "}"


@dataclass(frozen=True)
class Stack:
    directory: Path
    doc: dict[str, Any]

    def resources(self, type_: str | None = None) -> list[Resource]:
        return [
            Resource(rtype, name, body)
            for rtype, named in self.doc.get("resource", {}).items()
            if type_ in (None, rtype)
            for name, body in named.items()
        ]

    def under(self, path_prefix: str) -> list[Resource]:
        return [r for r in self.resources() if r.path.startswith(f"{self.directory.name}/{path_prefix}")]

    def data(self, type_: str) -> dict[str, Any]:
        return self.doc.get("data", {}).get(type_, {})

    @property
    def outputs(self) -> dict[str, Any]:
        return self.doc.get("output", {})

    def referencing(self, target: Resource, attribute: str) -> Iterator[Resource]:
        needle = target.ref(attribute)
        return (r for r in self.resources() if needle in json.dumps(r.body))


@dataclass(frozen=True)
class Synth:
    outdir: Path

    def stack(self, name: str = MAIN_STACK) -> Stack:
        directory = self.outdir / "stacks" / name
        return Stack(directory, json.loads((directory / "cdk.tf.json").read_text()))

    @property
    def stack_names(self) -> list[str]:
        return sorted(p.name for p in (self.outdir / "stacks").iterdir())


def synthesize(outdir: Path, overrides: Mapping[str, object] = {}) -> Synth:
    result = run_main(outdir, overrides)
    if result.returncode != 0:
        raise AssertionError(f"synth failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return Synth(outdir)


def user_data_script(stack: Stack, resource: Resource) -> str:
    """The script an instance or launch template receives, unpacked, with Terraform references as ${...} text."""
    import base64
    import gzip

    from constructs_lib.terraform_values import Evaluator

    encoded = resource.body.get("user_data_base64") or resource.body["user_data"]
    return gzip.decompress(base64.b64decode(Evaluator.for_stack(stack.doc, symbolic=True).string(encoded))).decode()
