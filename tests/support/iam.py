"""Just enough IAM policy evaluation to check tenant isolation on the synthesized documents.

Terraform writes ``$${...}`` for a literal ``${...}``; documents are read as IAM will see them.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator, Mapping
from typing import Any


def document(text: str) -> dict[str, Any]:
    return json.loads(text.replace("$${", "${"))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(doc: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    yield from as_list(doc["Statement"])


def resolve(text: str, variables: Mapping[str, str]) -> str:
    for name, value in variables.items():
        text = text.replace("${" + name + "}", value)
    return text


def allowed_resources(doc: Mapping[str, Any], action: str, variables: Mapping[str, str] = {}) -> set[str]:
    """Resources an Allow statement grants ``action`` on (unconditional statements only)."""
    granted = set()
    for statement in statements(doc):
        if statement["Effect"] == "Allow" and action in as_list(statement["Action"]) and "Condition" not in statement:
            granted |= {resolve(resource, variables) for resource in as_list(statement["Resource"])}
    return granted


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
    raise NotImplementedError(operator)


def trust_allows(doc: Mapping[str, Any], action: str, principal: str, context: Mapping[str, Any]) -> bool:
    """Whether ``principal`` may perform ``action`` on the role, given the request's condition keys."""
    for statement in statements(doc):
        if statement["Effect"] != "Allow" or action not in as_list(statement["Action"]):
            continue
        if principal not in as_list(statement["Principal"].get("AWS", [])):
            continue
        if all(
            _condition_holds(operator, key, expected, context)
            for operator, pairs in statement.get("Condition", {}).items()
            for key, expected in pairs.items()
        ):
            return True
    return False
