"""Remote state: the S3 backend of the main stack, and the bootstrap that creates its bucket.

The bootstrap stack keeps local state (it creates the bucket the others need). Locking uses S3
lock files; a DynamoDB table is added when ``state_lock_table`` is set, for teams that still
run Terraform older than 1.10 against the same state.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import LocalBackend, S3Backend, S3BackendEndpointConfig, TerraformStack
from constructs import Construct

from constructs_lib.aws import (
    DynamodbTable,
    DynamodbTableAttribute,
    DynamodbTablePointInTimeRecovery,
    DynamodbTableServerSideEncryption,
    S3BucketVersioningA,
    S3BucketVersioningVersioningConfiguration,
)
from constructs_lib.emulator import EMULATOR_CREDENTIALS, backend_endpoints
from constructs_lib.private_bucket import PrivateBucket


@dataclass(frozen=True)
class StateProps:
    bucket: str
    key: str
    region: str
    local_state_file: str  # the bootstrap stack's own state (absolute path)
    lock_table: str = ""
    emulator_endpoint: str = ""


def use_remote_state(stack: TerraformStack, props: StateProps) -> None:
    """Keep ``stack``'s state in the bootstrap bucket: encrypted, versioned, locked."""
    emulator = (
        {
            "endpoints": S3BackendEndpointConfig(**backend_endpoints(props.emulator_endpoint)),
            "skip_credentials_validation": True,
            "skip_region_validation": True,
            "skip_metadata_api_check": True,
            "skip_requesting_account_id": True,
            "access_key": EMULATOR_CREDENTIALS[0],
            "secret_key": EMULATOR_CREDENTIALS[1],
        }
        if props.emulator_endpoint
        else {}
    )
    S3Backend(
        stack,
        bucket=props.bucket,
        key=props.key,
        region=props.region,
        encrypt=True,
        dynamodb_table=props.lock_table or None,
        **emulator,
    )
    # cdktf 0.21 has no typed fields for S3-native locking (Terraform >= 1.10) or use_path_style.
    stack.add_override("terraform.backend.s3.use_lockfile", True)
    if props.emulator_endpoint:
        stack.add_override("terraform.backend.s3.use_path_style", True)


class StateBootstrap(Construct):
    """The state bucket (versioned, encrypted, private, TLS-only) and, if asked for, the lock table."""

    def __init__(self, scope: Construct, id: str, props: StateProps) -> None:
        super().__init__(scope, id)
        LocalBackend(TerraformStack.of(self), path=props.local_state_file)
        self.bucket = PrivateBucket(self, "bucket", bucket=props.bucket).bucket
        S3BucketVersioningA(
            self,
            "versioning",
            bucket=self.bucket.id,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )
        self.lock_table = (
            DynamodbTable(
                self,
                "lock_table",
                name=props.lock_table,
                billing_mode="PAY_PER_REQUEST",
                hash_key="LockID",
                attribute=[DynamodbTableAttribute(name="LockID", type="S")],
                server_side_encryption=DynamodbTableServerSideEncryption(enabled=True),
                point_in_time_recovery=DynamodbTablePointInTimeRecovery(enabled=True),
            )
            if props.lock_table
            else None
        )
