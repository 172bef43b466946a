"""The Pipeline planner as a table: (desired request and definition, DescribePipeline) -> plan."""

from __future__ import annotations

import datetime
import json

import pytest

from kubemaker.conditions import READY, RECONCILING
from kubemaker.reconcile import pipeline as planner

T0 = datetime.datetime(2026, 11, 1, 12, 0, tzinfo=datetime.timezone.utc)
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
DEFINITION = {"Version": "2020-12-01", "Steps": [{"Name": "Train", "Type": "Training", "Arguments": {"A": 1}}]}


def description(definition: str = json.dumps(DEFINITION), **extra) -> dict:
    return {
        "PipelineName": "churn",
        "PipelineArn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/churn",
        "PipelineDisplayName": "churn",
        "PipelineDefinition": definition,
        "RoleArn": ROLE,
        "PipelineStatus": "Active",
        "CreationTime": T0,
        **extra,
    }


def request(**members) -> dict:
    return {"PipelineName": "churn", "PipelineDefinition": "ignored: compared as a document", "RoleArn": ROLE, **members}


@pytest.mark.parametrize(
    "update_request, desired, described, changed",
    [
        (request(), DEFINITION, description(), []),
        # Key order and whitespace do not matter: documents are compared.
        (request(), DEFINITION, description(json.dumps(DEFINITION, indent=2, sort_keys=True)), []),
        (request(), {**DEFINITION, "Version": "2021-01-01"}, description(), ["PipelineDefinition"]),
        (request(), DEFINITION, description("not json"), ["PipelineDefinition"]),
        # A definition in S3 that could not be compared is not a change by itself.
        (request(), None, description("{}"), []),
        (request(PipelineDescription="nightly"), DEFINITION, description(), ["PipelineDescription"]),
        (request(PipelineDescription="nightly"), DEFINITION, description(PipelineDescription="nightly"), []),
        (request(ParallelismConfiguration={"MaxParallelExecutionSteps": 2}), DEFINITION,
         description(ParallelismConfiguration={"MaxParallelExecutionSteps": 4}), ["ParallelismConfiguration"]),
        (request(RoleArn=ROLE + "2"), DEFINITION, description(), ["RoleArn"]),
        (request(PipelineDefinitionS3Location={"Bucket": "b", "ObjectKey": "k"}, PipelineVersionAliases=["prod"]),
         DEFINITION, description(), []),
    ],
)
def test_out_of_sync(update_request, desired, described, changed):
    assert planner.out_of_sync(update_request, desired, described) == changed


@pytest.mark.parametrize(
    "text, problem",
    [("{", "is not valid JSON"), ("[1, 2]", "must be a JSON object")],
)
def test_invalid_definitions_name_their_source(text, problem):
    with pytest.raises(planner.InvalidDefinition, match=f"ConfigMap defs key d.json {problem}"):
        planner.definition_document(text, "ConfigMap defs key d.json")


def test_a_string_and_an_object_are_the_same_document():
    assert planner.definition_document(json.dumps(DEFINITION), "x") == planner.definition_document(DEFINITION, "x")


def test_a_change_plans_one_update_and_looks_again_at_once():
    plan = planner.plan_observed(description(), request(PipelineDescription="nightly"), DEFINITION, None, "us-east-1")
    assert plan.action == "update_pipeline" and plan.request["PipelineDescription"] == "nightly"
    assert plan.health.state == RECONCILING and "PipelineDescription" in plan.health.message
    assert plan.requeue_after == 0
    assert [(e.reason, e.message) for e in plan.events] == [("Updating", "UpdatePipeline: PipelineDescription")]


def test_in_sync_is_ready_with_arn_and_latest_execution():
    latest = {"PipelineExecutionArn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/churn/execution/x1",
              "PipelineExecutionStatus": "Executing", "StartTime": T0, "PipelineExecutionDisplayName": "run-2"}
    plan = planner.plan_observed(description(), request(), DEFINITION, latest, "us-east-1")
    assert plan.action is None and plan.health.state == READY
    assert plan.status["pipelineArn"].endswith(":pipeline/churn")
    assert plan.status["latestExecution"]["pipelineExecutionStatus"] == "Executing"
    assert plan.status["latestExecution"]["pipelineExecutionDisplayName"] == "run-2"
    assert plan.status["createPending"] is None


def test_a_pipeline_being_deleted_is_not_ready():
    plan = planner.plan_observed(description(PipelineStatus="Deleting"), request(), DEFINITION, None, "us-east-1")
    assert plan.health.state == RECONCILING and plan.health.reason == "Deleting"


def test_a_definition_nested_too_deeply_to_parse_is_invalid_not_a_crash():
    with pytest.raises(planner.InvalidDefinition, match="nested too deeply"):
        planner.definition_document("[" * 100_000 + "]" * 100_000, "ConfigMap etl key definition.json")


def test_a_definition_over_sagemakers_limit_says_where_a_larger_one_goes():
    planner.require_sendable("x" * planner.MAX_DEFINITION_LENGTH, "spec.pipelineDefinition")
    with pytest.raises(planner.InvalidDefinition, match="at most 1048576: store it in S3"):
        planner.require_sendable("x" * (planner.MAX_DEFINITION_LENGTH + 1), "spec.pipelineDefinition")


def test_status_follows_sagemakers_last_modified_time():
    first = planner.plan_observed(description(LastModifiedTime=T0), request(), DEFINITION, None, "us-east-1")
    assert first.status["lastModifiedTime"] == "2026-11-01T12:00:00Z"
    # Changed outside the operator (the console, another tool): the next look reports it.
    later = T0 + datetime.timedelta(minutes=5)
    second = planner.plan_observed(description(LastModifiedTime=later), request(), DEFINITION, None, "us-east-1")
    assert second.status["lastModifiedTime"] == "2026-11-01T12:05:00Z" and second.action is None
