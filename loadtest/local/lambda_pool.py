"""Lambda's scaling model for one function, locally: a pool of instance processes.

One request in flight per instance. A request that finds every instance busy starts a new one (a
cold start: a fresh process, fresh module state) up to the function's concurrency limit; beyond
it the invocation is throttled. Idle instances are reused, the most recently used first. An
instance that does not answer within the function's timeout is killed, as Lambda ends a timed-out
invocation's environment.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from loadtest.local.instance import command as instance_command

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 60
# API Gateway answers a failed integration itself; these stand-ins say which failure it was.
THROTTLED = {"statusCode": 429, "body": json.dumps({"error": "function_throttled"})}
FAILED = {"statusCode": 502, "body": json.dumps({"message": "Internal server error"})}


def _read_line(stream: IO[str], timeout: float) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        raise TimeoutError(f"no answer within {timeout:g} s")
    line = stream.readline()
    if not line:
        raise EOFError("the instance ended")
    return line


class Instance:
    """One execution environment: a process running ``loadtest.local.instance`` (or its Node.js twin)."""

    def __init__(self, environment: Mapping[str, str], log: IO[str]) -> None:
        self.process = subprocess.Popen(
            instance_command(environment),
            cwd=ROOT,
            env=dict(environment),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            bufsize=1,
        )
        try:
            self.runtime = json.loads(_read_line(self.process.stdout, START_TIMEOUT_SECONDS))["runtime"]
        except BaseException:
            self.kill()
            raise

    def invoke(self, event: Any, timeout: float) -> dict:
        self.process.stdin.write(json.dumps(event) + "\n")
        self.process.stdin.flush()
        return json.loads(_read_line(self.process.stdout, timeout))

    def stop(self, timeout: float = 10) -> None:
        """End of input: the instance closes what it kept and exits."""
        try:
            self.process.stdin.close()
            self.process.wait(timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


@dataclass
class PoolStats:
    invocations: int = 0
    cold_starts: int = 0
    runtimes: set[str] = field(default_factory=set)  # what the started instances said they run
    throttled: int = 0
    failed: int = 0
    peak_concurrency: int = 0


class FunctionPool:
    """A function's instances; ``invoke`` is what API Gateway's Lambda integration does for one request."""

    def __init__(
        self,
        name: str,
        environment: Mapping[str, str],
        concurrency: int,
        timeout_seconds: float,
        log_file: Path,
        start_instance: Callable[[Mapping[str, str], IO[str]], Instance] = Instance,
    ) -> None:
        if concurrency < 1:
            raise ValueError("a function's concurrency limit is at least 1")
        self.name = name
        self.concurrency = concurrency
        self._environment = {**os.environ, **environment}
        self._timeout = timeout_seconds
        self._start_instance = start_instance
        self._log = log_file.open("a")
        self._lock = threading.Lock()
        self._idle: list[Instance] = []
        self._instances = 0
        self._busy = 0
        self.stats = PoolStats()

    def invoke(self, event: Any) -> dict:
        with self._lock:
            self.stats.invocations += 1
            instance = self._idle.pop() if self._idle else None
            if instance is None and self._instances >= self.concurrency:
                self.stats.throttled += 1
                return THROTTLED
            if instance is None:
                self._instances += 1
                self.stats.cold_starts += 1
            self._busy += 1
            self.stats.peak_concurrency = max(self.stats.peak_concurrency, self._busy)
        try:
            if instance is None:
                instance = self._start_instance(self._environment, self._log)
                self.stats.runtimes.add(instance.runtime)
            response = instance.invoke(event, self._timeout)
        except (OSError, EOFError, TimeoutError, ValueError):
            if instance is not None:
                instance.kill()
            with self._lock:
                self._instances -= 1
                self._busy -= 1
                self.stats.failed += 1
            return FAILED
        with self._lock:
            self._busy -= 1
            self._idle.append(instance)
        return response

    @property
    def instances(self) -> int:
        return self._instances

    def close(self) -> None:
        """Stop every instance, waiting at most the function's timeout for requests in flight."""
        deadline = time.monotonic() + self._timeout
        while self._busy and time.monotonic() < deadline:
            time.sleep(0.05)
        with self._lock:
            idle, self._idle = self._idle, []
        for instance in idle:
            instance.stop()
        self._log.close()
