"""The compliance record: the outcome of each rule over a dataset and of each instance."""

from __future__ import annotations

from dataclasses import dataclass, field

PASS, FAIL, UNVERIFIED = "pass", "fail", "unverified"


@dataclass
class RuleStats:
    """Outcome counts of one rule over every instance."""

    rule: str
    action: str
    description: str
    fail: int = 0
    unverified: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class InstanceResult:
    """Outcome of one instance."""

    path: str
    sop_instance_uid: str = ""
    failures: list[dict[str, str]] = field(default_factory=list)
    unverified: dict[str, int] = field(default_factory=dict)
    error: str = ""

    @property
    def verdict(self) -> str:
        """``fail`` if any rule failed, else ``unverified`` if any could not be proven, else
        ``pass``."""
        if self.error or self.failures:
            return FAIL
        return UNVERIFIED if self.unverified else PASS
