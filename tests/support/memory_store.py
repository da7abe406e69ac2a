"""An in-memory SecretStore: the No Proxy side's stand-in, where MariaDB has no IAM auth plugin."""

from __future__ import annotations

from typing import Any


class MemorySecretStore:
    def __init__(self, failing: set[str] = frozenset()) -> None:
        self.values: dict[str, dict[str, Any]] = {}
        self.puts = 0
        self._failing = failing

    def get(self, secret_id: str) -> dict[str, Any] | None:
        if secret_id in self._failing:
            raise ConnectionError(f"injected failure reading {secret_id}")
        return self.values.get(secret_id)

    def put(self, secret_id: str, value: dict[str, Any]) -> None:
        self.values[secret_id] = value
        self.puts += 1
