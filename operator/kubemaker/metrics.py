"""Prometheus metrics: the reconcile metrics controller authors already chart, and our AWS calls."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

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
OBJECTS = Gauge("kubemaker_objects", "Objects by kind and SageMaker state.", ["kind", "state"])
SPOT_SAVINGS = Gauge(
    "kubemaker_training_spot_savings_percent", "Managed spot savings of completed training jobs.",
    ["namespace", "name"],
)

THROTTLE_CODES = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}


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
