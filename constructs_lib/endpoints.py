"""Which name an RDS endpoint's TLS certificate carries, per kind of endpoint (shared with the functions).

RDS Proxy presents one wildcard certificate, ``*.proxy-<id>.<region>.rds.<dns suffix>``, issued under
Amazon Root CA 1-4. It covers the proxy's default endpoint (``<proxy>.proxy-<id>...``) but not the
endpoints you create, which are one label deeper (``<name>.endpoint.proxy-<id>...``): AWS's guide says
VERIFY_IDENTITY works on the default endpoint only ("Using TLS/SSL with RDS Proxy",
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-proxy.howitworks.html#rds-proxy-security.tls).
So for such an endpoint we verify the certificate against the same label *inside the proxy's domain*:
the chain must still reach the trusted roots, and the name must still be this proxy's, which a
certificate for another proxy or another domain is not. Verification is never switched off.

Aurora's own endpoints (``<cluster>.cluster-ro-<id>...``) carry their names in RDS's certificates and
are verified as they are. Pure Python on purpose: the Lambda bundle ships this file as it is.
"""

from __future__ import annotations

import re
from typing import Literal

EndpointKind = Literal["proxy_custom", "proxy_default", "cluster"]

CUSTOM_PROXY_ENDPOINT = re.compile(r"(?P<label>[A-Za-z0-9-]+)\.endpoint\.(?P<domain>proxy-[a-z0-9]+\..+)")
_PROXY_ENDPOINT = re.compile(r"[A-Za-z0-9-]+\.proxy-[a-z0-9]+\..+")


def endpoint_kind(host: str) -> EndpointKind:
    if CUSTOM_PROXY_ENDPOINT.fullmatch(host):
        return "proxy_custom"
    if _PROXY_ENDPOINT.fullmatch(host):
        return "proxy_default"
    return "cluster"


def tls_server_name(host: str) -> str:
    """The name the server certificate of ``host`` must be valid for (also sent as SNI)."""
    match = CUSTOM_PROXY_ENDPOINT.fullmatch(host)
    return f"{match['label']}.{match['domain']}" if match else host


def certificate_names(host: str) -> list[str]:
    """The names AWS's certificate for ``host`` carries (RDS Proxy: its domain's wildcard)."""
    if endpoint_kind(host) == "cluster":
        return [host]
    domain = host.split(".proxy-", 1)[1]
    return [f"*.proxy-{domain}"]


def name_matches(name: str, pattern: str) -> bool:
    """RFC 6125 matching as TLS clients do it: a leading ``*`` stands for exactly one whole label."""
    name, pattern = name.lower().rstrip("."), pattern.lower().rstrip(".")
    if not pattern.startswith("*."):
        return name == pattern
    label, _, rest = name.partition(".")
    return bool(label) and rest == pattern[2:]
