"""The Secrets Manager edge: read a JSON secret's current value, or put a new one."""

from __future__ import annotations

import json
from typing import Any, Protocol


class SecretStore(Protocol):
    def get(self, secret_id: str) -> dict[str, Any] | None:
        """The secret's current JSON value, or None if it has no value yet."""

    def put(self, secret_id: str, value: dict[str, Any]) -> None: ...


class SecretsManagerStore:
    def __init__(self, client) -> None:
        self._client = client

    def get(self, secret_id: str) -> dict[str, Any] | None:
        try:
            response = self._client.get_secret_value(SecretId=secret_id)
        except self._client.exceptions.ResourceNotFoundException:
            return None  # the secret exists in Terraform but has no value yet
        try:
            value = json.loads(response.get("SecretString") or "")
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    def put(self, secret_id: str, value: dict[str, Any]) -> None:
        self._client.put_secret_value(SecretId=secret_id, SecretString=json.dumps(value))
