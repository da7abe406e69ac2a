"""Resource addresses and what each resource is, for the address-stability check of refactors.

A deployed resource is known to Terraform by its address (type and logical id, which cdktf derives
from the construct path). Moving a construct changes the address, and Terraform would destroy the
deployed resource and create a new one, unless the stack ships a ``moved`` block. The manifests in
``tests/addresses/`` record, per settings variant, each address and a digest of its attributes; the
test (tests/test_addresses.py) requires every recorded address to be there still, or moved, with the
same attributes.

    pipenv run python -m tests.support.addresses       (after an intended infrastructure change)
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.support.paths import ROOT
from tests.support.synth import MAIN_STACK, synthesize

MANIFESTS = ROOT / "tests" / "addresses"
# The settings variants whose addresses are recorded: the default, and a second shard (401 tenants).
VARIANTS: dict[str, dict[str, object]] = {
    "default": {},
    "401-tenants": {"tenant_count": 401, "proxy_max_connections_percent": 33, "proxy_max_idle_connections_percent": 33},
}
ASSET_PATH = re.compile(r"assets/([^/]+)/[0-9A-F]{32}/")


def _normalised(node: Any, key: str = "") -> Any:
    """Attributes as Terraform compares them: no cdktf metadata, no asset hashes, dependencies as a set."""
    if isinstance(node, dict):
        return {k: _normalised(v, k) for k, v in sorted(node.items()) if k != "//"}
    if isinstance(node, list):
        items = [_normalised(v, key) for v in node]
        return sorted(items) if key == "depends_on" else items
    if isinstance(node, str):
        return "<sha256 of the zip>" if key in ("source_code_hash", "code") else ASSET_PATH.sub(r"assets/\1/", node)
    return node


def digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(_normalised(body), sort_keys=True).encode()).hexdigest()[:16]


def manifest(doc: dict[str, Any]) -> dict[str, str]:
    """Address -> digest of attributes, for every resource of a synthesized stack."""
    return {
        f"{type_}.{name}": digest(body)
        for type_, named in doc.get("resource", {}).items()
        for name, body in named.items()
    }


def moves(doc: dict[str, Any]) -> dict[str, str]:
    """The stack's ``moved`` blocks: old address -> new address."""
    return {move["from"]: move["to"] for move in doc.get("moved", [])}


def main() -> int:
    MANIFESTS.mkdir(exist_ok=True)
    for name, overrides in VARIANTS.items():
        with tempfile.TemporaryDirectory() as scratch:
            doc = synthesize(Path(scratch), overrides).stack(MAIN_STACK).doc
        (MANIFESTS / f"{name}.json").write_text(json.dumps(manifest(doc), indent=0, sort_keys=True) + "\n")
        print(f"recorded {len(manifest(doc))} addresses of {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
