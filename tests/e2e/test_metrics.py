"""The operator's Prometheus endpoint during a real run: reconcile totals and durations per kind, AWS
calls and throttles by operation (throttles injected by the emulator), objects by kind and state,
spot savings; and every AWS operation the run made is allowed by docs/iam-policy.json."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.helpers import apply, condition, get, wait_for
from tests.e2e.test_trainingjob import training_job
from tests.unit.test_iam import is_allowed

# botocore's service ids (the metrics' service label) and the IAM action prefixes they answer to.
IAM_PREFIXES = {"sagemaker": "sagemaker", "application-auto-scaling": "application-autoscaling",
                "cloudwatch-logs": "logs", "sts": "sts", "s3": "s3"}
THROTTLED_CALLS = 2


def samples(text: str) -> dict[str, list[tuple[dict, float]]]:
    found: dict[str, list[tuple[dict, float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def value(metrics: dict, metric: str, **labels: str) -> float:
    """The sum of the series of `metric` whose labels include `labels` (0 when none)."""
    return sum(v for series_labels, v in metrics.get(metric, []) if labels.items() <= series_labels.items())


def test_metrics_endpoint_shows_reconciles_calls_throttles_and_objects(operator, emulator, kubectl, namespace):
    # SageMaker throttles the first create calls; botocore's retries absorb it, the metrics show it.
    emulator.control.set_faults(rate=1.0, kinds=["throttle"], operations=["CreateTrainingJob"], count=THROTTLED_CALLS)
    try:
        apply(kubectl, training_job("measured"), namespace)
        obj = wait_for(lambda: condition(o := get(kubectl, "trainingjob", namespace, "measured"), "Ready").get("status")
                       == "True" and o, timeout=60, what="Ready")
    finally:
        emulator.control.clear_faults()
    # The gauges follow the status write by a moment.
    metrics = wait_for(lambda: (m := samples(operator.metrics())) and value(
        m, "kubemaker_training_spot_savings_percent", namespace=namespace, name="measured") and m,
        timeout=10, what="spot savings gauge")

    assert value(metrics, "controller_runtime_reconcile_total", controller="TrainingJob", result="success") >= 1
    assert value(metrics, "controller_runtime_reconcile_time_seconds_count", controller="TrainingJob") >= 1
    assert value(metrics, "controller_runtime_reconcile_time_seconds_bucket", controller="TrainingJob", le="+Inf") >= 1

    assert value(metrics, "kubemaker_aws_api_calls_total", service="sagemaker", operation="CreateTrainingJob") >= (
        THROTTLED_CALLS + 1
    )
    assert value(metrics, "kubemaker_aws_api_calls_total", service="sagemaker", operation="DescribeTrainingJob") >= 1
    assert value(metrics, "kubemaker_aws_api_throttles_total", service="sagemaker",
                 operation="CreateTrainingJob") >= THROTTLED_CALLS
    assert value(metrics, "kubemaker_aws_api_errors_total", operation="CreateTrainingJob",
                 code="ThrottlingException") >= THROTTLED_CALLS

    assert value(metrics, "kubemaker_objects", kind="TrainingJob", state="Completed") >= 1
    assert value(metrics, "kubemaker_training_spot_savings_percent", namespace=namespace, name="measured") == (
        obj["status"]["spotSavingsPercent"]
    )

    # Whatever this run (and the tests before it, on the same operator) called must be in the policy.
    called = {(labels["service"], labels["operation"]) for labels, _ in metrics["kubemaker_aws_api_calls_total"]}
    refused = sorted(f"{IAM_PREFIXES.get(service, service)}:{operation}" for service, operation in called
                     if not is_allowed(f"{IAM_PREFIXES.get(service, service)}:{operation}"))
    assert not refused, f"docs/iam-policy.json does not allow what the operator called: {refused}"
