"""The PipelineExecution planner as a table: (spec, Pipeline, description, steps) -> plan."""

from __future__ import annotations

import datetime

import pytest

from kubemaker.conditions import READY, RECONCILING, STALLED
from kubemaker.reconcile import pipelineexecution as planner

T0 = datetime.datetime(2026, 11, 1, 12, 0, tzinfo=datetime.timezone.utc)
ARN = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/churn/execution/abc123"


def pipeline_object(name: str | None = "ns-churn-1234", ready: str = "True", observed: int = 1) -> dict:
    status = {"observedGeneration": observed, "conditions": [{"type": "Ready", "status": ready}]}
    if name:
        status["pipelineName"] = name
    return {"metadata": {"generation": 1}, "status": status}


@pytest.mark.parametrize(
    "spec, pipeline, expected, waiting_for",
    [
        ({"pipelineName": "by-name"}, None, "by-name", None),
        ({"pipelineRef": {"name": "churn"}}, None, None, "does not exist yet"),
        ({"pipelineRef": {"name": "churn"}}, pipeline_object(ready="False"), None, "to be Ready"),
        # Ready for an older spec: the definition this run should use is not applied yet.
        ({"pipelineRef": {"name": "churn"}}, pipeline_object(observed=0), None, "to be Ready"),
        ({"pipelineRef": {"name": "churn"}}, pipeline_object(name=None), None, "to be Ready"),
        ({"pipelineRef": {"name": "churn"}}, pipeline_object(), "ns-churn-1234", None),
    ],
)
def test_resolve_pipeline(spec, pipeline, expected, waiting_for):
    resolved = planner.resolve_pipeline(spec, pipeline)
    if waiting_for:
        waiting = resolved.health
        assert waiting.reason == "WaitingForPipeline" and waiting_for in waiting.message
        assert resolved.look_again == "poll"
    else:
        assert resolved == expected


def step(name: str, state: str, minute: int, reason: str | None = None) -> dict:
    found = {"StepName": name, "StepStatus": state, "StartTime": T0 + datetime.timedelta(minutes=minute), "AttemptCount": 1}
    if reason:
        found["FailureReason"] = reason
    return found


def description(state: str = "Executing", **extra) -> dict:
    return {
        "PipelineArn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/churn",
        "PipelineExecutionArn": ARN,
        "PipelineExecutionDisplayName": "run-1",
        "PipelineExecutionStatus": state,
        "CreationTime": T0,
        "LastModifiedTime": T0,
        **extra,
    }


# ListPipelineExecutionSteps lists the newest first.
RUNNING = [step("Train", "Executing", 1), step("Prepare", "Succeeded", 0)]
DONE = [step("Train", "Succeeded", 1), step("Prepare", "Succeeded", 0)]
FAILED = [step("Train", "Failed", 1, "AlgorithmError: empty data"), step("Prepare", "Succeeded", 0)]
REPORTED_RUNNING = {"pipelineExecutionStatus": "Executing",
                    "steps": [{"stepName": "Prepare", "stepStatus": "Succeeded"}, {"stepName": "Train", "stepStatus": "Executing"}]}


@pytest.mark.parametrize(
    "described, steps, previous, state, reason, track, events",
    [
        (description(), RUNNING, {}, RECONCILING, "Executing", True,
         [("Normal", "ExecutionExecuting"), ("Normal", "StepSucceeded")]),
        (description(), RUNNING, REPORTED_RUNNING, RECONCILING, "Executing", True, []),
        (description("Succeeded"), DONE, REPORTED_RUNNING, READY, "Succeeded", False,
         [("Normal", "ExecutionSucceeded"), ("Normal", "StepSucceeded")]),
        (description("Failed", FailureReason="Step failure: One or multiple steps failed."), FAILED, REPORTED_RUNNING,
         STALLED, "StepFailed", False, [("Warning", "ExecutionFailed"), ("Warning", "StepFailed")]),
        (description("Failed", FailureReason="Pipeline definition is invalid"), [], {}, STALLED, "Failed", False,
         [("Warning", "ExecutionFailed")]),
        (description("Stopping"), RUNNING, REPORTED_RUNNING, RECONCILING, "Stopping", True,
         [("Normal", "ExecutionStopping")]),
        (description("Stopped"), [step("Train", "Stopped", 1), step("Prepare", "Succeeded", 0)], REPORTED_RUNNING,
         STALLED, "Stopped", False, [("Warning", "ExecutionStopped"), ("Warning", "StepStopped")]),
    ],
)
def test_plan_observed(described, steps, previous, state, reason, track, events):
    plan = planner.plan_observed(previous, described, steps, {"PipelineExecutionArn": ARN}, "churn", "us-east-1")
    assert (plan.health.state, plan.health.reason, plan.track) == (state, reason, track)
    assert [(event.type, event.reason) for event in plan.events] == events
    assert plan.action is None


def test_steps_are_reported_in_the_order_they_started_with_a_summary():
    plan = planner.plan_observed({}, description(), RUNNING, {"PipelineExecutionArn": ARN}, "churn", "us-east-1")
    assert [(s["stepName"], s["stepStatus"]) for s in plan.status["steps"]] == [("Prepare", "Succeeded"), ("Train", "Executing")]
    assert plan.status["stepSummary"] == "Prepare=Succeeded, Train=Executing"
    assert plan.status["pipelineName"] == "churn"
    assert plan.health.message == "pipeline execution Executing: running Train"
    assert plan.status["consoleUrl"].endswith("#/pipelines/churn/executions/abc123")


def test_a_failed_step_names_the_step_and_its_reason():
    plan = planner.plan_observed({}, description("Failed"), FAILED, {"PipelineExecutionArn": ARN}, "churn", "us-east-1")
    assert plan.health.message == "step Train failed: AlgorithmError: empty data"
    assert plan.status["steps"][1]["failureReason"] == "AlgorithmError: empty data"


@pytest.mark.parametrize(
    "update_request, described, changed",
    [
        ({"PipelineExecutionArn": ARN}, description(), []),
        ({"PipelineExecutionArn": ARN, "PipelineExecutionDisplayName": "run-1"}, description(), []),
        ({"PipelineExecutionArn": ARN, "PipelineExecutionDisplayName": "renamed"}, description(),
         ["PipelineExecutionDisplayName"]),
        ({"PipelineExecutionArn": ARN, "ParallelismConfiguration": {"MaxParallelExecutionSteps": 1}},
         description(ParallelismConfiguration={"MaxParallelExecutionSteps": 4}), ["ParallelismConfiguration"]),
    ],
)
def test_pending_updates(update_request, described, changed):
    assert planner.pending_updates(update_request, described) == changed


def test_a_changed_description_plans_update_pipeline_execution():
    update = {"PipelineExecutionArn": ARN, "PipelineExecutionDescription": "rerun of the weekly job"}
    plan = planner.plan_observed(REPORTED_RUNNING, description(), RUNNING, update, "churn", "us-east-1")
    assert plan.action == "update_pipeline_execution" and plan.request == update and plan.requeue_after == 0
    assert ("Normal", "Updating") in [(e.type, e.reason) for e in plan.events]
