"""The one vocabulary of what a pass decided: a planner returns a `Plan` (which may only wait, or
report a Stall), I/O code raises `Stall` for what only the user can fix and lets anything else
propagate as transient; a deletion is planned as a `Cleanup`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..conditions import Health, Signal, now_iso

ObjectKey = tuple[str, str, str]  # (kind, namespace, name)
# When to look again without a change, named so pure planners need no configuration.
LookAgain = Literal["poll", "resync"]


class Stall(Exception):
    """Reconciliation cannot progress until the user changes something."""

    def __init__(self, reason: str, message: str, status: dict | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status or {}


class Transient(Exception):
    """Worth trying again soon: e.g. SageMaker does not show yet what it just made."""


@dataclass(frozen=True)
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass(frozen=True)
class SageMakerObject:
    """A kind of SageMaker object, and how to describe it by name."""

    noun: str
    describe: str
    name_member: str
    arn_member: str


# The `service` of a plan or cleanup call that goes to the Kubernetes API (runtime.kubeapi), not AWS.
KUBERNETES = "kubernetes"


@dataclass(frozen=True)
class KubernetesObject:
    """A kind of Kubernetes object a plan creates in its object's namespace (its request is the
    manifest); ours when its owner label carries the object's uid (runtime.kubeapi)."""

    api_version: str
    kind: str


@dataclass
class Plan:
    """One step of reconciliation, for the core to carry out: at most one mutating call (`action`
    with `request`, to `service`), the status to show, and when to look again.

    - `before`: status written before the call: a create's marker, so after a crash the next pass
      looks for what the call may have made instead of making it again.
    - `creates`: the call makes a named object; "already exists" then means an earlier pass (ours,
      if the object carries our tags, or a Kubernetes object our owner label) made it.
    - `record`: status fields taken from the call's answer (field -> answer member).
    - `again`: observe and plan again in the same pass once the call is made (a create, then its
      description).
    - `track`/`follow`: whether the kind's tracker follows `follow` (what SageMaker described).
    - `wake`: names of objects of another kind, in this namespace, to look at once status is written.
    - `signals`: conditions of the kind's own besides Ready/Reconciling/Stalled (kept when not set).
    """

    health: Health
    status: dict[str, Any] = field(default_factory=dict)
    action: str | None = None
    request: dict[str, Any] | None = None
    service: str = "sagemaker"
    before: dict[str, Any] = field(default_factory=dict)
    creates: SageMakerObject | KubernetesObject | None = None
    record: dict[str, str] = field(default_factory=dict)
    again: bool = False
    events: list[Event] = field(default_factory=list)
    track: bool = False
    follow: Any = None
    wake: list[tuple[str, str]] = field(default_factory=list)
    requeue_after: float | None = None
    look_again: LookAgain | None = None
    signals: list[Signal] = field(default_factory=list)


def create_pending(name: str, **recorded: Any) -> dict[str, Any]:
    """The status a create writes before its call (`Plan.before`), with more fields it records."""
    return {"createPending": {"name": name, "startedAt": now_iso()}, **recorded}


def wait(reason: str, message: str, look_again: LookAgain = "poll") -> Plan:
    """Nothing to do until something else is ready: look again at the poll interval."""
    return Plan(health=Health.reconciling(reason, message), look_again=look_again)


def stalled(health: Health, status: dict | None = None) -> Plan:
    """Only the user can unblock this: say why, once, and wait for a change."""
    return Plan(health=health, status=status or {}, events=[Event("Warning", health.reason, health.message)])


@dataclass(frozen=True)
class Call:
    """One call of a deletion. A target already gone counts as done."""

    action: str
    request: dict[str, Any]
    service: str = "sagemaker"


@dataclass
class Cleanup:
    """What deleting the object still takes: calls to make now, and what to wait for after them
    (None: nothing; the finalizer can go)."""

    calls: list[Call] = field(default_factory=list)
    waiting: str | None = None
    events: list[Event] = field(default_factory=list)
    wake: list[tuple[str, str]] = field(default_factory=list)


def update_plan(method: str, changed: list[str], status: dict[str, Any], request: dict[str, Any],
                events: list[Event] | None = None, track: bool = False) -> Plan:
    """One in-place update call (boto3's `method`) for the members that differ; the object is looked
    at again right away, so status reports the updated object."""
    names = ", ".join(changed)
    operation = "".join(part.title() for part in method.split("_"))  # update_pipeline -> UpdatePipeline
    return Plan(
        health=Health.reconciling("Updating", f"updating {names} with {operation}"),
        status=status,
        action=method,
        request=request,
        events=[*(events or []), Event("Normal", "Updating", f"{operation}: {names}")],
        track=track,
        requeue_after=0,
    )
