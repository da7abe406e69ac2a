"""The Node.js access function's own unit tests (``lambda/nodejs/test``), run with node's test runner on the
package as synth builds it, so CI runs them with the rest of the suite."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from loadtest.local.nodejs_package import node_environment, stage_nodejs_function
from tests.support.paths import ROOT

UNIT_TESTS = ROOT / "lambda" / "nodejs" / "test"


def test_the_nodejs_unit_tests_pass_on_the_packaged_function(tmp_path):
    staged = stage_nodejs_function(tmp_path)
    shutil.copytree(UNIT_TESTS, staged / "test")
    files = sorted(str(path.relative_to(staged)) for path in (staged / "test").glob("*.test.js"))
    result = subprocess.run(
        ["node", "--test", "--test-reporter=tap", *files],
        cwd=staged,
        env={"PATH": os.environ["PATH"], **node_environment(staged), "AWS_REGION": "us-east-1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    summary = dict(re.findall(r"^# (tests|pass|fail|skipped|todo|cancelled) (\d+)$", result.stdout, re.MULTILINE))
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert int(summary["pass"]) == int(summary["tests"]) >= 14, summary  # every test ran, none skipped
    assert summary["fail"] == summary["skipped"] == summary["todo"] == summary["cancelled"] == "0", summary
