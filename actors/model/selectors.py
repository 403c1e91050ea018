"""Kubernetes label selectors (``matchLabels`` + ``matchExpressions``) and their matching.

Used by pools (``serviceAllocation``), advertisements and peers. Semantics follow
``metav1.LabelSelector``: every requirement must hold (AND); a list of selectors is ORed by the
callers. An empty selector matches everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Operator = Literal["In", "NotIn", "Exists", "DoesNotExist"]


class LabelSelectorRequirement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)

    key: str = Field(min_length=1)
    operator: Operator
    values: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _values_fit_operator(self) -> LabelSelectorRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs at least one value")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"duplicate values in matchExpressions for key {self.key!r}")
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels


class LabelSelector(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)

    match_labels: dict[str, str] = Field(default_factory=dict, alias="matchLabels")
    match_expressions: tuple[LabelSelectorRequirement, ...] = Field(
        default=(), alias="matchExpressions"
    )

    @model_validator(mode="after")
    def _no_duplicate_expressions(self) -> LabelSelector:
        # MetalLB refuses a selector whose matchExpressions repeat one requirement, whatever
        # the order of its values.
        seen: set[tuple[str, str, tuple[str, ...]]] = set()
        for req in self.match_expressions:
            key = (req.key, req.operator, tuple(sorted(req.values)))
            if key in seen:
                raise ValueError(
                    f"duplicate matchExpressions entry: {req.key} {req.operator} "
                    f"({','.join(key[2])})"
                )
            seen.add(key)
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        for key, value in self.match_labels.items():
            if labels.get(key) != value:
                return False
        return all(req.matches(labels) for req in self.match_expressions)

    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions

    def canonical(self) -> str:
        """A stable text form, used to spot duplicate selectors and for display."""
        parts = [f"{k}={v}" for k, v in sorted(self.match_labels.items())]
        for req in sorted(self.match_expressions, key=lambda r: (r.key, r.operator, r.values)):
            parts.append(f"{req.key} {req.operator} ({','.join(sorted(req.values))})")
        return ",".join(parts)

    def __hash__(self) -> int:
        return hash(self.canonical())


def any_matches(selectors: tuple[LabelSelector, ...], labels: Mapping[str, str]) -> bool:
    """ORed selector list; an empty list matches everything (MetalLB's convention)."""
    if not selectors:
        return True
    return any(sel.matches(labels) for sel in selectors)
