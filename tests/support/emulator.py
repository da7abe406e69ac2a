"""moto's server for a test: the project's own emulator start (constructs_lib.workflow.emulator) on a free port."""

from __future__ import annotations

from pathlib import Path

from constructs_lib.workflow.emulator import Emulator, start
from loadtest.local.processes import free_port


def start_emulator(directory: Path) -> Emulator:
    """Started by and tied to this process; ``stop()`` ends it."""
    return start(free_port(), directory / "moto.log")
