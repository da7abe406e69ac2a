"""Just enough IAM policy evaluation to check tenant isolation on the synthesized documents.

Terraform writes ``$${...}`` for a literal ``${...}``; documents are read as IAM will see them.
Actions match with IAM's wildcards (``rds-db:*``, ``*``; case-insensitive), resources with ``*`` and
``?``, and a statement's conditions are evaluated against the request context given, as IAM does:
a condition on a key the context lacks does not hold (``Null`` aside). Elements this evaluator does
not know (``NotAction``, ``NotResource``, ``NotPrincipal``, other operators) raise rather than pass.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
from collections.abc import Iterator, Mapping
from typing import Any

UNSUPPORTED = ("NotAction", "NotResource", "NotPrincipal")


def document(text: str) -> dict[str, Any]:
    return json.loads(text.replace("$${", "${"))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(doc: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for statement in as_list(doc["Statement"]):
        unsupported = [key for key in UNSUPPORTED if key in statement]
        if unsupported:
            raise NotImplementedError(f"the test evaluator does not understand {unsupported}")
        yield statement


def resolve(text: str, variables: Mapping[str, str]) -> str:
    for name, value in variables.items():
        text = text.replace("${" + name + "}", value)
    return text


def action_matches(pattern: str, action: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, Any]) -> bool:
    actual = context.get(key)
    wanted = as_list(expected)
    if operator == "Null":
        return (actual is None) == (wanted[0] == "true")
    if operator == "ForAllValues:StringEquals":
        return all(value in wanted for value in as_list(actual or []))
    if actual is None:
        return False
    if operator in ("StringEquals", "ArnEquals"):
        return actual in wanted
    if operator in ("StringLike", "ArnLike"):
        return any(fnmatch.fnmatchcase(actual, pattern) for pattern in wanted)
    if operator == "StringNotEquals":
        return actual not in wanted
    if operator in ("IpAddress", "NotIpAddress"):
        inside = any(ipaddress.ip_address(actual) in ipaddress.ip_network(block) for block in wanted)
        return inside == (operator == "IpAddress")
    if operator == "Bool":
        return str(actual).lower() == str(wanted[0]).lower()
    raise NotImplementedError(operator)


def conditions_hold(statement: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    return all(
        _condition_holds(operator, key, expected, context)
        for operator, pairs in statement.get("Condition", {}).items()
        for key, expected in pairs.items()
    )


def allowed_resources(
    doc: Mapping[str, Any],
    action: str,
    variables: Mapping[str, str] = {},
    context: Mapping[str, Any] = {},
) -> set[str]:
    """Resource patterns on which Allow statements grant ``action`` in ``context`` (policy variables filled)."""
    granted = set()
    for statement in statements(doc):
        if statement["Effect"] != "Allow" or not conditions_hold(statement, context):
            continue
        if any(action_matches(pattern, action) for pattern in as_list(statement["Action"])):
            granted |= {resolve(resource, variables) for resource in as_list(statement["Resource"])}
    return granted


def resource_allowed(patterns: set[str], resource: str) -> bool:
    return any(fnmatch.fnmatchcase(resource, pattern) for pattern in patterns)


def trust_allows(doc: Mapping[str, Any], action: str, principal: str, context: Mapping[str, Any]) -> bool:
    """Whether ``principal`` may perform ``action`` on the role, given the request's condition keys."""
    for statement in statements(doc):
        if statement["Effect"] != "Allow":
            continue
        if not any(action_matches(pattern, action) for pattern in as_list(statement["Action"])):
            continue
        if principal not in as_list(statement["Principal"].get("AWS", [])):
            continue
        if conditions_hold(statement, context):
            return True
    return False
