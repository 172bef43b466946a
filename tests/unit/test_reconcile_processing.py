"""The ProcessingJob planner as a table: (status, SageMaker description) -> plan; and its spec model."""

from __future__ import annotations

import datetime

import pytest

from kubemaker.api.processing_job import ProcessingJobSpec, build_create_processing_job_request
from kubemaker.conditions import READY, RECONCILING, STALLED
from kubemaker.reconcile import processing as planner

T0 = datetime.datetime(2026, 11, 1, 12, 0, tzinfo=datetime.timezone.utc)
NAME = "ns-prepare-abcdef12"


def description(state: str = "InProgress", **extra) -> dict:
    return {
        "ProcessingJobName": NAME,
        "ProcessingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/{NAME}",
        "ProcessingJobStatus": state,
        "ProcessingOutputConfig": {"Outputs": [
            {"OutputName": "train", "S3Output": {"S3Uri": "s3://bucket/train/", "LocalPath": "/opt/ml/processing/train",
                                                 "S3UploadMode": "EndOfJob"}},
            {"OutputName": "features", "FeatureStoreOutput": {"FeatureGroupName": "customers"}},
        ]},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                                                  "VolumeSizeInGB": 30}},
        "AppSpecification": {"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/prep:1"},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerExecution",
        "CreationTime": T0,
        "LastModifiedTime": T0,
        "ProcessingStartTime": T0,
        **extra,
    }


FAILED = description("Failed", FailureReason="AlgorithmError: See job logs for more information",
                     ExitMessage="KeyError: 'age'")


@pytest.mark.parametrize(
    "described, previous, state, reason, track, events",
    [
        (description(), {}, RECONCILING, "InProgress", True, [("Normal", "ProcessingInProgress")]),
        (description(), {"processingJobStatus": "InProgress"}, RECONCILING, "InProgress", True, []),
        (description("Completed", ProcessingEndTime=T0), {"processingJobStatus": "InProgress"}, READY, "Completed",
         False, [("Normal", "ProcessingCompleted")]),
        # Seen again after a restart: no second Event.
        (description("Completed"), {"processingJobStatus": "Completed"}, READY, "Completed", False, []),
        (FAILED, {"processingJobStatus": "InProgress"}, STALLED, "Failed", False, [("Warning", "ProcessingFailed")]),
        (description("Stopping"), {"processingJobStatus": "InProgress"}, RECONCILING, "Stopping", True,
         [("Normal", "ProcessingStopping")]),
        (description("Stopped"), {"processingJobStatus": "Stopping"}, STALLED, "Stopped", False,
         [("Warning", "ProcessingStopped")]),
    ],
)
def test_plan_observed(described, previous, state, reason, track, events):
    plan = planner.plan_observed(previous, described, "us-east-1")
    assert (plan.health.state, plan.health.reason, plan.track) == (state, reason, track)
    assert [(event.type, event.reason) for event in plan.events] == events
    assert plan.action is None


def test_status_in_sagemakers_words_with_the_output_locations():
    plan = planner.plan_observed({"createPending": {"name": NAME}}, description("Completed", ProcessingEndTime=T0),
                                 "eu-west-1")
    status = plan.status
    assert status["processingJobStatus"] == "Completed" and status["processingJobName"] == NAME
    assert status["processingOutputs"] == [{"outputName": "train", "s3Uri": "s3://bucket/train/"},
                                           {"outputName": "features", "featureGroupName": "customers"}]
    assert status["processingEndTime"] == "2026-11-01T12:00:00Z"
    assert status["createPending"] is None
    assert status["consoleUrl"] == f"https://eu-west-1.console.aws.amazon.com/sagemaker/home?region=eu-west-1#/processing-jobs/{NAME}"
    assert "s3://bucket/train/" in plan.health.message


def test_failure_names_the_reason_and_the_containers_exit_message():
    plan = planner.plan_observed({"processingJobStatus": "InProgress"}, FAILED, "us-east-1")
    assert plan.status["failureReason"] == "AlgorithmError: See job logs for more information"
    assert plan.status["exitMessage"] == "KeyError: 'age'"
    assert "See job logs" in plan.health.message and "exit message: KeyError: 'age'" in plan.health.message
    assert "KeyError: 'age'" in plan.events[0].message


SPEC = {
    "roleArn": "arn:aws:iam::123456789012:role/SageMakerExecution",
    "appSpecification": {"imageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/prep:1",
                         "containerEntrypoint": ["python3", "/opt/ml/code/prepare.py"]},
    "processingResources": {"clusterConfig": {"instanceCount": 1, "instanceType": "ml.m5.xlarge",
                                              "volumeSizeInGB": 30}},
    "environment": {"STAGE": "prepare"},
    "tags": [{"key": "team", "value": "data"}, {"key": "kubemaker.io/uid", "value": "forged"}],
    "deletionPolicy": "Retain",
}


def test_create_request_keeps_environment_and_map_keys_and_puts_ownership_last():
    request = build_create_processing_job_request(
        ProcessingJobSpec.model_validate(SPEC), NAME, {"kubemaker.io/uid": "real-uid"})
    assert request["ProcessingJobName"] == NAME
    assert request["Environment"] == {"STAGE": "prepare"}
    assert request["AppSpecification"]["ContainerEntrypoint"] == ["python3", "/opt/ml/code/prepare.py"]
    # The ownership tag cannot be forged from the spec; deletionPolicy never reaches SageMaker.
    assert request["Tags"] == [{"Key": "team", "Value": "data"}, {"Key": "kubemaker.io/uid", "Value": "real-uid"}]
    assert "DeletionPolicy" not in request and "deletionPolicy" not in request


@pytest.mark.parametrize("ran_seconds, says_max_runtime", [(3600.4, True), (3599, False)])
def test_a_job_stopped_at_its_max_runtime_says_so(ran_seconds, says_max_runtime):
    stopped = description("Stopped", StoppingCondition={"MaxRuntimeInSeconds": 3600},
                          ProcessingEndTime=T0 + datetime.timedelta(seconds=ran_seconds))
    health = planner.plan_observed({"processingJobStatus": "Stopping"}, stopped, "us-east-1").health
    assert (health.state, health.reason) == (STALLED, "Stopped")
    assert ("maxRuntimeInSeconds is 3600" in health.message) is says_max_runtime
