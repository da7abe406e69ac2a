"""An S3 bucket nobody outside the account reaches: encrypted, public access blocked, TLS only."""

from __future__ import annotations

from constructs import Construct

from constructs_lib.aws import (
    S3Bucket,
    S3BucketOwnershipControls,
    S3BucketOwnershipControlsRule,
    S3BucketPolicy,
    S3BucketPublicAccessBlock,
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from constructs_lib.platform import AwsStack
from constructs_lib.policy import Statement, document


class PrivateBucket(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        bucket: str | None = None,
        bucket_prefix: str | None = None,
        force_destroy: bool = False,
    ) -> None:
        super().__init__(scope, id)
        self.bucket = S3Bucket(self, "bucket", bucket=bucket, bucket_prefix=bucket_prefix, force_destroy=force_destroy)
        S3BucketServerSideEncryptionConfigurationA(
            self,
            "encryption",
            bucket=self.bucket.id,
            rule=[
                S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=(
                        S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                            sse_algorithm="aws:kms"
                        )
                    ),
                    bucket_key_enabled=True,
                )
            ],
        )
        S3BucketPublicAccessBlock(
            self,
            "public_access_block",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        S3BucketOwnershipControls(
            self,
            "ownership",
            bucket=self.bucket.id,
            rule=S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"),
        )
        if not AwsStack.of(self).capabilities.bucket_tls_policy:
            return
        S3BucketPolicy(
            self,
            "tls_only",
            bucket=self.bucket.id,
            policy=document(
                Statement(
                    sid="DenyInsecureTransport",
                    effect="Deny",
                    principal="*",
                    actions="s3:*",
                    resources=[self.bucket.arn, f"{self.bucket.arn}/*"],
                    conditions={"Bool": {"aws:SecureTransport": "false"}},
                )
            ),
        )
