"""Project shape: layout, the single provider-binding module, and the cdktf CLI entry point."""

import ast
import json
import os
import re
import subprocess
import sys

import pytest

from tests.support.paths import QUIET_TOOLS_ENV, ROOT
from tests.support.synth import MAIN_STACK

PROVIDER_PACKAGE = "cdktf_cdktf_provider_aws"
CDKTF_CLI = ROOT / ".tools" / "node" / "node_modules" / ".bin" / "cdktf"


def python_files():
    skip = {".venv", "node_modules", "cdktf.out", ".git", ".tools"}
    for path in ROOT.rglob("*.py"):
        if not skip.intersection(path.relative_to(ROOT).parts):
            yield path


def test_top_level_layout():
    expected = {
        "main.py",
        "cdktf.json",
        "constructs_lib",
        "lambda",
        "loadtest",
        "tests",
        "Pipfile",
        "Pipfile.lock",
        "README.md",
        "Makefile",
        ".ci",
    }
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    top = {path.split("/")[0] for path in tracked} - {".gitignore", ".tools", ".github"}
    assert top <= expected
    assert {"main.py", "cdktf.json", "constructs_lib", "tests", "Pipfile", "README.md", "Makefile", ".ci"} <= top


def test_pinned_stack():
    pipfile = (ROOT / "Pipfile").read_text()
    assert 'cdktf = "==0.21.0"' in pipfile
    assert 'cdktf-cdktf-provider-aws = "==20.1.0"' in pipfile
    assert json.loads((ROOT / ".tools/node/package.json").read_text())["devDependencies"]["cdktf-cli"] == "0.21.0"


def test_provider_bindings_are_imported_in_exactly_one_module():
    importers = set()
    for path in python_files():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == PROVIDER_PACKAGE for name in names):
                importers.add(path.relative_to(ROOT).as_posix())
    assert importers == {"constructs_lib/aws.py"}


def test_every_binding_imported_is_used_by_a_construct():
    from constructs_lib import aws

    sources = "\n".join(p.read_text() for p in (ROOT / "constructs_lib").glob("*.py") if p.name != "aws.py")
    unused = [name for name in aws.__all__ if name not in sources]
    assert not unused


def test_only_the_used_provider_submodules_are_loaded():
    code = (
        "import sys; import constructs_lib.aws as aws; "
        f"print(sum(1 for m in sys.modules if m.startswith('{PROVIDER_PACKAGE}.') and m.count('.') == 1))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **QUIET_TOOLS_ENV}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    loaded = int(result.stdout.split()[-1])
    assert loaded < 80, f"{loaded} provider submodules loaded; the package __init__ would load ~2,100"


def test_cdktf_cli_synthesizes_through_cdktf_json(tmp_path):
    if not CDKTF_CLI.exists():
        pytest.fail("cdktf CLI missing: run `make setup`")
    # The CLI runs cdktf.json's app command (pipenv run python main.py) and writes the output dir.
    result = subprocess.run(
        [str(CDKTF_CLI), "synth", "--output", str(tmp_path / "out")],
        cwd=ROOT,
        env={
            **os.environ,
            **QUIET_TOOLS_ENV,
            "RDSPROXY_TENANT_COUNT": "2",
            "RDSPROXY_CREATE_LOAD_TEST_STACK": "false",
            "PIPENV_VENV_IN_PROJECT": "1",
            "CI": "1",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    stack = json.loads((tmp_path / "out" / "stacks" / MAIN_STACK / "cdk.tf.json").read_text())
    assert len(stack["resource"]["aws_secretsmanager_secret"]) == 2


def test_code_is_linted_and_formatted():
    """The same ruff check as `make lint` (settings live in the Makefile: the top level stays fixed)."""
    makefile = (ROOT / "Makefile").read_text()
    args = re.search(r"^RUFF_FORMAT_ARGS := (.*)$", makefile, re.M).group(1).split()
    rules = re.search(r"^RUFF_ARGS := \$\(RUFF_FORMAT_ARGS\) (.*)$", makefile, re.M).group(1).split()
    sources = re.search(r"^PY_SOURCES := (.*)$", makefile, re.M).group(1).split()
    ruff = [sys.executable, "-m", "ruff"]
    check = subprocess.run([*ruff, "check", *args, *rules, *sources], cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout[-3000:]
    fmt = subprocess.run([*ruff, "format", "--check", *args, *sources], cwd=ROOT, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout[-3000:]
