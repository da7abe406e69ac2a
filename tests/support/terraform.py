"""Terraform in the tests: the project's own provider discovery and runner, and ``validate`` with known warnings."""

from __future__ import annotations

from pathlib import Path

from constructs_lib.workflow.terraform import (  # noqa: F401  (the tests' API)
    AWS_PROVIDER,
    available,
    check,
    cli_config,
    run,
)

# Warnings `terraform validate` may print for these stacks, each for its reason; any other fails.
KNOWN_WARNINGS = {
    "reset_on_delete": "aws_api_gateway_account.reset_on_delete is deprecated in provider 5.x because 6.x always "
    "resets the account setting on destroy; 5.x leaves it pointing at a deleted role without it",
}


def validate(stack_dir: Path, config: Path) -> str:
    """``terraform validate``; raises unless it succeeds with no warning beyond KNOWN_WARNINGS."""
    check(run(["init", "-backend=false", "-input=false"], stack_dir, config))
    output = check(run(["validate"], stack_dir, config))
    if "Success! The configuration is valid" not in output:
        raise AssertionError(output)
    for warning in output.split("Warning: ")[1:]:
        if not any(known in warning for known in KNOWN_WARNINGS):
            raise AssertionError(f"unexpected terraform warning:\n{warning[:2000]}")
    return output
