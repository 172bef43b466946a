"""Prometheus metrics: the reconcile metrics controller authors already chart, and our AWS calls."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from .api.registry import kind_info
from .aws.errors import THROTTLE_CODES

RECONCILE_TOTAL = Counter(
    "controller_runtime_reconcile_total", "Reconciliations per controller and result.", ["controller", "result"]
)
RECONCILE_ERRORS = Counter(
    "controller_runtime_reconcile_errors_total", "Reconciliations that ended in an error.", ["controller"]
)
RECONCILE_TIME = Histogram(
    "controller_runtime_reconcile_time_seconds", "Time spent in one reconciliation.", ["controller"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
AWS_CALLS = Counter(
    "kubemaker_aws_api_calls_total", "HTTP requests sent to AWS, retries included.", ["service", "operation"]
)
AWS_THROTTLES = Counter(
    "kubemaker_aws_api_throttles_total", "AWS answers that asked us to slow down.", ["service", "operation"]
)
AWS_ERRORS = Counter(
    "kubemaker_aws_api_errors_total", "AWS error answers by code.", ["service", "operation", "code"]
)
EVENTS_DROPPED = Counter(
    "kubemaker_events_dropped_total", "Kubernetes Events not posted: too many waiting, or refused.", ["cause"]
)
EVENTS_AGGREGATED = Counter(
    "kubemaker_events_aggregated_total",
    "Occurrences counted on an Event of the same object and reason instead of making an Event of their own.",
)
LEADER = Gauge("kubemaker_leader", "1 while this replica leads (reconciles, polls SageMaker), 0 on a standby.")
LEADER_TRANSITIONS = Counter(
    "kubemaker_leader_transitions_total", "Times this replica acquired, lost or released the leader Lease.",
    ["transition"],
)
OBJECTS = Gauge("kubemaker_objects", "Objects by kind and SageMaker state.", ["kind", "state"])
SPOT_SAVINGS = Gauge(
    "kubemaker_training_spot_savings_percent", "Managed spot savings of completed training jobs.",
    ["namespace", "name"],
)


def _operation(event_name: str) -> tuple[str, str]:
    # Event names look like "before-send.sagemaker.DescribeTrainingJob".
    parts = event_name.split(".")
    return (parts[1], parts[2]) if len(parts) >= 3 else ("unknown", "unknown")


def _count_request(event_name: str, **_: Any) -> None:
    AWS_CALLS.labels(*_operation(event_name)).inc()


def _count_error(event_name: str, response: Any = None, **_: Any) -> None:
    if not response or not isinstance(response, tuple) or len(response) < 2:
        return
    code = (response[1] or {}).get("Error", {}).get("Code")
    if not code:
        return
    service, operation = _operation(event_name)
    AWS_ERRORS.labels(service, operation, code).inc()
    if code in THROTTLE_CODES:
        AWS_THROTTLES.labels(service, operation).inc()


def instrument_client(client: Any) -> None:
    client.meta.events.register("before-send", _count_request)
    # needs-retry stops at the first handler with an answer (the retry handler): we must run first.
    client.meta.events.register_first("needs-retry", _count_error)



# What each object counts as now, so a change moves it from one gauge series to another.
_object_states: dict[tuple[str, str, str], str] = {}
_spot_series: set[tuple[str, str]] = set()


def object_state(kind: str, status: dict) -> str:
    """SageMaker's state word when there is one, else the kstatus verdict (Ready, Stalled, Reconciling)."""
    state_field = kind_info(kind).state_field
    state = status.get(state_field) if state_field else None
    if state:
        return state
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    if conditions.get("Stalled") == "True":
        return "Stalled"
    return "Ready" if conditions.get("Ready") == "True" else "Reconciling"


def record_object(key: tuple[str, str, str], status: dict | None) -> None:
    """Counts the object (kind, namespace, name) under its current state, and shows a training job's
    spot savings; None forgets it (deleted, or the operator is stopping)."""
    kind, namespace, name = key
    previous = _object_states.pop(key, None)
    if previous is not None:
        OBJECTS.labels(kind, previous).dec()
    if status is not None:
        state = _object_states[key] = object_state(kind, status)
        OBJECTS.labels(kind, state).inc()
    savings = (status or {}).get("spotSavingsPercent") if kind == "TrainingJob" else None
    if savings is not None:
        SPOT_SAVINGS.labels(namespace, name).set(savings)
        _spot_series.add((namespace, name))
    elif kind == "TrainingJob" and (namespace, name) in _spot_series:
        SPOT_SAVINGS.remove(namespace, name)
        _spot_series.discard((namespace, name))
