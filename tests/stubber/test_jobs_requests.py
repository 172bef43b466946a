"""The SageMaker calls of the tuning, transform, pipeline and pipeline execution controllers, checked
against the service model by botocore's Stubber (requests and canned answers alike)."""

from __future__ import annotations

import asyncio
import datetime
import io
import json

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from kubemaker.handlers import pipeline as pipeline_handler
from kubemaker.handlers.pipelineexecution import PipelineExecutionController
from kubemaker.handlers.transform import TransformJobController
from kubemaker.handlers.tuning import TuningJobController
from kubemaker.names import derived_name
from kubemaker.runtime.outcomes import Stall
from kubemaker.runtime.reconciler import run_pass
from kubemaker.runtime.tracker import ConfigMapTracker, ExecutionTracker, Tracker
from tests.stubber.conftest import clean_up, make_context, serve

TRANSFORM_LIST = TransformJobController.api.list_shape
TUNING_LIST = TuningJobController.api.list_shape

NOW = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
UID = "6f1c1a52-7d5e-4a57-9d1b-2b8f0c6a9e01"  # a real uid's shape: ClientRequestTokens need 32+ characters
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgb:1"
OWNED = {"Tags": [{"Key": "kubemaker.io/uid", "Value": UID}]}
OWNERSHIP_TAGS = [
    {"Key": "kubemaker.io/kind", "Value": None},
    {"Key": "kubemaker.io/namespace", "Value": "team"},
    {"Key": "kubemaker.io/name", "Value": "job"},
    {"Key": "kubemaker.io/uid", "Value": UID},
]


def tags_for(kind: str) -> list[dict]:
    return [{**tag, "Value": kind} if tag["Value"] is None else tag for tag in OWNERSHIP_TAGS]


def context(runtime, kind: str, plural: str, spec: dict, status: dict | None = None):
    ctx = make_context(runtime, kind, plural, spec, status)
    ctx.body["metadata"]["uid"] = UID
    return ctx


def objects(runtime, **by_kind_and_name: dict) -> None:
    """Kubernetes objects of namespace team the controllers read by reference, as the watch showed
    them: `Model__scorer={...}`."""
    serve(runtime, {tuple(key.split("__")): body for key, body in by_kind_and_name.items()})


def ready(status: dict) -> dict:
    return {"metadata": {"generation": 1},
            "status": {**status, "observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]}}


# TransformJob ---------------------------------------------------------------------------------------

TRANSFORM_SPEC = {
    "modelRef": {"name": "scorer"},
    "batchStrategy": "MultiRecord",
    "transformInput": {"contentType": "text/csv", "splitType": "Line",
                       "dataSource": {"s3DataSource": {"s3DataType": "S3Prefix", "s3Uri": "s3://bucket/in/"}}},
    "transformOutput": {"s3OutputPath": "s3://bucket/out/"},
    "transformResources": {"instanceType": "ml.m5.large", "instanceCount": 1},
    "dataProcessing": {"inputFilter": "$[1:]", "joinSource": "Input"},
}


def transform_description(name: str, state: str = "InProgress") -> dict:
    return {
        "TransformJobName": name,
        "TransformJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:transform-job/{name}",
        "TransformJobStatus": state,
        "ModelName": "scorer-r1",
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/in/"}}},
        "TransformOutput": {"S3OutputPath": "s3://bucket/out/"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "CreationTime": NOW,
    }


def test_transform_create_runs_the_referenced_models_revision(stubbed):
    objects(stubbed, Model__scorer=ready({"modelName": "scorer-r1"}))
    ctx = context(stubbed, "TransformJob", "transformjobs", TRANSFORM_SPEC)
    name = derived_name("team", "job", UID)
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("create_transform_job", {"TransformJobArn": transform_description(name)["TransformJobArn"]},
                           expected_params={
                               "TransformJobName": name,
                               "ModelName": "scorer-r1",
                               "BatchStrategy": "MultiRecord",
                               "TransformInput": {"ContentType": "text/csv", "SplitType": "Line", "DataSource": {
                                   "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/in/"}}},
                               "TransformOutput": {"S3OutputPath": "s3://bucket/out/"},
                               "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
                               "DataProcessing": {"InputFilter": "$[1:]", "JoinSource": "Input"},
                               "Tags": tags_for("TransformJob"),
                           })
    sagemaker.add_response("describe_transform_job", transform_description(name))

    plan = asyncio.run(run_pass(TransformJobController(Tracker(stubbed, "TransformJob", TRANSFORM_LIST)), ctx))
    assert stubbed.status_patches == [], "no status write before the create: the job's name makes it once"
    assert plan.track and plan.status["transformJobArn"].endswith(name)
    assert plan.follow["TransformJobName"] == name


def test_transform_waits_for_a_model_that_is_not_ready_without_calling_create(stubbed):
    objects(stubbed, Model__scorer={"metadata": {"generation": 1}, "status": {}})
    ctx = context(stubbed, "TransformJob", "transformjobs", TRANSFORM_SPEC)
    plan = asyncio.run(run_pass(TransformJobController(Tracker(stubbed, "TransformJob", TRANSFORM_LIST)), ctx))
    assert plan.health.reason == "WaitingForModel" and plan.look_again == "poll" and plan.action is None
    assert stubbed.status_patches == []


def test_transform_delete_stops_the_running_job(stubbed):
    name = "running"
    ctx = context(stubbed, "TransformJob", "transformjobs", TRANSFORM_SPEC,
                  {"transformJobName": name, "transformJobArn": transform_description(name)["TransformJobArn"]})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_transform_job", transform_description(name))
    sagemaker.add_response("list_tags", OWNED)
    sagemaker.add_response("stop_transform_job", {}, expected_params={"TransformJobName": name})
    cleanup = asyncio.run(clean_up(TransformJobController(Tracker(stubbed, "TransformJob", TRANSFORM_LIST)), ctx))
    assert "to stop" in cleanup.waiting and [e.reason for e in cleanup.events] == ["Stopping"]


# HyperParameterTuningJob ----------------------------------------------------------------------------

TUNING_SPEC = {
    "hyperParameterTuningJobConfig": {
        "strategy": "Bayesian",
        "hyperParameterTuningJobObjective": {"type": "Minimize", "metricName": "validation:rmse"},
        "resourceLimits": {"maxNumberOfTrainingJobs": 6, "maxParallelTrainingJobs": 3},
        "parameterRanges": {"integerParameterRanges": [{"name": "max_depth", "minValue": "3", "maxValue": "9"}]},
    },
    "trainingJobDefinition": {
        "roleArn": ROLE,
        "algorithmSpecification": {"trainingImage": IMAGE, "trainingInputMode": "File"},
        "outputDataConfig": {"s3OutputPath": "s3://bucket/tuning/"},
        "resourceConfig": {"instanceType": "ml.m5.xlarge", "instanceCount": 1, "volumeSizeInGB": 10},
        "stoppingCondition": {"maxRuntimeInSeconds": 3600, "maxWaitTimeInSeconds": 3600},
        "enableManagedSpotTraining": True,
    },
    "warmStartConfig": {"warmStartType": "TransferLearning",
                        "parentHyperParameterTuningJobs": [{"ref": {"name": "earlier"}}, {"hyperParameterTuningJobName": "by-name"}]},
}


def tuning_description(name: str, state: str = "InProgress") -> dict:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/{name}",
        "HyperParameterTuningJobConfig": {"Strategy": "Bayesian",
                                          "ResourceLimits": {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 3}},
        "HyperParameterTuningJobStatus": state,
        "CreationTime": NOW,
        "TrainingJobStatusCounters": {"Completed": 0, "InProgress": 3},
        "ObjectiveStatusCounters": {"Pending": 3},
    }


def tuning_controller(runtime) -> TuningJobController:
    return TuningJobController(Tracker(runtime, "HyperParameterTuningJob", TUNING_LIST))


def test_tuning_create_with_a_warm_start_parent_object(stubbed):
    objects(stubbed, HyperParameterTuningJob__earlier={
        "status": {"hyperParameterTuningJobName": "earlier-sm", "hyperParameterTuningJobStatus": "Completed"}})
    ctx = context(stubbed, "HyperParameterTuningJob", "hyperparametertuningjobs", TUNING_SPEC)
    name = derived_name("team", "job", UID, 32)
    assert len(name) <= 32
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    expect_parent_by_name(sagemaker, tags_for("HyperParameterTuningJob"))
    sagemaker.add_response(
        "create_hyper_parameter_tuning_job",
        {"HyperParameterTuningJobArn": tuning_description(name)["HyperParameterTuningJobArn"]},
        expected_params={
            "HyperParameterTuningJobName": name,
            "HyperParameterTuningJobConfig": {
                "Strategy": "Bayesian",
                "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "validation:rmse"},
                "ResourceLimits": {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 3},
                "ParameterRanges": {"IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "3", "MaxValue": "9"}]},
            },
            "TrainingJobDefinition": {
                "RoleArn": ROLE,
                "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
                "OutputDataConfig": {"S3OutputPath": "s3://bucket/tuning/"},
                "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
                "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 3600},
                "EnableManagedSpotTraining": True,
            },
            "WarmStartConfig": {"WarmStartType": "TransferLearning", "ParentHyperParameterTuningJobs": [
                {"HyperParameterTuningJobName": "earlier-sm"}, {"HyperParameterTuningJobName": "by-name"}]},
            "Tags": tags_for("HyperParameterTuningJob"),
        },
    )
    sagemaker.add_response("describe_hyper_parameter_tuning_job", tuning_description(name))
    plan = asyncio.run(run_pass(tuning_controller(stubbed), ctx))
    assert plan.status["trainingJobStatusCounters"]["inProgress"] == 3 and plan.track


def expect_parent_by_name(sagemaker, tags: list[dict]) -> None:
    """The parent given by SageMaker name is looked up, and its tags say whose it is."""
    parent = tuning_description("by-name", "Completed")
    sagemaker.add_response("describe_hyper_parameter_tuning_job", parent, {"HyperParameterTuningJobName": "by-name"})
    sagemaker.add_response("list_tags", {"Tags": tags}, {"ResourceArn": parent["HyperParameterTuningJobArn"]})


def test_tuning_refuses_a_warm_start_parent_of_another_namespace(stubbed):
    objects(stubbed, HyperParameterTuningJob__earlier={
        "status": {"hyperParameterTuningJobName": "earlier-sm", "hyperParameterTuningJobStatus": "Completed"}})
    ctx = context(stubbed, "HyperParameterTuningJob", "hyperparametertuningjobs", TUNING_SPEC)
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    expect_parent_by_name(sagemaker, [{**tag, "Value": "team-a"} if tag["Key"] == "kubemaker.io/namespace" else tag
                                      for tag in tags_for("HyperParameterTuningJob")])
    with pytest.raises(Stall, match="may not use the SageMaker tuning job by-name") as refused:
        asyncio.run(tuning_controller(stubbed).reconcile(ctx))
    assert refused.value.reason == "ReferenceNotAllowed"
    sagemaker.assert_no_pending_responses()


def test_tuning_with_a_refused_role_creates_nothing(stubbed):
    spec = {**TUNING_SPEC, "warmStartConfig": None,
            "trainingJobDefinition": {**TUNING_SPEC["trainingJobDefinition"], "roleArn": "arn:aws:iam::123456789012:role/Admin"}}
    ctx = context(stubbed, "HyperParameterTuningJob", "hyperparametertuningjobs", {k: v for k, v in spec.items() if v})
    with pytest.raises(Stall, match="may not use execution role"):
        asyncio.run(tuning_controller(stubbed).reconcile(ctx))


def test_tuning_delete_stops_the_tuning_job(stubbed):
    name = "search"
    ctx = context(stubbed, "HyperParameterTuningJob", "hyperparametertuningjobs", TUNING_SPEC,
                  {"hyperParameterTuningJobName": name,
                   "hyperParameterTuningJobArn": tuning_description(name)["HyperParameterTuningJobArn"]})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_hyper_parameter_tuning_job", tuning_description(name))
    sagemaker.add_response("list_tags", OWNED)
    sagemaker.add_response("stop_hyper_parameter_tuning_job", {}, expected_params={"HyperParameterTuningJobName": name})
    cleanup = asyncio.run(clean_up(tuning_controller(stubbed), ctx))
    assert "to stop" in cleanup.waiting and [e.reason for e in cleanup.events] == ["Stopping"]


# Pipeline -------------------------------------------------------------------------------------------

DEFINITION = {"Version": "2020-12-01", "Steps": [{"Name": "Train", "Type": "Training", "Arguments": {}}]}
PIPELINE_ARN = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/churn"


def pipeline_description(definition: dict = DEFINITION, **extra) -> dict:
    return {"PipelineName": "churn", "PipelineArn": PIPELINE_ARN, "PipelineDefinition": json.dumps(definition),
            "RoleArn": ROLE, "PipelineStatus": "Active", "CreationTime": NOW, **extra}


def no_executions(sagemaker) -> None:
    sagemaker.add_response("list_pipeline_executions", {"PipelineExecutionSummaries": []}, expected_params={
        "PipelineName": "churn", "SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": 1})


def pipeline_controller(runtime) -> pipeline_handler.PipelineController:
    return pipeline_handler.PipelineController(ConfigMapTracker(runtime))


def test_pipeline_create_with_a_token_from_the_uid_and_the_definition_as_json(stubbed):
    spec = {"pipelineName": "churn", "roleArn": ROLE, "pipelineDefinition": DEFINITION,
            "parallelismConfiguration": {"maxParallelExecutionSteps": 2}}
    ctx = context(stubbed, "Pipeline", "pipelines", spec)
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_client_error("describe_pipeline", "ResourceNotFound", "Pipeline does not exist.")
    sagemaker.add_response("create_pipeline", {"PipelineArn": PIPELINE_ARN}, expected_params={
        "PipelineName": "churn", "PipelineDefinition": json.dumps(DEFINITION, separators=(",", ":")), "RoleArn": ROLE,
        "ParallelismConfiguration": {"MaxParallelExecutionSteps": 2}, "ClientRequestToken": UID,
        "Tags": tags_for("Pipeline"),
    })
    sagemaker.add_response("describe_pipeline", pipeline_description(
        ParallelismConfiguration={"MaxParallelExecutionSteps": 2}))
    no_executions(sagemaker)
    plan = asyncio.run(run_pass(pipeline_controller(stubbed), ctx))
    assert plan.action is None and plan.health.reason == "Active"
    assert plan.status["pipelineArn"] == PIPELINE_ARN
    assert stubbed.status_patches[0]["createPending"]["name"] == "churn", "marker written before the create call"
    assert [e.reason for e in plan.events] == ["Created"]


def test_pipeline_update_from_an_edited_configmap(stubbed):
    edited = {**DEFINITION, "Steps": DEFINITION["Steps"] + [{"Name": "Register", "Type": "RegisterModel", "Arguments": {}}]}
    text = json.dumps(edited, indent=2)
    stubbed.config_maps[("team", "defs")] = {"metadata": {"resourceVersion": "7"}, "data": {"definition.json": text}}
    spec = {"pipelineName": "churn", "roleArn": ROLE,
            "pipelineDefinitionFrom": {"configMapKeyRef": {"name": "defs", "key": "definition.json"}}}
    ctx = context(stubbed, "Pipeline", "pipelines", spec, {"pipelineName": "churn", "pipelineArn": PIPELINE_ARN})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_pipeline", pipeline_description())
    no_executions(sagemaker)
    sagemaker.add_response("update_pipeline", {"PipelineArn": PIPELINE_ARN}, expected_params={
        "PipelineName": "churn", "PipelineDefinition": text, "RoleArn": ROLE})
    controller = pipeline_controller(stubbed)
    plan = asyncio.run(run_pass(controller, ctx))
    assert plan.action == "update_pipeline"
    controller.tracker.follow(ctx, plan.follow, plan.track)  # as the core does once status is written
    assert controller.tracker.readers == {("team", "defs"): {ctx.key}}
    assert controller.tracker.versions == {("team", "defs"): "7"}


def test_pipeline_from_s3_is_compared_with_the_object_and_left_alone_when_equal(stubbed):
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubbed.aws.clients["s3"], stubbed.aws.stubbers["s3"] = s3, Stubber(s3)
    stubbed.aws.stubbers["s3"].activate()
    body = json.dumps(DEFINITION, indent=4).encode()
    stubbed.aws.stubbers["s3"].add_response(
        "get_object", {"Body": StreamingBody(io.BytesIO(body), len(body))},
        expected_params={"Bucket": "defs", "Key": "churn.json", "VersionId": "v2"})
    spec = {"pipelineName": "churn", "roleArn": ROLE,
            "pipelineDefinitionS3Location": {"bucket": "defs", "objectKey": "churn.json", "versionId": "v2"}}
    ctx = context(stubbed, "Pipeline", "pipelines", spec, {"pipelineName": "churn", "pipelineArn": PIPELINE_ARN})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_pipeline", pipeline_description())
    no_executions(sagemaker)
    plan = asyncio.run(pipeline_controller(stubbed).reconcile(ctx))
    assert plan.action is None and plan.health.state == "Ready"


FORBIDDEN_ROLE = "arn:aws:iam::123456789012:role/Admin"


@pytest.mark.parametrize("source", ["inline", "configmap", "s3"])
def test_pipeline_update_refuses_a_step_role_the_namespace_may_not_pass(stubbed, source):
    # An existing pipeline: the refused role comes with an update, from wherever the definition is.
    definition = {**DEFINITION, "Steps": [{"Name": "Train", "Type": "Training", "Arguments": {"RoleArn": FORBIDDEN_ROLE}}]}
    spec = {"pipelineName": "churn", "roleArn": ROLE}
    if source == "inline":
        spec["pipelineDefinition"] = definition
    elif source == "configmap":
        stubbed.config_maps[("team", "defs")] = {"metadata": {"resourceVersion": "7"},
                                                 "data": {"definition.json": json.dumps(definition)}}
        spec["pipelineDefinitionFrom"] = {"configMapKeyRef": {"name": "defs", "key": "definition.json"}}
    else:
        s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        stubbed.aws.clients["s3"], stubbed.aws.stubbers["s3"] = s3, Stubber(s3)
        stubbed.aws.stubbers["s3"].activate()
        body = json.dumps(definition).encode()
        stubbed.aws.stubbers["s3"].add_response("get_object", {"Body": StreamingBody(io.BytesIO(body), len(body))})
        spec["pipelineDefinitionS3Location"] = {"bucket": "defs", "objectKey": "churn.json"}
    ctx = context(stubbed, "Pipeline", "pipelines", spec, {"pipelineName": "churn", "pipelineArn": PIPELINE_ARN})
    with pytest.raises(Stall, match=FORBIDDEN_ROLE) as refused:
        asyncio.run(pipeline_controller(stubbed).reconcile(ctx))
    assert refused.value.reason == "RoleNotAllowed"
    stubbed.aws.stubbers["sagemaker"].assert_no_pending_responses()  # no SageMaker call at all


def test_pipeline_role_change_is_checked_on_update(stubbed):
    spec = {"pipelineName": "churn", "roleArn": FORBIDDEN_ROLE, "pipelineDefinition": DEFINITION}
    ctx = context(stubbed, "Pipeline", "pipelines", spec, {"pipelineName": "churn", "pipelineArn": PIPELINE_ARN})
    with pytest.raises(Stall, match="spec.roleArn") as refused:
        asyncio.run(pipeline_controller(stubbed).reconcile(ctx))
    assert refused.value.reason == "RoleNotAllowed"


def test_pipeline_adoption_tags_the_pipeline_when_the_namespace_may_adopt(stubbed):
    stubbed.config = stubbed.config.model_copy(update={
        "default_namespace_policy": stubbed.config.default_namespace_policy.model_copy(update={"allow_adoption": True})})
    spec = {"pipelineName": "churn", "roleArn": ROLE, "pipelineDefinition": DEFINITION, "adoptExisting": True}
    ctx = context(stubbed, "Pipeline", "pipelines", spec)
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_pipeline", pipeline_description())
    sagemaker.add_response("list_tags", {"Tags": [{"Key": "team", "Value": "churn"}]})
    sagemaker.add_response("add_tags", {}, expected_params={"ResourceArn": PIPELINE_ARN, "Tags": tags_for("Pipeline")})
    no_executions(sagemaker)
    plan = asyncio.run(run_pass(pipeline_controller(stubbed), ctx))
    assert plan.health.state == "Ready"
    assert [reason for _, reason, _ in stubbed.events] == ["Adopted"]


def test_pipeline_of_another_owner_is_not_adopted_without_adopt_existing(stubbed):
    ctx = context(stubbed, "Pipeline", "pipelines", {"pipelineName": "churn", "roleArn": ROLE, "pipelineDefinition": DEFINITION})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_pipeline", pipeline_description())
    sagemaker.add_response("list_tags", {"Tags": []})
    with pytest.raises(Stall, match="adoptExisting"):
        asyncio.run(pipeline_controller(stubbed).reconcile(ctx))


def test_pipeline_delete(stubbed):
    ctx = context(stubbed, "Pipeline", "pipelines", {"pipelineName": "churn", "roleArn": ROLE, "pipelineDefinition": DEFINITION},
                  {"pipelineName": "churn", "pipelineArn": PIPELINE_ARN})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_pipeline", pipeline_description())
    sagemaker.add_response("list_tags", OWNED)
    sagemaker.add_response("delete_pipeline", {"PipelineArn": PIPELINE_ARN},
                           expected_params={"PipelineName": "churn", "ClientRequestToken": f"delete-{UID}"})
    cleanup = asyncio.run(clean_up(pipeline_controller(stubbed), ctx))
    assert cleanup.waiting is None and [e.reason for e in cleanup.events] == ["Deleted"]


# PipelineExecution ----------------------------------------------------------------------------------

EXECUTION_ARN = f"{PIPELINE_ARN}/execution/abc123"
EXECUTION_SPEC = {
    "pipelineRef": {"name": "churn"},
    "pipelineExecutionDisplayName": "weekly-1",
    "pipelineParameters": [{"name": "InputData", "value": "s3://bucket/in/2026-11-01/"}],
}


def execution_description(state: str = "Executing", **extra) -> dict:
    return {"PipelineArn": PIPELINE_ARN, "PipelineExecutionArn": EXECUTION_ARN, "PipelineExecutionStatus": state,
            "PipelineExecutionDisplayName": "weekly-1", "CreationTime": NOW, "LastModifiedTime": NOW, **extra}


def steps(sagemaker) -> None:
    sagemaker.add_response("list_pipeline_execution_steps", {"PipelineExecutionSteps": [
        {"StepName": "Train", "StepStatus": "Executing", "StartTime": NOW, "Metadata": {}}]},
        expected_params={"PipelineExecutionArn": EXECUTION_ARN, "MaxResults": 100})


def test_execution_start_with_parameters_and_the_uid_as_token(stubbed):
    objects(stubbed, Pipeline__churn=ready({"pipelineName": "churn"}))
    ctx = context(stubbed, "PipelineExecution", "pipelineexecutions", EXECUTION_SPEC)
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    # Parameters may be roles: the pipeline's definition says which.
    sagemaker.add_response("describe_pipeline", pipeline_description(ROLE_PARAMETER_DEFINITION), {"PipelineName": "churn"})
    sagemaker.add_response("start_pipeline_execution", {"PipelineExecutionArn": EXECUTION_ARN}, expected_params={
        "PipelineName": "churn", "PipelineExecutionDisplayName": "weekly-1",
        "PipelineParameters": [{"Name": "InputData", "Value": "s3://bucket/in/2026-11-01/"}], "ClientRequestToken": UID,
    })
    sagemaker.add_response("describe_pipeline_execution", execution_description(),
                           expected_params={"PipelineExecutionArn": EXECUTION_ARN})
    steps(sagemaker)
    tracker = ExecutionTracker(stubbed)
    plan = asyncio.run(run_pass(PipelineExecutionController(tracker), ctx))
    assert stubbed.status_patches[:2] == [{"pipelineName": "churn"}, {"pipelineExecutionArn": EXECUTION_ARN}]
    assert plan.status["stepSummary"] == "Train=Executing" and plan.requeue_after
    assert plan.wake == [("Pipeline", "churn")], "the Pipeline reports its latest execution"
    tracker.follow(ctx, plan.follow, plan.track)  # as the core does once status is written
    assert EXECUTION_ARN in tracker.groups[("us-east-1", None, PIPELINE_ARN)].executions


ROLE_PARAMETER_DEFINITION = {
    "Version": "2020-12-01",
    "Parameters": [{"Name": "InputData", "Type": "String"}, {"Name": "Role", "Type": "String", "DefaultValue": ROLE}],
    "Steps": [{"Name": "Train", "Type": "Training", "Arguments": {"RoleArn": {"Get": "Parameters.Role"}}}],
}


def test_execution_refuses_a_role_parameter_the_namespace_may_not_pass(stubbed):
    objects(stubbed, Pipeline__churn=ready({"pipelineName": "churn"}))
    spec = {**EXECUTION_SPEC, "pipelineParameters": [{"name": "Role", "value": "arn:aws:iam::123456789012:role/Admin"}]}
    ctx = context(stubbed, "PipelineExecution", "pipelineexecutions", spec)
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_pipeline", pipeline_description(ROLE_PARAMETER_DEFINITION))
    with pytest.raises(Stall, match="role/Admin") as refused:
        asyncio.run(run_pass(PipelineExecutionController(ExecutionTracker(stubbed)), ctx))
    assert refused.value.reason == "RoleNotAllowed"
    assert stubbed.status_patches == [], "nothing started"


@pytest.mark.parametrize("tags, reason", [
    ([], "ReferenceNotAllowed"),  # made outside Kubemaker
    ([{"Key": "kubemaker.io/namespace", "Value": "team-a"}, {"Key": "kubemaker.io/uid", "Value": "a"}],
     "ReferenceNotAllowed"),
])
def test_execution_of_a_pipeline_by_name_needs_the_pipeline_to_be_the_namespaces(stubbed, tags, reason):
    spec = {key: value for key, value in EXECUTION_SPEC.items() if key != "pipelineRef"}
    ctx = context(stubbed, "PipelineExecution", "pipelineexecutions", {**spec, "pipelineName": "churn"})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_pipeline", pipeline_description(), {"PipelineName": "churn"})
    sagemaker.add_response("list_tags", {"Tags": tags}, {"ResourceArn": PIPELINE_ARN})
    with pytest.raises(Stall, match="allowedSageMakerReferences") as refused:
        asyncio.run(PipelineExecutionController(ExecutionTracker(stubbed)).reconcile(ctx))
    assert refused.value.reason == reason
    sagemaker.assert_no_pending_responses()


def test_execution_display_name_change_calls_update_pipeline_execution(stubbed):
    spec = {**EXECUTION_SPEC, "pipelineExecutionDisplayName": "weekly-1-rerun",
            "parallelismConfiguration": {"maxParallelExecutionSteps": 1}}
    ctx = context(stubbed, "PipelineExecution", "pipelineexecutions", spec,
                  {"pipelineName": "churn", "pipelineExecutionArn": EXECUTION_ARN, "pipelineExecutionStatus": "Executing"})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_pipeline_execution", execution_description())
    steps(sagemaker)
    sagemaker.add_response("update_pipeline_execution", {"PipelineExecutionArn": EXECUTION_ARN}, expected_params={
        "PipelineExecutionArn": EXECUTION_ARN, "PipelineExecutionDisplayName": "weekly-1-rerun",
        "ParallelismConfiguration": {"MaxParallelExecutionSteps": 1},
    })
    plan = asyncio.run(run_pass(PipelineExecutionController(ExecutionTracker(stubbed)), ctx))
    assert plan.action == "update_pipeline_execution"


def test_execution_delete_stops_it(stubbed):
    ctx = context(stubbed, "PipelineExecution", "pipelineexecutions", EXECUTION_SPEC,
                  {"pipelineName": "churn", "pipelineExecutionArn": EXECUTION_ARN})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_pipeline_execution", execution_description())
    sagemaker.add_response("stop_pipeline_execution", {"PipelineExecutionArn": EXECUTION_ARN},
                           expected_params={"PipelineExecutionArn": EXECUTION_ARN, "ClientRequestToken": f"stop-{UID}"})
    cleanup = asyncio.run(clean_up(PipelineExecutionController(ExecutionTracker(stubbed)), ctx))
    assert "to stop" in cleanup.waiting and [e.reason for e in cleanup.events] == ["Stopping"]


def test_execution_tracker_lists_once_per_pipeline_and_wakes_only_changed_executions(stubbed):
    tracker = ExecutionTracker(stubbed)
    changed, same = ("PipelineExecution", "team", "a"), ("PipelineExecution", "team", "b")
    woken = []
    stubbed.work_queue.add = woken.append
    for key, arn in ((changed, EXECUTION_ARN), (same, EXECUTION_ARN + "2")):
        ctx = context(stubbed, "PipelineExecution", "pipelineexecutions", EXECUTION_SPEC)
        ctx.body["metadata"]["name"] = key[2]
        tracker.follow(ctx, execution_description(PipelineExecutionArn=arn), True)
    stubbed.aws.stubbers["sagemaker"].add_response("list_pipeline_executions", {"PipelineExecutionSummaries": [
        {"PipelineExecutionArn": EXECUTION_ARN, "PipelineExecutionStatus": "Succeeded", "StartTime": NOW},
        {"PipelineExecutionArn": EXECUTION_ARN + "2", "PipelineExecutionStatus": "Executing", "StartTime": NOW},
    ]}, expected_params={"PipelineName": PIPELINE_ARN, "CreatedAfter": NOW - datetime.timedelta(seconds=1),
                         "SortBy": "CreationTime", "SortOrder": "Ascending", "MaxResults": 100})
    group = tracker.groups[("us-east-1", None, PIPELINE_ARN)]
    asyncio.run(tracker.poll("us-east-1", PIPELINE_ARN, group))
    assert woken == [changed]
