"""Remote state: the S3 backend of the main stack and the bootstrap stack that makes its bucket."""

import json

from constructs_lib.settings import Settings
from tests.support.synth import BOOTSTRAP_STACK

DEFAULTS = Settings()


def test_main_stack_keeps_state_in_s3_encrypted_and_locked(stack):
    backend = stack.doc["terraform"]["backend"]
    assert list(backend) == ["s3"]
    s3 = backend["s3"]
    assert s3["bucket"] == DEFAULTS.state_bucket_name
    assert s3["key"] == DEFAULTS.state_object_key
    assert s3["region"] == DEFAULTS.state_bucket_region
    assert s3["encrypt"] is True
    assert s3["use_lockfile"] is True
    assert "dynamodb_table" not in s3


def test_lock_table_setting_adds_dynamodb_locking_and_the_table(proxy_only_synth):
    assert proxy_only_synth.stack().doc["terraform"]["backend"]["s3"]["dynamodb_table"] == "tfstate-locks"
    bootstrap = proxy_only_synth.stack(BOOTSTRAP_STACK)
    [table] = bootstrap.resources("aws_dynamodb_table")
    assert table.body["name"] == "tfstate-locks"
    assert table.body["hash_key"] == "LockID"
    assert table.body["server_side_encryption"]["enabled"] is True


def test_bootstrap_stack_keeps_local_state_and_makes_a_private_versioned_encrypted_bucket(default_synth):
    bootstrap = default_synth.stack(BOOTSTRAP_STACK)
    assert list(bootstrap.doc["terraform"]["backend"]) == ["local"]
    assert not bootstrap.resources("aws_dynamodb_table")
    [bucket] = bootstrap.resources("aws_s3_bucket")
    assert bucket.body["bucket"] == DEFAULTS.state_bucket_name

    def attached(type_):
        [resource] = [r for r in bootstrap.resources(type_) if r.body["bucket"] == bucket.ref("id")]
        return resource.body

    assert attached("aws_s3_bucket_versioning")["versioning_configuration"]["status"] == "Enabled"
    [rule] = attached("aws_s3_bucket_server_side_encryption_configuration")["rule"]
    assert rule["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
    block = attached("aws_s3_bucket_public_access_block")
    assert all(
        block[flag] is True
        for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    [statement] = json.loads(attached("aws_s3_bucket_policy")["policy"])["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_state_settings_reach_the_backend(tmp_path):
    from tests.support.synth import synthesize

    synth = synthesize(
        tmp_path,
        {
            "create_load_test_stack": False,
            "tenant_count": 1,
            "state_bucket": "acme-state",
            "state_key": "team/db.tfstate",
            "state_region": "eu-central-1",
        },
    )
    s3 = synth.stack().doc["terraform"]["backend"]["s3"]
    assert (s3["bucket"], s3["key"], s3["region"]) == ("acme-state", "team/db.tfstate", "eu-central-1")
    bootstrap = synth.stack(BOOTSTRAP_STACK)
    assert bootstrap.doc["provider"]["aws"][0]["region"] == "eu-central-1"
    assert bootstrap.resources("aws_s3_bucket")[0].body["bucket"] == "acme-state"
