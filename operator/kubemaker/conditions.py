"""kstatus conditions: Ready, Reconciling and Stalled, always written together and consistently."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

READY, RECONCILING, STALLED = "Ready", "Reconciling", "Stalled"
# SageMaker's refusals quote the values they refuse (a hundred 2500-character hyperparameters, say):
# in full, a message outgrew the condition schema's 32768 characters, the status write was refused
# and the object never showed why. The head names the request, the tail the constraint broken.
MAX_MESSAGE_LENGTH = 4096


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Signal:
    """A condition a kind reports beside the three kstatus reads (a MonitoringSchedule's
    ViolationsFound): users alert on it; it never changes the object's health."""

    type: str
    status: str  # True, False or Unknown
    reason: str
    message: str


@dataclass(frozen=True)
class Health:
    """The one judgement a planner makes about an object; conditions are derived from it."""

    state: str  # READY, RECONCILING or STALLED
    reason: str
    message: str

    @classmethod
    def ready(cls, reason: str, message: str) -> Health:
        return cls(READY, reason, message)

    @classmethod
    def reconciling(cls, reason: str, message: str) -> Health:
        return cls(RECONCILING, reason, message)

    @classmethod
    def stalled(cls, reason: str, message: str) -> Health:
        return cls(STALLED, reason, message)


def shortened(message: str, limit: int = MAX_MESSAGE_LENGTH) -> str:
    """`message`, its middle left out when it is longer than `limit`: the end often says which rule broke."""
    if len(message) <= limit:
        return message
    keep = (limit - 64) // 2  # 64: room for the marker
    return f"{message[:keep]} ... [{len(message) - 2 * keep} characters left out] ... {message[-keep:]}"


def build_conditions(health: Health, generation: int, previous: list[dict] | None,
                     now: str | None = None, signals: tuple[Signal, ...] | list[Signal] = ()) -> list[dict]:
    """Ready always; Reconciling or Stalled only while True, as kstatus reads "abnormal-true"
    conditions. lastTransitionTime moves only when a condition's status flips. A kind's own
    conditions (`signals`) follow; one a pass does not set (a pass that failed) is kept as it was."""
    now = now or now_iso()
    before = {condition.get("type"): condition for condition in previous or []}

    def make(condition_type: str, status: str, reason: str, message: str) -> dict:
        old = before.get(condition_type, {})
        return {
            "type": condition_type,
            "status": status,
            "reason": reason,
            "message": shortened(message),
            "lastTransitionTime": old.get("lastTransitionTime", now) if old.get("status") == status else now,
            "observedGeneration": generation,
        }

    result = [make(READY, "True" if health.state == READY else "False", health.reason, health.message)]
    if health.state != READY:
        result.append(make(health.state, "True", health.reason, health.message))
    result += [make(signal.type, signal.status, signal.reason, signal.message) for signal in signals]
    kept = {READY, RECONCILING, STALLED, *(signal.type for signal in signals)}
    result += [condition for condition in previous or [] if condition.get("type") not in kept]
    return result


def condition(conditions: list[dict] | None, condition_type: str) -> dict | None:
    return next((c for c in conditions or [] if c.get("type") == condition_type), None)


def is_true(conditions: list[dict] | None, condition_type: str) -> bool:
    found = condition(conditions, condition_type)
    return bool(found and found.get("status") == "True")
