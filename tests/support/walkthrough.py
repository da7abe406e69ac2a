"""The README's emulator walk-through, run as written: its commands, in a copy of the project.

The copy holds the project's files as they are now (tracked and new ones) and links the tools
``make test`` already set up (.venv, node_modules, the Lambda layer cache), so the walk-through's
``cdktf.out``, state files, lock file and background emulator never touch the developer's tree.
Only the emulator's port is changed (to a free one): everything else is the README's text.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from loadtest.local.processes import free_port
from tests.support.paths import QUIET_TOOLS_ENV, ROOT

HEADING = "### Walk-through on the emulator"
README_PORT = "127.0.0.1:5000"
LINKED = (".venv", ".tools/node/node_modules", "build")
MANIFESTS = ("Pipfile", "Pipfile.lock", ".tools/node/package.json", ".tools/node/package-lock.json")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
STEP_SECONDS = 1200


def commands(readme: str) -> list[str]:
    """The shell lines of the walk-through's code block, comments stripped."""
    section = readme.split(HEADING, 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]


def project_copy(destination: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    for name in LINKED:
        if (ROOT / name).exists():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(ROOT / name, destination / name)
    # The linked tools are current (make test set them up before the tests): manifests older than them keep
    # make from reinstalling through the links, which would rewrite the developer's own tools.
    for name in MANIFESTS:
        os.utime(destination / name, (946684800, 946684800))
    return destination


@dataclass
class Step:
    line: str  # as the README has it
    output: str


@dataclass
class Walkthrough:
    directory: Path
    port: int
    env: dict[str, str]

    @staticmethod
    def prepare(work: Path) -> Walkthrough:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("RDSPROXY_", "AWS_", "TF_CLI_CONFIG"))}
        port = free_port()
        env = {**keep, **QUIET_TOOLS_ENV, "EMULATOR_PORT": str(port)}
        return Walkthrough(project_copy(work / "project"), port, env)

    def run(self, line: str) -> Step:
        command = line.replace(README_PORT, f"127.0.0.1:{self.port}")
        if command.startswith("export "):
            for assignment in command.removeprefix("export ").split():
                name, _, value = assignment.partition("=")
                self.env[name] = value
            return Step(line, "")
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=self.directory,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=STEP_SECONDS,
        )
        output = ANSI.sub("", result.stdout + result.stderr)
        if result.returncode != 0:
            raise AssertionError(f"`{command}` failed ({result.returncode}):\n{output[-6000:]}")
        return Step(line, output)

    def steps(self, lines: list[str], after: dict[str, Callable[[Step], None]]) -> Iterator[Step]:
        """Run every line; ``after`` maps a line's start to what to record once it has run."""
        for line in lines:
            step = self.run(line)
            for start, record in after.items():
                if line.startswith(start):
                    record(step)
            yield step

    def stop_emulator(self) -> None:
        """Whatever happened, no emulator outlives the test."""
        subprocess.run(
            ["make", "-s", "emulator-stop"], cwd=self.directory, env=self.env, capture_output=True, timeout=120
        )
