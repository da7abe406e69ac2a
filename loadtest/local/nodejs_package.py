"""The Node.js access function as Lambda unpacks it, on this machine: code zip and layer from synth's packaging.

Used by the rehearsal and the tests, so what runs locally is what synth packages (not the sources).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from constructs_lib import function_package

PLACEHOLDER_RDS_CA = b"-----BEGIN CERTIFICATE-----\n"  # locally the functions are told the test CA's file


def stage_nodejs_function(directory: Path) -> Path:
    """Unpack the code zip's files into ``directory/task`` and the layer's into ``directory/opt``; return the task."""
    code = directory / "task"
    for name, content in function_package.nodejs_code_files(PLACEHOLDER_RDS_CA).items():
        (code / name).parent.mkdir(parents=True, exist_ok=True)
        (code / name).write_bytes(content)
    layer, _ = function_package.nodejs_dependencies_zip()
    with zipfile.ZipFile(layer) as archive:
        archive.extractall(directory / "opt")
    return code


def node_environment(staged: Path) -> dict[str, str]:
    """What Lambda's Node.js runtime sets for a layer's packages and the handler name."""
    return {"NODE_PATH": str(staged.parent / "opt" / "nodejs" / "node_modules"), "_HANDLER": "access_handler.handler"}
