"""TLS to RDS endpoints, verified per kind of endpoint, on a real MariaDB with locally minted certificates.

RDS Proxy serves one wildcard certificate, ``*.proxy-<id>.<region>.rds.amazonaws.com``, on every endpoint
of a proxy; the READ_ONLY endpoint the access function uses is one label deeper and is not covered by
it. The server here presents exactly such a certificate; a DNS stand-in sends the RDS names to
127.0.0.1, so the function's own ``db.connect`` runs unchanged.
"""

from __future__ import annotations

import socket
import ssl

import db
import pymysql
import pytest
from seeding import PasswordInSecretUser, TenantSeeder

from constructs_lib.endpoints import certificate_names, endpoint_kind, name_matches, tls_server_name
from constructs_lib.tenancy import Tenant, all_tenants
from loadtest.local.mariadb import MASTER_PASSWORD, MASTER_USER, start_mariadb, unavailable
from loadtest.local.standins import MemorySecretStore
from loadtest.local.tls import make_pki
from tests.support.paths import in_ci

PROXY_DOMAIN = "proxy-c1a2b3c4d5e6.us-east-1.rds.amazonaws.com"
READER_ENDPOINT = f"tenantdb-proxy-0-reader.endpoint.{PROXY_DOMAIN}"
DEFAULT_ENDPOINT = f"tenantdb-proxy-0.{PROXY_DOMAIN}"
OTHER_PROXY_READER = "tenantdb-proxy-0-reader.endpoint.proxy-ffffffffffff.us-east-1.rds.amazonaws.com"
OTHER_DOMAIN_READER = f"tenantdb-proxy-0-reader.endpoint.{PROXY_DOMAIN.replace('amazonaws.com', 'example.net')}"


@pytest.fixture(scope="module")
def proxy_like_server(tmp_path_factory):
    if unavailable():
        if in_ci():
            pytest.fail(unavailable())
        pytest.skip(unavailable())
    directory = tmp_path_factory.mktemp("proxy-tls")
    pki = make_pki(directory / "pki", dns_names=(f"*.{PROXY_DOMAIN}",))
    server = start_mariadb(directory, pki)
    yield server
    server.stop()


@pytest.fixture
def rds_dns(monkeypatch):
    """Resolve every RDS-shaped name to the local server, as the VPC's DNS resolves them to the proxy."""
    real = socket.create_connection

    def connect(address, *args, **kwargs):
        host, port = address
        if host.endswith((".amazonaws.com", ".example.net")):
            host = "127.0.0.1"
        return real((host, port), *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", connect)


def login(server, host, ca_file=None):
    connection = db.connect(
        host=host,
        port=server.port,
        user=MASTER_USER,
        password=MASTER_PASSWORD,
        ca_file=str(ca_file or server.pki.ca_file),
    )
    with connection, connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()


@pytest.mark.parametrize("host", [READER_ENDPOINT, DEFAULT_ENDPOINT])
def test_the_proxy_wildcard_certificate_is_accepted_on_its_endpoints(proxy_like_server, rds_dns, host):
    assert login(proxy_like_server, host) == (1,)


def test_checking_the_reader_endpoint_by_its_own_name_fails_as_it_would_on_aws(proxy_like_server, rds_dns):
    """The defect this guards against: VERIFY_IDENTITY on an endpoint one creates."""
    with pytest.raises(pymysql.err.OperationalError, match="Hostname mismatch|doesn't match"):
        pymysql.connect(
            host=READER_ENDPOINT,
            port=proxy_like_server.port,
            user=MASTER_USER,
            password=MASTER_PASSWORD,
            ssl=ssl.create_default_context(cafile=str(proxy_like_server.pki.ca_file)),
        )


@pytest.mark.parametrize("host", [OTHER_PROXY_READER, OTHER_DOMAIN_READER], ids=["other proxy", "other domain"])
def test_a_certificate_of_another_proxy_or_domain_is_refused(proxy_like_server, rds_dns, host):
    with pytest.raises(pymysql.err.OperationalError, match="CERTIFICATE_VERIFY_FAILED"):
        login(proxy_like_server, host)


def test_a_certificate_from_another_ca_is_refused(proxy_like_server, rds_dns, tmp_path):
    stranger = make_pki(tmp_path / "other-ca", dns_names=(f"*.{PROXY_DOMAIN}",))
    with pytest.raises(pymysql.err.OperationalError, match="CERTIFICATE_VERIFY_FAILED"):
        login(proxy_like_server, READER_ENDPOINT, ca_file=stranger.ca_file)


@pytest.mark.parametrize(
    ("host", "kind", "server_name"),
    [
        (READER_ENDPOINT, "proxy_custom", f"tenantdb-proxy-0-reader.{PROXY_DOMAIN}"),
        (DEFAULT_ENDPOINT, "proxy_default", DEFAULT_ENDPOINT),
        ("db.cluster-ro-c1a2b3c4d5e6.eu-west-1.rds.amazonaws.com", "cluster", None),
        ("db.cluster-c1a2b3c4d5e6.cn-north-1.rds.amazonaws.com.cn", "cluster", None),
        ("127.0.0.1", "cluster", None),
    ],
)
def test_the_name_checked_per_endpoint_kind_is_one_the_certificate_carries(host, kind, server_name):
    assert endpoint_kind(host) == kind
    assert tls_server_name(host) == (server_name or host)
    assert any(name_matches(tls_server_name(host), name) for name in certificate_names(host))


def test_wildcards_stand_for_exactly_one_label():
    pattern = f"*.{PROXY_DOMAIN}"
    assert name_matches(f"a.{PROXY_DOMAIN}", pattern)
    assert not name_matches(READER_ENDPOINT, pattern)  # two labels
    assert not name_matches(PROXY_DOMAIN, pattern)  # none
    assert not name_matches(f"a.{PROXY_DOMAIN}.evil.example", pattern)


# ---- below the server's own setting: tenant users, and host names --------------------------------


@pytest.fixture(scope="module")
def lenient_server(tmp_path_factory):
    """A server that would accept plaintext (no require_secure_transport), with seeded tenant users."""
    if unavailable():
        if in_ci():
            pytest.fail(unavailable())
        pytest.skip(unavailable())
    directory = tmp_path_factory.mktemp("lenient")
    server = start_mariadb(directory, require_secure_transport=False)
    store = MemorySecretStore()
    identity = PasswordInSecretUser(store, "tls", server.host, server.port)
    assert not TenantSeeder(lambda: server.connect(), identity).seed(all_tenants(2)).failed
    yield server, store
    server.stop()


def test_tenant_users_refuse_plaintext_even_where_the_server_would_allow_it(lenient_server):
    server, store = lenient_server
    tenant = Tenant(1)
    password = store.values[tenant.secret_name("tls")]["password"]
    plain = pymysql.connect(
        host=server.host, port=server.port, user=MASTER_USER, password=MASTER_PASSWORD, ssl_disabled=True
    )
    with plain, plain.cursor() as cursor:  # the server itself takes plaintext logins here
        cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        assert cursor.fetchone()[1] == ""
    with pytest.raises(pymysql.err.OperationalError) as refused:
        pymysql.connect(host=server.host, port=server.port, user=tenant.db_user, password=password, ssl_disabled=True)
    assert refused.value.args[0] == 1045  # access denied: the user requires TLS
    over_tls = db.connect(
        host=server.host, port=server.port, user=tenant.db_user, password=password, ca_file=str(server.pki.ca_file)
    )
    over_tls.close()


def test_a_certificate_from_the_right_ca_for_another_host_name_is_refused(tmp_path):
    if unavailable():
        pytest.fail(unavailable()) if in_ci() else pytest.skip(unavailable())
    pki = make_pki(tmp_path / "pki", host=None, dns_names=("db.elsewhere.example",))
    server = start_mariadb(tmp_path, pki)
    try:
        with pytest.raises(pymysql.err.OperationalError, match="CERTIFICATE_VERIFY_FAILED"):
            db.connect(
                host=server.host, port=server.port, user=MASTER_USER, password=MASTER_PASSWORD, ca_file=str(pki.ca_file)
            )
    finally:
        server.stop()
