"""What every planner returns, and small conversions shared by them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..conditions import Health


@dataclass(frozen=True)
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass
class Plan:
    """One step of reconciliation: at most one mutating SageMaker call, the status to show, and
    when to look again (None: only when something changes)."""

    health: Health
    status: dict[str, Any] = field(default_factory=dict)
    action: str | None = None
    request: dict[str, Any] | None = None
    events: list[Event] = field(default_factory=list)
    track: bool = False
    requeue_after: float | None = None


def console_url(region: str, fragment: str) -> str:
    return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/{fragment}"
