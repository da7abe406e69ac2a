"""Database connections over TLS with certificate verification, sharing one SSL context per trust store and name.

PyMySQL would otherwise build a new SSL context (and re-read the CA bundle) on every connect, which
costs ~47 ms; a context is immutable once built, so one per process and server name is enough.
The name checked is the endpoint's own, except on RDS Proxy endpoints one creates, whose certificate
is the proxy's wildcard: ``constructs_lib/endpoints.py`` says which name, and why.
"""

from __future__ import annotations

import functools
import ssl

import pymysql

from constructs_lib.endpoints import tls_server_name
from constructs_lib.function_contract import DB_CONNECT_TIMEOUT_SECONDS as CONNECT_TIMEOUT_SECONDS
from constructs_lib.function_contract import DB_READ_TIMEOUT_SECONDS as READ_TIMEOUT_SECONDS


class _VerifiedAs(ssl.SSLContext):
    """A client context that checks the certificate chain and one fixed host name, whatever host PyMySQL
    connected to (it passes its ``host`` as ``server_hostname``)."""

    server_name: str

    def wrap_socket(self, sock, *args, server_hostname=None, **kwargs):
        return super().wrap_socket(sock, *args, server_hostname=self.server_name, **kwargs)


@functools.cache
def tls_context(ca_file: str, server_name: str) -> ssl.SSLContext:
    """Verify the server certificate against the packaged CA bundle only, and that it is ``server_name``'s."""
    context = _VerifiedAs(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname, as create_default_context
    context.load_verify_locations(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.server_name = server_name
    return context


def connect(
    *,
    host: str,
    port: int,
    user: str,
    password: str,
    ca_file: str,
    database: str | None = None,
    autocommit: bool = False,
) -> pymysql.connections.Connection:
    """Over TLS only; IAM auth tokens travel as cleartext passwords, which TLS makes safe."""
    return pymysql.connect(
        host=host,
        port=port,
        user=user,
        password=password,
        database=database,
        ssl=tls_context(ca_file, tls_server_name(host)),
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        write_timeout=READ_TIMEOUT_SECONDS,
        autocommit=autocommit,
    )
