"""Terraform's own verdict on the synthesized JSON, with the real hashicorp/aws 5.100.0 provider."""

import json
import shutil

import pytest

from tests.support import terraform
from tests.support.synth import BOOTSTRAP_STACK, MAIN_STACK

pytestmark = pytest.mark.terraform


@pytest.mark.parametrize("variant", ["default", "proxy_only", "nodejs"])
@pytest.mark.parametrize("stack_name", [MAIN_STACK, BOOTSTRAP_STACK])
def test_terraform_validate_accepts_the_stack(synth_variant, terraform_config, variant, stack_name):
    stack_dir = synth_variant(variant).stack(stack_name).directory
    assert "Success! The configuration is valid" in terraform.validate(stack_dir, terraform_config)


@pytest.fixture(scope="module")
def aws_resource_schemas(default_synth, terraform_config, tmp_path_factory):
    """The provider's resource schemas, read through an initialized copy of the bootstrap stack."""
    work = tmp_path_factory.mktemp("schema") / "stack"
    shutil.copytree(default_synth.stack(BOOTSTRAP_STACK).directory, work, ignore=shutil.ignore_patterns(".terraform*"))
    # A local backend needs no credentials, and `providers schema` wants an initialized backend.
    terraform.check(terraform.run(["init", "-input=false"], work, terraform_config))
    schema = json.loads(terraform.check(terraform.run(["providers", "schema", "-json"], work, terraform_config)))
    return schema["provider_schemas"][terraform.AWS_PROVIDER]["resource_schemas"]


def test_every_taggable_resource_carries_its_side_tag(stack, aws_resource_schemas):
    checked = 0
    for side in ("proxy", "no_proxy", "load_test"):
        for resource in stack.under(side):
            if "tags" in aws_resource_schemas[resource.type]["block"]["attributes"]:
                assert resource.body.get("tags", {}).get("side") == side, resource.address
                checked += 1
    assert checked > 50
