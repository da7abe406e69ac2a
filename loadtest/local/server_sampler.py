"""What the database server sees, once a second: its connections and the logins it refused.

MariaDB's global status counters, read over the server's Unix socket on one connection kept for the
whole run (counted in Threads_connected; a server at max_connections still admits it, as it keeps
one login for an administrator).
"""

from __future__ import annotations

import csv
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pymysql

COUNTERS = (
    "Threads_connected",
    "Connections",
    "Aborted_connects",
    "Max_used_connections",
    "Connection_errors_max_connections",
)


@dataclass(frozen=True)
class Sample:
    time: float  # epoch seconds
    values: dict[str, int]


class ServerSampler:
    def __init__(self, socket_path: Path, interval_seconds: float = 1.0, max_samples: int = 7200) -> None:
        self._connection = pymysql.connect(unix_socket=str(socket_path), user="root", autocommit=True)
        self._interval = interval_seconds
        self._max = max_samples
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one connection, read from the sampling thread and by callers
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.samples: list[Sample] = []

    def read(self) -> dict[str, int]:
        with self._lock, self._connection.cursor() as cursor:
            cursor.execute(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({', '.join(['%s'] * len(COUNTERS))})", COUNTERS)
            return {name: int(value) for name, value in cursor.fetchall()}

    def _run(self) -> None:
        while not self._stop.is_set() and len(self.samples) < self._max:
            self.samples.append(Sample(round(time.time(), 3), self.read()))
            self._stop.wait(self._interval)

    def __enter__(self) -> ServerSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(Sample(round(time.time(), 3), self.read()))
        self._connection.close()

    def write_csv(self, path: Path) -> None:
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["time", *COUNTERS])
            for sample in self.samples:
                writer.writerow([sample.time, *(sample.values.get(name, 0) for name in COUNTERS)])
