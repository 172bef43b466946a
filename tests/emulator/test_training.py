"""Training jobs through boto3 against the emulator (fast profile)."""

from __future__ import annotations

import math
import time

import pytest
from botocore.exceptions import ClientError

from tests.emulator.helpers import training_request, wait_until


def status_of(sagemaker, name):
    described = sagemaker.describe_training_job(TrainingJobName=name)
    return described["TrainingJobStatus"], described["SecondaryStatus"]


def test_spot_job_progresses_to_completed_with_artifacts_metrics_and_savings(sagemaker, unique):
    name = unique("train")
    request = training_request(
        name,
        EnableManagedSpotTraining=True,
        StoppingCondition={"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
    )
    sagemaker.create_training_job(**request)

    seen = wait_until(lambda: status_of(sagemaker, name), lambda s: s[0] == "Completed")

    assert seen[0] == ("InProgress", "Starting")
    assert [s for s in seen if s[0] == "InProgress"] == [
        ("InProgress", "Starting"),
        ("InProgress", "Downloading"),
        ("InProgress", "Training"),
        ("InProgress", "Uploading"),
    ]
    job = sagemaker.describe_training_job(TrainingJobName=name)
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://bucket/output/{name}/output/model.tar.gz"
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed",
    ]  # fmt: skip
    assert all(t["StatusMessage"] for t in job["SecondaryStatusTransitions"])
    assert job["SecondaryStatusTransitions"][0]["EndTime"] == job["SecondaryStatusTransitions"][1]["StartTime"]
    assert job["TrainingStartTime"] < job["TrainingEndTime"] == job["LastModifiedTime"]
    assert 0 < job["BillableTimeInSeconds"] < job["TrainingTimeInSeconds"]
    savings = 1 - job["BillableTimeInSeconds"] / job["TrainingTimeInSeconds"]
    assert 0.5 <= savings <= 0.75
    metrics = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    assert set(metrics) == {"validation:rmse", "validation:auc"}
    assert 0 < metrics["validation:rmse"] < 0.5 and 0.65 < metrics["validation:auc"] <= 1
    # Defaults AWS fills in, and the request echoed back.
    assert job["OutputDataConfig"]["CompressionType"] == "GZIP"
    assert job["AlgorithmSpecification"]["EnableSageMakerMetricsTimeSeries"] is False
    assert job["EnableNetworkIsolation"] is False and job["EnableInterContainerTrafficEncryption"] is False
    assert job["ProfilingStatus"] == "Enabled" and job["ProfilerConfig"]["S3OutputPath"] == "s3://bucket/output"
    assert job["HyperParameters"] == {"max_depth": "5", "eta": "0.2"}
    assert job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataDistributionType"] == "FullyReplicated"


def test_stop_goes_through_stopping_to_stopped(sagemaker, unique):
    name = unique("stop")
    sagemaker.create_training_job(**training_request(name))
    sagemaker.stop_training_job(TrainingJobName=name)

    seen = wait_until(lambda: status_of(sagemaker, name), lambda s: s[0] == "Stopped")

    assert seen == [("Stopping", "Stopping"), ("Stopped", "Stopped")]
    with pytest.raises(ClientError) as refused:
        sagemaker.stop_training_job(TrainingJobName=name)
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_failure_control_fails_running_job_and_arms_future_one(sagemaker, control, unique):
    running, future = unique("fail-now"), unique("fail-later")
    sagemaker.create_training_job(**training_request(running))
    control.fail_training_job(running, reason="AlgorithmError: out of memory")
    control.fail_training_job(future, reason="ClientError: bad data")
    sagemaker.create_training_job(**training_request(future))

    now_failed = sagemaker.describe_training_job(TrainingJobName=running)
    assert (now_failed["TrainingJobStatus"], now_failed["SecondaryStatus"]) == ("Failed", "Failed")
    assert now_failed["FailureReason"] == "AlgorithmError: out of memory"
    seen = wait_until(lambda: status_of(sagemaker, future), lambda s: s[0] == "Failed")
    assert ("InProgress", "Downloading") in seen
    assert sagemaker.describe_training_job(TrainingJobName=future)["FailureReason"] == "ClientError: bad data"


def test_spot_interruption_resumes_from_checkpoint(sagemaker, control, unique):
    name = unique("spot")
    sagemaker.create_training_job(
        **training_request(
            name,
            EnableManagedSpotTraining=True,
            CheckpointConfig={"S3Uri": "s3://bucket/checkpoints"},
            StoppingCondition={"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
        )
    )
    wait_until(lambda: status_of(sagemaker, name), lambda s: s[1] == "Training")
    control.interrupt_spot(name)
    assert status_of(sagemaker, name) == ("InProgress", "Interrupted")

    wait_until(lambda: status_of(sagemaker, name), lambda s: s[0] == "Completed", timeout=20)

    statuses = [t["Status"] for t in sagemaker.describe_training_job(TrainingJobName=name)["SecondaryStatusTransitions"]]
    assert statuses == [
        "Starting", "Downloading", "Training", "Interrupted", "Starting", "Downloading", "Training", "Uploading",
        "Completed",
    ]  # fmt: skip


def test_interrupting_an_on_demand_job_is_refused(sagemaker, control, unique):
    from kubemaker_emulator.control import ControlApiError

    name = unique("on-demand")
    sagemaker.create_training_job(**training_request(name))
    with pytest.raises(ControlApiError) as refused:
        control.interrupt_spot(name)
    assert refused.value.status == 409


def test_max_runtime_exceeded_stops_the_job(sagemaker, unique):
    name = unique("runtime")
    sagemaker.create_training_job(**training_request(name, StoppingCondition={"MaxRuntimeInSeconds": 1}))

    wait_until(lambda: status_of(sagemaker, name), lambda s: s[0] != "InProgress")

    assert status_of(sagemaker, name) == ("Stopped", "MaxRuntimeExceeded")


def test_max_wait_exceeded_fails_a_spot_job(sagemaker, unique):
    name = unique("wait")
    sagemaker.create_training_job(
        **training_request(
            name,
            EnableManagedSpotTraining=True,
            StoppingCondition={"MaxRuntimeInSeconds": 1, "MaxWaitTimeInSeconds": 1},
        )
    )

    wait_until(lambda: status_of(sagemaker, name), lambda s: s[0] != "InProgress")

    job = sagemaker.describe_training_job(TrainingJobName=name)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Failed", "MaxWaitTimeExceeded")
    assert "MaxWaitTimeInSeconds" in job["FailureReason"]


def test_missing_and_duplicate_jobs_get_aws_errors(sagemaker, unique):
    with pytest.raises(ClientError) as missing:
        sagemaker.describe_training_job(TrainingJobName=unique("missing"))
    assert missing.value.response["Error"] == {"Code": "ValidationException", "Message": "Requested resource not found."}
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    name = unique("twice")
    arn = sagemaker.create_training_job(**training_request(name))["TrainingJobArn"]
    with pytest.raises(ClientError) as duplicate:
        sagemaker.create_training_job(**training_request(name))
    assert duplicate.value.response["Error"]["Code"] == "ResourceInUse"
    assert duplicate.value.response["Error"]["Message"] == (
        "Training job names must be unique within an AWS account and region, and a training job with this name "
        f"already exists ({arn})"
    )


def test_requests_are_validated_against_the_service_model(sagemaker_unchecked):
    request = training_request("x" * 64)
    del request["RoleArn"]
    request["AlgorithmSpecification"]["TrainingInputMode"] = "Streaming"

    with pytest.raises(ClientError) as refused:
        sagemaker_unchecked.create_training_job(**request)

    error = refused.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith("4 validation errors detected: ")  # the name breaks its length and its pattern
    assert "Value null at 'roleArn' failed to satisfy constraint: Member must not be null" in error["Message"]
    assert "at 'algorithmSpecification.trainingInputMode' failed to satisfy constraint: Member must satisfy enum value set" in error["Message"]
    assert f"Value '{'x' * 64}' at 'trainingJobName' failed to satisfy constraint: Member must have length less than or equal to 63" in error["Message"]


def test_spot_without_max_wait_is_refused(sagemaker, unique):
    with pytest.raises(ClientError) as refused:
        sagemaker.create_training_job(**training_request(unique("spot"), EnableManagedSpotTraining=True))
    assert "MaxWaitTimeInSeconds" in refused.value.response["Error"]["Message"]


def test_list_filters_sorts_and_pages(sagemaker, unique):
    prefix = unique("listing")
    names = [f"{prefix}-{i}" for i in range(7)]
    # Timestamps travel as whole epoch seconds: put a second boundary between the two batches.
    for name in names[:4]:
        sagemaker.create_training_job(**training_request(name))
    boundary = math.floor(time.time()) + 1
    time.sleep(boundary + 0.05 - time.time())
    for name in names[4:]:
        sagemaker.create_training_job(**training_request(name))
    sagemaker.stop_training_job(TrainingJobName=names[0])

    pages, token = [], None
    while True:
        extra = {"NextToken": token} if token else {}
        answer = sagemaker.list_training_jobs(NameContains=prefix, MaxResults=3, SortBy="Name", SortOrder="Descending", **extra)
        pages.append([s["TrainingJobName"] for s in answer["TrainingJobSummaries"]])
        token = answer.get("NextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sum(pages, []) == sorted(names, reverse=True)

    stopping = sagemaker.list_training_jobs(NameContains=prefix, StatusEquals="Stopping")["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in stopping] == [names[0]]
    later = sagemaker.list_training_jobs(NameContains=prefix.upper(), CreationTimeAfter=boundary, MaxResults=100)
    assert [s["TrainingJobName"] for s in later["TrainingJobSummaries"]] == names[4:]
    modified = sagemaker.list_training_jobs(NameContains=prefix, LastModifiedTimeBefore=boundary - 60, MaxResults=100)
    assert modified["TrainingJobSummaries"] == []

    paginated = sagemaker.get_paginator("list_training_jobs").paginate(NameContains=prefix, PaginationConfig={"PageSize": 2})
    assert sorted(s["TrainingJobName"] for p in paginated for s in p["TrainingJobSummaries"]) == names


def test_log_streams_per_host_fill_as_the_job_runs(sagemaker, logs, unique):
    name = unique("logs")
    sagemaker.create_training_job(
        **training_request(name, ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 10})
    )
    wait_until(lambda: status_of(sagemaker, name), lambda s: s[1] == "Training")
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{name}/")
    names = sorted(s["logStreamName"] for s in streams["logStreams"])
    assert [n.rsplit("-", 1)[0] for n in names] == [f"{name}/algo-1", f"{name}/algo-2"]
    early = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=names[0])["events"]

    wait_until(lambda: status_of(sagemaker, name), lambda s: s[0] == "Completed")

    late = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=names[0])["events"]
    assert 0 < len(early) < len(late)
    assert any("validation:auc=" in e["message"] for e in late)
    found = logs.filter_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNames=names, filterPattern="completed")
    assert len(found["events"]) == 2


def test_tags_on_create_and_by_arn(sagemaker, unique):
    name = unique("tags")
    arn = sagemaker.create_training_job(**training_request(name, Tags=[{"Key": "owner", "Value": "ns/a"}]))["TrainingJobArn"]
    sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "ml"}, {"Key": "owner", "Value": "ns/b"}])
    assert sorted((t["Key"], t["Value"]) for t in sagemaker.list_tags(ResourceArn=arn)["Tags"]) == [("owner", "ns/b"), ("team", "ml")]
    sagemaker.delete_tags(ResourceArn=arn, TagKeys=["team"])
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "owner", "Value": "ns/b"}]
