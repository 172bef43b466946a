"""Tuning jobs and batch transform jobs through boto3."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError

from tests.emulator.helpers import ROLE_ARN, training_request, wait_until


def tuning_request(name, max_jobs=4, max_parallel=2, **extra):
    definition = training_request("unused")
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": max_jobs, "MaxParallelTrainingJobs": max_parallel},
            "ParameterRanges": {
                "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "3", "MaxValue": "10"}],
                "ContinuousParameterRanges": [
                    {"Name": "eta", "MinValue": "0.01", "MaxValue": "0.5", "ScalingType": "Logarithmic"}
                ],
                "CategoricalParameterRanges": [{"Name": "booster", "Values": ["gbtree", "dart"]}],
            },
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"num_round": "100"},
            "AlgorithmSpecification": definition["AlgorithmSpecification"],
            "RoleArn": ROLE_ARN,
            "InputDataConfig": definition["InputDataConfig"],
            "OutputDataConfig": definition["OutputDataConfig"],
            "ResourceConfig": definition["ResourceConfig"],
            "StoppingCondition": definition["StoppingCondition"],
        },
        "Tags": [{"Key": "owner", "Value": "tuning-test"}],
        **extra,
    }


def test_tuning_job_runs_children_within_limits_and_reports_the_best(sagemaker, unique):
    name = unique("hpo")
    arn = sagemaker.create_hyper_parameter_tuning_job(**tuning_request(name))["HyperParameterTuningJobArn"]
    early = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert early["TrainingJobStatusCounters"]["InProgress"] == 2

    def progress():
        described = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        assert described["TrainingJobStatusCounters"]["InProgress"] <= 2
        return described["HyperParameterTuningJobStatus"]

    wait_until(progress, lambda s: s != "InProgress", timeout=30)

    tuning = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert tuning["HyperParameterTuningJobStatus"] == "Completed"
    assert tuning["TrainingJobStatusCounters"]["Completed"] == 4
    assert tuning["ObjectiveStatusCounters"] == {"Succeeded": 4, "Pending": 0, "Failed": 0}
    children = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, SortBy="FinalObjectiveMetricValue", SortOrder="Descending"
    )["TrainingJobSummaries"]
    assert len(children) == 4
    assert all(re.fullmatch(rf"{name}-00[1-4]-[0-9a-f]{{8}}", c["TrainingJobName"]) for c in children)
    values = [c["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for c in children]
    assert values == sorted(values, reverse=True)
    best = tuning["BestTrainingJob"]
    assert best["TrainingJobName"] == children[0]["TrainingJobName"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == values[0]
    assert set(best["TunedHyperParameters"]) == {"max_depth", "eta", "booster"}
    assert best["TunedHyperParameters"]["booster"] in ("gbtree", "dart")
    assert 3 <= int(best["TunedHyperParameters"]["max_depth"]) <= 10

    child = sagemaker.describe_training_job(TrainingJobName=best["TrainingJobName"])
    assert child["TuningJobArn"] == arn
    assert child["HyperParameters"]["num_round"] == "100"
    assert child["HyperParameters"]["_tuning_objective_metric"] == "validation:auc"
    assert sagemaker.list_tags(ResourceArn=child["TrainingJobArn"])["Tags"] == [{"Key": "owner", "Value": "tuning-test"}]

    paged = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, MaxResults=3, StatusEquals="Completed"
    )
    assert len(paged["TrainingJobSummaries"]) == 3 and paged["NextToken"]

    warm = unique("warm")
    sagemaker.create_hyper_parameter_tuning_job(
        **tuning_request(
            warm,
            max_jobs=1,
            max_parallel=1,
            WarmStartConfig={"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": name}], "WarmStartType": "IdenticalDataAndAlgorithm"},
        )
    )
    described = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=warm)
    assert described["WarmStartConfig"]["WarmStartType"] == "IdenticalDataAndAlgorithm"
    assert described["OverallBestTrainingJob"]["TrainingJobName"] == best["TrainingJobName"]
    sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=warm)


def test_stopping_a_tuning_job_stops_its_children(sagemaker, unique):
    name = unique("hpo-stop")
    sagemaker.create_hyper_parameter_tuning_job(**tuning_request(name, max_jobs=6, max_parallel=3))
    sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)["HyperParameterTuningJobStatus"] == "Stopping"

    wait_until(
        lambda: sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)["HyperParameterTuningJobStatus"],
        lambda s: s == "Stopped",
    )

    children = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)["TrainingJobSummaries"]
    assert [c["TrainingJobStatus"] for c in children] == ["Stopped"] * 3


def test_missing_tuning_job(sagemaker):
    with pytest.raises(ClientError) as missing:
        sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="no-such-tuning-job")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFound"


@pytest.fixture
def model(sagemaker, unique):
    name = unique("model")
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": "image:1"})
    return name


def transform_request(name, model):
    return {
        "TransformJobName": name,
        "ModelName": model,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/batch/in"}},
            "ContentType": "text/csv",
        },
        "TransformOutput": {"S3OutputPath": "s3://bucket/batch/out"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }


def transform_status(sagemaker, name):
    return sagemaker.describe_transform_job(TransformJobName=name)["TransformJobStatus"]


def test_transform_job_completes_stops_and_fails(sagemaker, control, unique, model):
    done, stopped, failed = unique("batch"), unique("batch-stop"), unique("batch-fail")
    sagemaker.create_transform_job(**transform_request(done, model))
    sagemaker.create_transform_job(**transform_request(stopped, model))
    control.fail_transform_job(failed, reason="ClientError: bad record on line 3")
    sagemaker.create_transform_job(**transform_request(failed, model))
    sagemaker.stop_transform_job(TransformJobName=stopped)

    assert wait_until(lambda: transform_status(sagemaker, done), lambda s: s != "InProgress") == ["InProgress", "Completed"]
    job = sagemaker.describe_transform_job(TransformJobName=done)
    assert job["TransformOutput"] == {"S3OutputPath": "s3://bucket/batch/out", "AssembleWith": "None"}
    assert job["TransformStartTime"] < job["TransformEndTime"]
    assert transform_status(sagemaker, stopped) == "Stopped"
    failure = sagemaker.describe_transform_job(TransformJobName=failed)
    assert (failure["TransformJobStatus"], failure["FailureReason"]) == ("Failed", "ClientError: bad record on line 3")
    listed = sagemaker.list_transform_jobs(NameContains=done)["TransformJobSummaries"]
    assert [j["TransformJobName"] for j in listed] == [done]


def test_transform_job_errors(sagemaker, unique, model):
    with pytest.raises(ClientError) as missing:
        sagemaker.describe_transform_job(TransformJobName="no-such-job")
    assert missing.value.response["Error"]["Message"] == "Could not find requested job with name no-such-job"
    with pytest.raises(ClientError) as no_model:
        sagemaker.create_transform_job(**transform_request(unique("batch"), "no-such-model"))
    assert no_model.value.response["Error"]["Code"] == "ValidationException"
