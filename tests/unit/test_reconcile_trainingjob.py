"""The TrainingJob planner as a table: (spec, status, SageMaker description) -> plan."""

from __future__ import annotations

import datetime

import pytest

from kubemaker.conditions import READY, RECONCILING, STALLED
from kubemaker.reconcile import trainingjob as planner

T0 = datetime.datetime(2026, 11, 1, 12, 0, tzinfo=datetime.timezone.utc)
NAME = "ns-job-abcdef12"


def transitions(*statuses: str) -> list[dict]:
    return [
        {"Status": status, "StartTime": T0 + datetime.timedelta(minutes=i), "StatusMessage": f"{status} message"}
        for i, status in enumerate(statuses)
    ]


def description(state="InProgress", secondary="Training", **extra) -> dict:
    base = {
        "TrainingJobName": NAME,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{NAME}",
        "TrainingJobStatus": state,
        "SecondaryStatus": secondary,
        "CreationTime": T0,
        "LastModifiedTime": T0,
        "SecondaryStatusTransitions": transitions("Starting", "Downloading", secondary),
        "EnableManagedSpotTraining": False,
    }
    base.update(extra)
    return base


def plan(spec=None, status=None, described=None, logs=None):
    return planner.plan_observed(spec or {}, status or {}, described or description(), {"TrainingJobName": NAME},
                                 "us-east-1", logs)


@pytest.mark.parametrize(
    "described, state, reason, track",
    [
        (description(), RECONCILING, "InProgress", True),
        (description("Completed", "Completed"), READY, "Completed", False),
        (description("Failed", "Failed", FailureReason="AlgorithmError: boom"), STALLED, "Failed", False),
        (description("Stopped", "MaxRuntimeExceeded"), STALLED, "MaxRuntimeExceeded", False),
        (description("Stopped", "Stopped"), STALLED, "Stopped", False),
        (description("Failed", "MaxWaitTimeExceeded"), STALLED, "MaxWaitTimeExceeded", False),
        (
            description("Completed", "Completed", DebugRuleEvaluationStatuses=[
                {"RuleConfigurationName": "loss", "RuleEvaluationStatus": "InProgress"}]),
            RECONCILING, "RulesEvaluating", True,
        ),
        (
            description("Completed", "Completed", ProfilerRuleEvaluationStatuses=[
                {"RuleConfigurationName": "cpu", "RuleEvaluationStatus": "IssuesFound"}]),
            READY, "Completed", False,
        ),
    ],
)
def test_health_and_tracking_follow_sagemaker(described, state, reason, track):
    result = plan(described=described)
    assert (result.health.state, result.health.reason, result.track) == (state, reason, track)
    assert result.action is None


def test_failure_reason_reaches_message_and_event():
    result = plan(described=description("Failed", "Failed", FailureReason="AlgorithmError: boom",
                                        SecondaryStatusTransitions=transitions("Starting", "Failed")))
    assert "AlgorithmError: boom" in result.health.message
    failed = [e for e in result.events if e.reason == "TrainingFailed"]
    assert failed and failed[0].type == "Warning" and "boom" in failed[0].message


def test_spot_savings_and_artifacts_in_status():
    result = plan(described=description(
        "Completed", "Completed", EnableManagedSpotTraining=True, TrainingTimeInSeconds=1000,
        BillableTimeInSeconds=300, ModelArtifacts={"S3ModelArtifacts": "s3://b/out/model.tar.gz"},
    ), logs=[f"{NAME}/algo-1-1"])
    assert result.status["spotSavingsPercent"] == 70
    assert result.status["modelArtifacts"] == {"s3ModelArtifacts": "s3://b/out/model.tar.gz"}
    assert result.status["logStreams"] == [f"{NAME}/algo-1-1"]
    assert result.status["createPending"] is None
    assert result.status["consoleUrl"].endswith(f"#/jobs/{NAME}")


def test_savings_only_for_spot_jobs():
    result = plan(described=description("Completed", "Completed", TrainingTimeInSeconds=100, BillableTimeInSeconds=100))
    assert "spotSavingsPercent" not in result.status


def test_only_new_transitions_become_events():
    first = plan(described=description(secondary="Downloading",
                                       SecondaryStatusTransitions=transitions("Starting", "Downloading")))
    assert [e.reason for e in first.events] == ["TrainingStarting", "TrainingDownloading"]
    second = plan(status=first.status, described=description(
        SecondaryStatusTransitions=transitions("Starting", "Downloading", "Training")))
    assert [e.reason for e in second.events] == ["TrainingTraining"]


def test_spot_interruption_and_resume_are_events():
    status = plan(described=description(SecondaryStatusTransitions=transitions("Starting", "Downloading", "Training"))).status
    result = plan(status=status, described=description(
        SecondaryStatusTransitions=transitions("Starting", "Downloading", "Training", "Interrupted", "Starting", "Training")))
    assert [(e.type, e.reason) for e in result.events] == [
        ("Warning", "TrainingInterrupted"), ("Normal", "TrainingStarting"), ("Normal", "TrainingTraining")]


def test_transitions_in_status_are_bounded():
    many = transitions(*(["Training", "Interrupted"] * 20))
    result = plan(described=description(SecondaryStatusTransitions=many))
    assert len(result.status["secondaryStatusTransitions"]) == 10


@pytest.mark.parametrize(
    "spec, applied, state, expect_update",
    [
        ({"profilerConfig": {"s3OutputPath": "s3://b/p"}}, {}, "InProgress", True),
        ({"profilerConfig": {"s3OutputPath": "s3://b/p"}}, {"profilerConfig": {"s3OutputPath": "s3://b/p"}}, "InProgress", False),
        ({"resourceConfig": {"keepAlivePeriodInSeconds": 60}}, {}, "InProgress", True),
        ({"profilerConfig": {"s3OutputPath": "s3://b/p"}}, {}, "Completed", False),
        ({"hyperParameters": {"a": "1"}}, {}, "InProgress", False),
    ],
)
def test_update_training_job_only_for_changed_updatable_members(spec, applied, state, expect_update):
    result = plan(spec=spec, status={"appliedUpdates": applied}, described=description(state, "Training"))
    assert (result.action == "update_training_job") is expect_update
    if expect_update:
        assert result.status["appliedUpdates"] == planner.applied_updatable(spec)


def test_a_job_with_no_arn_has_no_console_page():
    # A job on the cluster (placement: Cluster) is described without an ARN: no console page to link.
    cluster = {key: value for key, value in description().items() if key != "TrainingJobArn"}
    assert "consoleUrl" not in planner.status_from_description(cluster, "us-east-1", None)
    assert "consoleUrl" in planner.status_from_description(description(), "us-east-1", None)
