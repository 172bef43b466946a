"""The TransformJob planner as a table: (spec, referenced Model, status, SageMaker description) -> plan."""

from __future__ import annotations

import datetime

import pytest

from kubemaker.conditions import READY, RECONCILING, STALLED
from kubemaker.reconcile import transform as planner

T0 = datetime.datetime(2026, 11, 1, 12, 0, tzinfo=datetime.timezone.utc)
NAME = "ns-score-abcdef12"


def model_object(model_name: str | None = "scorer-r2", ready: str = "True", generation: int = 2, observed: int = 2) -> dict:
    status = {"observedGeneration": observed, "conditions": [{"type": "Ready", "status": ready}]}
    if model_name:
        status["modelName"] = model_name
    return {"metadata": {"generation": generation}, "status": status}


@pytest.mark.parametrize(
    "spec, model, expected_name, waiting_for",
    [
        ({"modelName": "literal"}, None, "literal", None),
        ({"modelRef": {"name": "scorer"}}, None, None, "does not exist yet"),
        ({"modelRef": {"name": "scorer"}}, model_object(ready="False"), None, "to be Ready"),
        ({"modelRef": {"name": "scorer"}}, model_object(model_name=None), None, "to be Ready"),
        # Ready for an older generation: the revision for the current spec is not there yet.
        ({"modelRef": {"name": "scorer"}}, model_object(observed=1), None, "to be Ready"),
        ({"modelRef": {"name": "scorer"}}, model_object(), "scorer-r2", None),
    ],
)
def test_resolve_model(spec, model, expected_name, waiting_for):
    resolved = planner.resolve_model(spec, model)
    if waiting_for:
        waiting = resolved.health
        assert waiting.state == RECONCILING and waiting.reason == "WaitingForModel"
        assert "Model scorer" in waiting.message and waiting_for in waiting.message
    else:
        assert resolved == expected_name


def description(state: str = "InProgress", **extra) -> dict:
    return {
        "TransformJobName": NAME,
        "TransformJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:transform-job/{NAME}",
        "TransformJobStatus": state,
        "ModelName": "scorer-r2",
        "TransformOutput": {"S3OutputPath": "s3://bucket/out/", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "CreationTime": T0,
        "TransformStartTime": T0,
        **extra,
    }


@pytest.mark.parametrize(
    "described, previous, state, reason, track, events",
    [
        (description(), {}, RECONCILING, "InProgress", True, [("Normal", "TransformInProgress")]),
        (description(), {"transformJobStatus": "InProgress"}, RECONCILING, "InProgress", True, []),
        (description("Completed", TransformEndTime=T0), {"transformJobStatus": "InProgress"}, READY, "Completed",
         False, [("Normal", "TransformCompleted")]),
        (description("Failed", FailureReason="ClientError: bad CSV"), {"transformJobStatus": "InProgress"}, STALLED,
         "Failed", False, [("Warning", "TransformFailed")]),
        (description("Stopping"), {"transformJobStatus": "InProgress"}, RECONCILING, "Stopping", True,
         [("Normal", "TransformStopping")]),
        (description("Stopped"), {"transformJobStatus": "Stopping"}, STALLED, "Stopped", False,
         [("Warning", "TransformStopped")]),
    ],
)
def test_plan_observed(described, previous, state, reason, track, events):
    plan = planner.plan_observed(previous, described, "us-east-1")
    assert (plan.health.state, plan.health.reason, plan.track) == (state, reason, track)
    assert [(event.type, event.reason) for event in plan.events] == events
    assert plan.action is None


def test_status_names_the_output_location_and_the_model():
    plan = planner.plan_observed({"createPending": {"name": NAME}}, description("Completed"), "eu-west-1")
    assert plan.status["transformOutput"] == {"s3OutputPath": "s3://bucket/out/", "assembleWith": "Line"}
    assert plan.status["modelName"] == "scorer-r2"
    assert plan.status["createPending"] is None
    assert plan.status["consoleUrl"].endswith(f"#/transform-jobs/{NAME}")
    assert "s3://bucket/out/" in plan.health.message


def test_failure_reason_is_in_the_stalled_message():
    plan = planner.plan_observed({}, description("Failed", FailureReason="ClientError: bad CSV"), "us-east-1")
    assert "bad CSV" in plan.health.message and plan.status["failureReason"] == "ClientError: bad CSV"
