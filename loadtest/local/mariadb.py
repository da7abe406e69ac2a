"""A throwaway MariaDB on 127.0.0.1 (free port, temporary data directory, TLS) for the functions' tests.

It stands in for Aurora MySQL: same protocol and SQL for what the functions do. What only exists on
AWS (the IAM auth plugin, RDS Proxy) is replaced behind the functions' seams, never here.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pymysql

from loadtest.local.processes import free_port, stop_process
from loadtest.local.tls import TestPki, make_pki

MASTER_USER = "admin_user"
MASTER_PASSWORD = "master-password-for-tests-only"
SEARCH_PATH = ("/usr/sbin", "/usr/libexec", "/usr/local/sbin")


def _binary(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(SEARCH_PATH))


def unavailable() -> str | None:
    """Why no MariaDB can be started here, or None."""
    missing = [name for name in ("mariadbd", "mariadb-install-db") if _binary(name) is None]
    return (
        f"{', '.join(missing)} not installed (Debian package mariadb-server; `make setup` installs it)"
        if missing
        else None
    )


@dataclass
class MariaDB:
    directory: Path
    pki: TestPki
    host: str = "127.0.0.1"
    port: int = 0
    process: subprocess.Popen | None = None
    # As Aurora with the stacks' parameter group; off only to show that tenant users require TLS themselves.
    require_secure_transport: bool = True
    max_connections: int = 500

    @property
    def socket_path(self) -> Path:
        return self.directory / "mysqld.sock"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.pki.ca_file))

    def connect(self, user: str = MASTER_USER, password: str = MASTER_PASSWORD, database: str | None = None, **kw):
        """A fresh TLS connection, certificate verified, as a given user."""
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=user,
            password=password,
            database=database,
            ssl=self.ssl_context(),
            connect_timeout=10,
            **kw,
        )

    def start(self) -> MariaDB:
        datadir = self.directory / "data"
        subprocess.run(
            [
                _binary("mariadb-install-db"),
                "--no-defaults",
                f"--datadir={datadir}",
                "--user=root",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        self.port = free_port()
        self._spawn()
        root = pymysql.connect(unix_socket=str(self.socket_path), user="root")
        with root, root.cursor() as cursor:
            # mariadb-install-db adds anonymous users; ''@'localhost' would shadow 'userN'@'%' logins.
            cursor.execute("SELECT User, Host FROM mysql.user WHERE User = ''")
            for user, host in cursor.fetchall():
                cursor.execute("DROP USER %s@%s", (user, host))
            # The RDS master user: may create databases and users and grant what it holds.
            cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (MASTER_USER, MASTER_PASSWORD))
            cursor.execute("GRANT ALL PRIVILEGES ON *.* TO %s@'%%' WITH GRANT OPTION", (MASTER_USER,))
        return self

    def resume(self) -> MariaDB:
        """Start a stopped server again on the same port and data (the end of a failover, locally)."""
        self._spawn()
        return self

    def _spawn(self) -> None:
        datadir = self.directory / "data"
        self.process = subprocess.Popen(
            [
                _binary("mariadbd"),
                "--no-defaults",
                "--user=root",
                f"--datadir={datadir}",
                f"--socket={self.socket_path}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--pid-file={self.directory / 'mysqld.pid'}",
                "--skip-name-resolve",
                f"--ssl-ca={self.pki.ca_file}",
                f"--ssl-cert={self.pki.cert_file}",
                f"--ssl-key={self.pki.key_file}",
                f"--require-secure-transport={'ON' if self.require_secure_transport else 'OFF'}",
                f"--max-connections={self.max_connections}",
                "--innodb-buffer-pool-size=256M",
                f"--log-error={self.directory / 'error.log'}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mariadbd exited: {(self.directory / 'error.log').read_text()[-2000:]}")
            try:
                pymysql.connect(unix_socket=str(self.socket_path), user="root").close()
                return
            except pymysql.MySQLError:
                time.sleep(0.1)
        raise TimeoutError("mariadbd did not become ready")

    def stop(self) -> None:
        stop_process(self.process)


def start_mariadb(
    directory: Path, pki: TestPki | None = None, *, require_secure_transport: bool = True, max_connections: int = 500
) -> MariaDB:
    """A started server; ``pki`` chooses its CA and certificate (default: a fresh CA, a certificate for 127.0.0.1)."""
    pki = pki or make_pki(directory / "pki")
    return MariaDB(
        directory, pki, require_secure_transport=require_secure_transport, max_connections=max_connections
    ).start()
