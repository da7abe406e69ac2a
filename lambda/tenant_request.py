"""Which tenant a request names: ``GET /?tenant=N`` with N a canonical decimal in 0..tenant_count-1."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from constructs_lib.function_contract import TENANT_ID_PATTERN
from constructs_lib.tenancy import Tenant

# ASCII digits only (``\d`` would admit other scripts' digits), no sign, no leading zeros, no space.
TENANT_ID = re.compile(TENANT_ID_PATTERN)


class BadRequest(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def tenant_from_event(event: Any, tenant_count: int) -> Tenant:
    if not isinstance(event, dict):
        raise BadRequest("malformed_request", "the request is not an API Gateway proxy event")
    for field in ("queryStringParameters", "multiValueQueryStringParameters"):
        if not isinstance(event.get(field) or {}, dict):
            raise BadRequest("malformed_request", f"{field} is not a mapping")
    request = APIGatewayProxyEvent(event)
    values = request.get_multi_value_query_string_values("tenant") or []
    if len(values) > 1:
        raise BadRequest("ambiguous_tenant", "name exactly one tenant")
    raw = request.get_query_string_value("tenant")
    if raw is None:
        raise BadRequest("missing_tenant", "query parameter 'tenant' is required")
    if not isinstance(raw, str) or not TENANT_ID.fullmatch(raw):
        raise BadRequest("invalid_tenant", "tenant must be a decimal integer without sign or leading zeros")
    tenant_id = int(raw)
    if tenant_id >= tenant_count:
        raise BadRequest("unknown_tenant", f"tenant must be between 0 and {tenant_count - 1}")
    return Tenant(tenant_id)
