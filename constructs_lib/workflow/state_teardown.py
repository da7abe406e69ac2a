"""``make destroy-state``, before cdktf destroys the state-bootstrap stack: check, confirm, empty the bucket.

The state bucket is versioned and not force-destroyed, so destroying the bootstrap stack as it is
fails with ``BucketNotEmpty``, and only after Terraform has already removed the bucket's versioning,
encryption, public-access block and ownership settings (they depend on the bucket, so they go
first): a failed destroy leaves an unprotected bucket. Emptying it first makes the destroy succeed.

Refuses while the main stack's state still holds resources (destroying its state would orphan them)
or a Terraform run holds the state lock; empties every object version and delete marker only when
``--confirm`` names the bucket (a terminal may type it instead).

    python -m constructs_lib.workflow.state_teardown [--confirm BUCKET]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from constructs_lib import settings as app_settings
from constructs_lib.emulator import EMULATOR_CREDENTIALS
from constructs_lib.workflow.terraform import ROOT

BATCH = 1000  # DeleteObjects takes at most 1,000 keys a call


class Refusal(RuntimeError):
    pass


@dataclass(frozen=True)
class StateBucket:
    client: object
    name: str
    key: str  # the main stack's state object

    def exists(self) -> bool:
        try:
            self.client.head_bucket(Bucket=self.name)
        except self.client.exceptions.ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise
        return True

    def managed_resources(self) -> int:
        """Resource instances the main stack's state still records (0 once destroyed, or never deployed)."""
        try:
            body = self.client.get_object(Bucket=self.name, Key=self.key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return 0
        state = json.loads(body)
        return sum(len(r.get("instances", [])) for r in state.get("resources", []) if r.get("mode") == "managed")

    def locked(self) -> bool:
        """Whether a Terraform run holds the S3 lock file of the main stack's state."""
        try:
            self.client.head_object(Bucket=self.name, Key=f"{self.key}.tflock")
        except self.client.exceptions.ClientError:
            return False
        return True

    def versions(self) -> list[dict[str, str]]:
        found = []
        for page in self.client.get_paginator("list_object_versions").paginate(Bucket=self.name):
            for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
                found.append({"Key": entry["Key"], "VersionId": entry["VersionId"]})
        return found

    def empty(self, versions: list[dict[str, str]]) -> None:
        for start in range(0, len(versions), BATCH):
            batch = versions[start : start + BATCH]
            answer = self.client.delete_objects(Bucket=self.name, Delete={"Objects": batch, "Quiet": True})
            if answer.get("Errors"):
                raise RuntimeError(f"could not delete {len(answer['Errors'])} versions: {answer['Errors'][:3]}")


def state_bucket(settings: app_settings.Settings) -> StateBucket:
    import boto3

    credentials = (
        {"aws_access_key_id": EMULATOR_CREDENTIALS[0], "aws_secret_access_key": EMULATOR_CREDENTIALS[1]}
        if settings.emulated
        else {}
    )
    client = boto3.client(
        "s3", region_name=settings.state_bucket_region, endpoint_url=settings.emulator_endpoint or None, **credentials
    )
    return StateBucket(client, settings.state_bucket_name, settings.state_object_key)


def prepare(bucket: StateBucket, confirm: str, ask=input, interactive: bool = False) -> str:
    """Check and empty the bucket; returns what was done. Raises Refusal when it must not."""
    if not bucket.exists():
        return f"s3://{bucket.name} does not exist; nothing to empty"
    remaining = bucket.managed_resources()
    if remaining:
        raise Refusal(
            f"the main stack's state (s3://{bucket.name}/{bucket.key}) still records {remaining} resources: "
            "destroying the state bucket would leave them running with nothing tracking them. "
            "Run `make destroy` first."
        )
    if bucket.locked():
        raise Refusal(f"a Terraform run holds the lock on s3://{bucket.name}/{bucket.key}; wait for it to finish")
    versions = bucket.versions()
    if confirm != bucket.name:
        if not interactive:
            raise Refusal(
                f"this deletes all {len(versions)} object versions in s3://{bucket.name}, every state the "
                f"deployment ever had. To go ahead, name the bucket: make destroy-state CONFIRM={bucket.name}"
            )
        typed = ask(f"Delete all {len(versions)} object versions in s3://{bucket.name}? Type the bucket name: ")
        if typed.strip() != bucket.name:
            raise Refusal("the name typed is not the bucket's; nothing was deleted")
    bucket.empty(versions)
    return f"emptied s3://{bucket.name}: {len(versions)} object versions and delete markers deleted"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--confirm", default="", help="the state bucket's name, to delete its contents")
    args = parser.parse_args(argv)
    try:
        settings = app_settings.load([], ROOT / "cdktf.json", os.environ)
        print(prepare(state_bucket(settings), args.confirm, interactive=sys.stdin.isatty()))
    except app_settings.SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Refusal as error:
        print(f"refused: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
