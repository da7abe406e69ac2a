"""The access function wired as on AWS but for the database login: shared by tests and benchmarks."""

from __future__ import annotations

from tenant_access import TenantCredentialSource

from tests.support.memory_store import MemorySecretStore


class NativePasswordAfterAssumeRole:
    """Assume the tenant's role as on AWS, then log in with the seeded native password.

    MariaDB cannot check IAM auth tokens; this is the one step that differs from AWS.
    """

    def __init__(self, credentials: TenantCredentialSource, store: MemorySecretStore, name_prefix: str) -> None:
        self.credentials, self.store, self.name_prefix = credentials, store, name_prefix

    def password(self, tenant, target):
        self.credentials.get(tenant, target)
        return self.store.values[tenant.secret_name(self.name_prefix)]["password"]


class CountingSts:
    """An STS client (moto's), counting the AssumeRole calls made through it."""

    def __init__(self, client) -> None:
        self.client, self.calls = client, []

    def assume_role(self, **request):
        self.calls.append(request)
        return self.client.assume_role(**request)
