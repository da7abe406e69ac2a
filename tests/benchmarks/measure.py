"""Wall time and peak memory of a command, counting its whole process tree (Python + jsii's node)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_mb: float


def measure(args: Sequence[str], cwd: Path, env: Mapping[str, str], poll_seconds: float = 0.02) -> Measurement:
    start = time.perf_counter()
    process = subprocess.Popen(args, cwd=cwd, env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(poll_seconds)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"{args[:3]} failed: {process.stderr.read().decode()[-2000:]}")
    return Measurement(seconds, peak / 2**20)
