"""Snapshots of the synthesized stacks, normalised so they change only when the infrastructure does.

Update deliberately with ``make test PYTEST_ARGS="--snapshot-update"`` and review the diff.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from tests.support.paths import ROOT
from tests.support.synth import BOOTSTRAP_STACK, MAIN_STACK, synthesize

# Content hashes of the function zips change with every code edit, not with the infrastructure.
ASSET_PATH = re.compile(r"assets/([^/]+)/[0-9A-F]{32}/")
HASHED_KEYS = {"source_code_hash", "code"}


def normalise(node, outdir: Path, key=""):
    if isinstance(node, dict):
        return {k: normalise(v, outdir, k) for k, v in node.items() if k != "//"}
    if isinstance(node, list):
        return [normalise(v, outdir, key) for v in node]
    if isinstance(node, str):
        if key in HASHED_KEYS:
            return "<sha256 of the zip>"
        text = node.replace(str(outdir), "<outdir>").replace(str(ROOT), "<project>")
        return ASSET_PATH.sub(r"assets/\1/<hash>/", text)
    return node


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("snapshot"), {"tenant_count": 3})


@pytest.mark.parametrize("stack_name", [MAIN_STACK, BOOTSTRAP_STACK])
def test_synthesized_stack_matches_its_snapshot(small, snapshot_json, stack_name):
    assert normalise(small.stack(stack_name).doc, small.outdir) == snapshot_json
