"""``make plan``: plan every synthesized stack for review, write each plan as JSON, and summarize them.

For each stack in deployment order: ``terraform init``, ``plan -lock=false -out=plan.bin`` (a plan for
reading, it takes no lock) and ``show -json`` into ``plan.json``; then the summary of all of them
(``plan_summary``) to standard output and to ``cdktf.out/plan-summary.md``. The pull-request workflow
runs the same target.

    python -m constructs_lib.workflow.plan [cdktf.out]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from constructs_lib.stack_names import MAIN_STACK, STACKS
from constructs_lib.workflow import plan_summary
from constructs_lib.workflow.terraform import CLI_CONFIG, ROOT, TerraformError, check, run

SUMMARY_FILE = "plan-summary.md"
# What `terraform init` says when the S3 backend's bucket is not there.
MISSING_BUCKET = ("NoSuchBucket", "bucket does not exist", "S3 bucket does not exist")


def plan_stack(directory: Path, config: Path) -> Path:
    """Plan one stack; returns its plan.json."""
    check(run(["init", "-input=false"], directory, config, timeout=1800))
    check(run(["plan", "-input=false", "-lock=false", "-out=plan.bin"], directory, config, timeout=1800))
    shown = check(run(["show", "-json", "plan.bin"], directory, config))
    (directory / "plan.json").write_text(shown)
    return directory / "plan.json"


def explain(stack: str, error: TerraformError) -> str:
    text = error.result.stdout + error.result.stderr
    if stack == MAIN_STACK and any(marker in text for marker in MISSING_BUCKET):
        return f"{stack}: its state bucket does not exist yet; run `make deploy-state` first"
    return f"{stack}: {error}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir", nargs="?", default=ROOT / "cdktf.out", type=Path)
    args = parser.parse_args(argv)
    directories = [args.outdir / "stacks" / name for name in STACKS if (args.outdir / "stacks" / name).is_dir()]
    if not directories:
        print(f"error: no synthesized stack in {args.outdir}: run `make plan` (it synthesizes first)", file=sys.stderr)
        return 2
    plans, failures = [], []
    for directory in directories:
        try:
            plans.append(plan_stack(directory, CLI_CONFIG))
        except TerraformError as error:
            failures.append(explain(directory.name, error))
    if plans:
        summary = "\n".join(plan_summary.summarize(plan_summary.read_plan(p), p.parent.name) for p in plans)
        (args.outdir / SUMMARY_FILE).write_text(summary)
        sys.stdout.write(summary)
        print(f"plans: {', '.join(str(p) for p in plans)}; summary: {args.outdir / SUMMARY_FILE}")
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
