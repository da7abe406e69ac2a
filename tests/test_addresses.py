"""Refactors keep deployed resources: every recorded address is still there, or moved, and unchanged.

The manifests (tests/addresses/, made by ``python -m tests.support.addresses``) record the default
stack and a 401-tenant one (two shards). A construct that moves without a ``moved`` block would make
Terraform destroy and re-create what it stands for, secrets, proxies and clusters included.
"""

from __future__ import annotations

import json

import pytest

from tests.support.addresses import MANIFESTS, VARIANTS, digest, manifest, moves
from tests.support.synth import MAIN_STACK, synthesize


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def synthesized(request, tmp_path_factory):
    doc = (
        synthesize(tmp_path_factory.mktemp(f"addresses-{request.param}"), VARIANTS[request.param]).stack(MAIN_STACK).doc
    )
    recorded = json.loads((MANIFESTS / f"{request.param}.json").read_text())
    return recorded, doc


def test_every_recorded_resource_keeps_its_address_or_is_moved(synthesized):
    recorded, doc = synthesized
    now, moved = manifest(doc), moves(doc)
    lost = [address for address in recorded if address not in now and moved.get(address) not in now]
    assert not lost, f"{len(lost)} resources would be destroyed and created again: {lost[:10]}"


def test_every_recorded_resource_keeps_its_attributes(synthesized):
    recorded, doc = synthesized
    now, moved = manifest(doc), moves(doc)
    changed = [
        address for address, attributes in recorded.items() if now.get(moved.get(address, address)) != attributes
    ]
    assert not changed, f"changed: {changed[:10]} (after an intended change: python -m tests.support.addresses)"


def test_nothing_new_appears_without_being_recorded(synthesized):
    recorded, doc = synthesized
    moved_to = set(moves(doc).values())
    new = [address for address in manifest(doc) if address not in recorded and address not in moved_to]
    assert not new, new[:10]


def test_the_check_sees_a_move_without_a_moved_block():
    """A renamed construct changes addresses: the check must see it (and accept it with a moved block)."""
    before = {"resource": {"aws_kms_key": {"proxy_rds_proxy_0_secrets_key_3DECD4B5": {"description": "k"}}}}
    renamed = {"resource": {"aws_kms_key": {"proxy_shard_0_secrets_key_0A1B2C3D": {"description": "k"}}}}
    recorded, now = manifest(before), manifest(renamed)
    assert [a for a in recorded if a not in now] == ["aws_kms_key.proxy_rds_proxy_0_secrets_key_3DECD4B5"]
    with_move = {
        **renamed,
        "moved": [
            {
                "from": "aws_kms_key.proxy_rds_proxy_0_secrets_key_3DECD4B5",
                "to": "aws_kms_key.proxy_shard_0_secrets_key_0A1B2C3D",
            }
        ],
    }
    assert now[moves(with_move)["aws_kms_key.proxy_rds_proxy_0_secrets_key_3DECD4B5"]] == digest(
        before["resource"]["aws_kms_key"]["proxy_rds_proxy_0_secrets_key_3DECD4B5"]
    )
