"""Test helpers for the access function."""

from __future__ import annotations


class CountingSts:
    """An STS client (moto's), counting the AssumeRole calls made through it."""

    def __init__(self, client) -> None:
        self.client, self.calls = client, []

    def assume_role(self, **request):
        self.calls.append(request)
        return self.client.assume_role(**request)
