"""IAM policy documents from typed statements: their shape, and Terraform's escaping, in one place.

Constructs build ``Statement`` values and pass them to ``document()``; nothing else writes a policy as
a dict. An IAM policy variable (``${aws:PrincipalTag/tenant}``) must reach IAM as it is, while
Terraform would read ``${...}`` in a string as its own interpolation: ``policy_variable()`` writes it
escaped (``$${...}``), the only place that knows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Conditions = Mapping[str, Mapping[str, object]]  # operator -> condition key -> value(s)


def policy_variable(name: str) -> str:
    """An IAM policy variable, escaped for Terraform (which would otherwise interpolate it)."""
    return "$${" + name + "}"


@dataclass(frozen=True)
class Statement:
    """One IAM policy statement. ``principal`` only in trust and resource policies.

    Actions and resources are written as given: one as a string, several as a list (IAM reads both
    alike; keeping the form keeps the synthesized policies, and so the plans, unchanged).
    """

    actions: str | Sequence[str]
    resources: str | Sequence[str] | None = None
    sid: str | None = None
    effect: Literal["Allow", "Deny"] = "Allow"
    principal: str | Mapping[str, object] | None = None
    conditions: Conditions = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.actions:
            raise ValueError(f"statement {self.sid or ''} names no action")
        if not self.resources and self.principal is None:
            raise ValueError(f"statement {self.sid or ''} names no resource (identity policies need one)")
        if self.sid is not None and not self.sid.isalnum():
            raise ValueError(f"statement id {self.sid!r}: IAM allows letters and digits only")

    def to_json(self) -> dict[str, object]:
        statement: dict[str, object] = {"Sid": self.sid} if self.sid else {}
        statement["Effect"] = self.effect
        if self.principal is not None:
            statement["Principal"] = self.principal
        statement["Action"] = self.actions if isinstance(self.actions, str) else list(self.actions)
        if self.resources:
            statement["Resource"] = self.resources if isinstance(self.resources, str) else list(self.resources)
        if self.conditions:
            statement["Condition"] = {operator: dict(pairs) for operator, pairs in self.conditions.items()}
        return statement


def document(*statements: Statement) -> str:
    """A policy document (IAM's 2012-10-17 language) holding ``statements``."""
    if not statements:
        raise ValueError("a policy needs at least one statement")
    return json.dumps({"Version": "2012-10-17", "Statement": [s.to_json() for s in statements]})
