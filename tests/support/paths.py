"""Where things are, and the environment every cdktf/Terraform child process gets."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "main.py"
CDKTF_JSON = ROOT / "cdktf.json"

QUIET_TOOLS_ENV = {
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    "CHECKPOINT_DISABLE": "1",
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}
