"""Processing jobs through boto3: the lifecycle on the clock, stop, injected failure, validation,
ListProcessingJobs' filters and paging, and the log streams."""

from __future__ import annotations

import datetime
import time

import pytest
from botocore.exceptions import ClientError

from tests.emulator.helpers import ROLE_ARN, wait_until

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn-processing:1.2"


def processing_request(name: str, **extra) -> dict:
    return {
        "ProcessingJobName": name,
        "ProcessingInputs": [{"InputName": "raw", "S3Input": {
            "S3Uri": "s3://bucket/raw/", "LocalPath": "/opt/ml/processing/input", "S3DataType": "S3Prefix",
            "S3InputMode": "File"}}],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "train", "S3Output": {
            "S3Uri": "s3://bucket/prepared/train/", "LocalPath": "/opt/ml/processing/train",
            "S3UploadMode": "EndOfJob"}}]},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 2, "InstanceType": "ml.m5.xlarge",
                                                  "VolumeSizeInGB": 30}},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "AppSpecification": {"ImageUri": IMAGE, "ContainerEntrypoint": ["python3", "/opt/ml/code/prepare.py"],
                             "ContainerArguments": ["--split", "0.8"]},
        "Environment": {"STAGE": "prepare"},
        "RoleArn": ROLE_ARN,
        "Tags": [{"Key": "owner", "Value": "processing-test"}],
        **extra,
    }


def status(sagemaker, name: str) -> str:
    return sagemaker.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"]


def test_processing_job_completes_stops_and_fails(sagemaker, control, unique):
    done, stopped, failed = unique("prep"), unique("prep-stop"), unique("prep-fail")
    sagemaker.create_processing_job(**processing_request(done))
    sagemaker.create_processing_job(**processing_request(stopped))
    control.fail_processing_job(failed, reason="AlgorithmError: See job logs for more information",
                                exit_message="ValueError: column 'age' is missing")
    sagemaker.create_processing_job(**processing_request(failed))
    sagemaker.stop_processing_job(ProcessingJobName=stopped)
    assert status(sagemaker, stopped) == "Stopping"

    assert wait_until(lambda: status(sagemaker, done), lambda s: s != "InProgress") == ["InProgress", "Completed"]
    job = sagemaker.describe_processing_job(ProcessingJobName=done)
    assert job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == "s3://bucket/prepared/train/"
    assert job["Environment"] == {"STAGE": "prepare"}
    assert job["ProcessingStartTime"] < job["ProcessingEndTime"] and job["LastModifiedTime"] == job["ProcessingEndTime"]
    assert sagemaker.list_tags(ResourceArn=job["ProcessingJobArn"])["Tags"] == [{"Key": "owner", "Value": "processing-test"}]
    assert wait_until(lambda: status(sagemaker, stopped), lambda s: s != "Stopping")[-1] == "Stopped"
    wait_until(lambda: status(sagemaker, failed), lambda s: s != "InProgress")
    failure = sagemaker.describe_processing_job(ProcessingJobName=failed)
    assert (failure["ProcessingJobStatus"], failure["FailureReason"], failure["ExitMessage"]) == (
        "Failed", "AlgorithmError: See job logs for more information", "ValueError: column 'age' is missing")
    with pytest.raises(ClientError) as refused:
        sagemaker.stop_processing_job(ProcessingJobName=done)
    assert "is in status Completed" in refused.value.response["Error"]["Message"]


def test_processing_job_writes_a_log_stream_per_instance(sagemaker, logs, unique):
    name = unique("prep-logs")
    sagemaker.create_processing_job(**processing_request(name))
    wait_until(lambda: status(sagemaker, name), lambda s: s == "Completed")
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/ProcessingJobs",
                                        logStreamNamePrefix=f"{name}/")["logStreams"]
    assert sorted(s["logStreamName"].rsplit("-", 1)[0] for s in streams) == [f"{name}/algo-1", f"{name}/algo-2"]
    events = logs.get_log_events(logGroupName="/aws/sagemaker/ProcessingJobs",
                                 logStreamName=streams[0]["logStreamName"], startFromHead=True)["events"]
    lines = [event["message"] for event in events]
    assert lines[0] == "Starting processing container"
    assert "Downloading input raw from s3://bucket/raw/ to /opt/ml/processing/input" in lines
    assert f"Running {IMAGE}: python3 /opt/ml/code/prepare.py --split 0.8" in lines
    assert lines[-2:] == ["Uploading output train from /opt/ml/processing/train to s3://bucket/prepared/train/",
                          "Processing job completed"]


def test_list_processing_jobs_filters_and_pages(sagemaker, control, unique):
    stem = unique("prep-list")
    names = [f"{stem}-{i}" for i in range(3)]
    before = sagemaker.list_processing_jobs(NameContains=stem)
    assert before["ProcessingJobSummaries"] == []
    control.set_timings(processing_running=60)
    try:
        for name in names:
            sagemaker.create_processing_job(**processing_request(name))
        first, second = sagemaker.list_processing_jobs(NameContains=stem, MaxResults=2), None
        assert [s["ProcessingJobName"] for s in first["ProcessingJobSummaries"]] == names[:2]  # Ascending by default
        second = sagemaker.list_processing_jobs(NameContains=stem, MaxResults=2, NextToken=first["NextToken"])
        assert [s["ProcessingJobName"] for s in second["ProcessingJobSummaries"]] == names[2:]
        assert "NextToken" not in second
        descending = sagemaker.list_processing_jobs(NameContains=stem, SortBy="Name", SortOrder="Descending")
        assert [s["ProcessingJobName"] for s in descending["ProcessingJobSummaries"]] == names[::-1]

        time.sleep(0.05)
        watermark = datetime.datetime.now(datetime.timezone.utc)
        assert sagemaker.list_processing_jobs(NameContains=stem, LastModifiedTimeAfter=watermark)[
            "ProcessingJobSummaries"] == []
        sagemaker.stop_processing_job(ProcessingJobName=names[1])
        modified = sagemaker.list_processing_jobs(NameContains=stem, LastModifiedTimeAfter=watermark)
        assert [(s["ProcessingJobName"], s["ProcessingJobStatus"]) for s in modified["ProcessingJobSummaries"]] == [
            (names[1], "Stopping")]
        running = sagemaker.list_processing_jobs(NameContains=stem, StatusEquals="InProgress")
        assert [s["ProcessingJobName"] for s in running["ProcessingJobSummaries"]] == [names[0], names[2]]
        created_after = sagemaker.list_processing_jobs(NameContains=stem, CreationTimeAfter=watermark)
        assert created_after["ProcessingJobSummaries"] == []
    finally:
        control.set_timings(processing_running=1.5)
        for name in (names[0], names[2]):
            sagemaker.stop_processing_job(ProcessingJobName=name)


@pytest.mark.parametrize("change, message", [
    (lambda r: r["ProcessingInputs"].append(dict(r["ProcessingInputs"][0])),
     "ProcessingInputs must have unique names; duplicated: raw"),
    (lambda r: r["ProcessingInputs"][0].pop("S3Input"),
     "ProcessingInputs[0] must specify exactly one of either S3Input or DatasetDefinition types."),
    (lambda r: r["ProcessingInputs"][0]["S3Input"].pop("LocalPath"),
     "ProcessingInputs[0].S3Input.LocalPath is required when AppManaged is False."),
    (lambda r: r["ProcessingInputs"][0]["S3Input"].update(LocalPath="/data/in"),
     "ProcessingInputs[0].S3Input.LocalPath /data/in must begin with /opt/ml/processing/."),
    (lambda r: r["ProcessingInputs"][0]["S3Input"].update(S3CompressionType="Gzip"),
     "ProcessingInputs[0].S3Input: Gzip can only be used when Pipe mode is specified as the S3InputMode."),
    (lambda r: r["ProcessingOutputConfig"]["Outputs"][0].pop("S3Output"),
     "ProcessingOutputConfig.Outputs[0] must specify exactly one of either S3Output or FeatureStoreOutput."),
    (lambda r: r["ProcessingResources"]["ClusterConfig"].pop("InstanceType"),
     "ProcessingResources.ClusterConfig must specify exactly one of InstanceType and InstancePreferences."),
    (lambda r: r["ProcessingResources"]["ClusterConfig"].pop("InstanceCount"),
     "ProcessingResources.ClusterConfig.InstanceCount is required with InstanceType."),
])
def test_create_refuses_what_sagemaker_refuses(sagemaker, unique, change, message):
    name = unique("prep-bad")
    request = processing_request(name)
    change(request)
    with pytest.raises(ClientError) as refused:
        sagemaker.create_processing_job(**request)
    assert refused.value.response["Error"] == {"Code": "ValidationException", "Message": message}
    assert sagemaker.list_processing_jobs(NameContains=name)["ProcessingJobSummaries"] == []


def test_processing_job_errors(sagemaker, sagemaker_unchecked, unique):
    with pytest.raises(ClientError) as missing:
        sagemaker.describe_processing_job(ProcessingJobName="no-such-job")
    assert missing.value.response["Error"] == {"Code": "ValidationException",
                                               "Message": "Could not find requested job with name no-such-job"}
    name = unique("prep-twice")
    sagemaker.create_processing_job(**processing_request(name))
    with pytest.raises(ClientError) as twice:
        sagemaker.create_processing_job(**processing_request(name))
    assert twice.value.response["Error"]["Code"] == "ResourceInUse"
    with pytest.raises(ClientError) as model_refusal:  # the service model's own bounds, checked by the emulator
        sagemaker_unchecked.create_processing_job(**processing_request(unique("prep"), ProcessingResources={
            "ClusterConfig": {"InstanceCount": 101, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}}))
    assert model_refusal.value.response["Error"]["Code"] == "ValidationException"
    assert "101" in model_refusal.value.response["Error"]["Message"]


def test_a_job_past_its_max_runtime_is_stopped_without_a_failure_reason(sagemaker, control, unique):
    name = unique("prep-slow")
    control.set_timings(processing_running=60)
    try:
        sagemaker.create_processing_job(**processing_request(name, StoppingCondition={"MaxRuntimeInSeconds": 1}))
    finally:
        control.set_timings(processing_running=1.5)
    assert wait_until(lambda: status(sagemaker, name), lambda s: s == "Stopped")[-2:] == ["Stopping", "Stopped"]
    job = sagemaker.describe_processing_job(ProcessingJobName=name)
    assert "FailureReason" not in job
    assert (job["ProcessingEndTime"] - job["ProcessingStartTime"]).total_seconds() >= 1
