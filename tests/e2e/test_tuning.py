"""HyperParameterTuningJob end to end: the real API server, the emulator and `kubemaker run`."""

from __future__ import annotations

import contextlib
import threading

from tests.e2e.helpers import apply, condition, events_for, get, slowed, wait_for
from tests.e2e.hosting import ready

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"


def tuning_job(name: str, max_jobs: int, max_parallel: int, **spec) -> dict:
    return {
        "apiVersion": "sagemaker.kubemaker.io/v1alpha1",
        "kind": "HyperParameterTuningJob",
        "metadata": {"name": name},
        "spec": {
            "hyperParameterTuningJobConfig": {
                "strategy": "Bayesian",
                "hyperParameterTuningJobObjective": {"type": "Minimize", "metricName": "validation:rmse"},
                "resourceLimits": {"maxNumberOfTrainingJobs": max_jobs, "maxParallelTrainingJobs": max_parallel},
                "parameterRanges": {
                    "continuousParameterRanges": [{"name": "eta", "minValue": "0.05", "maxValue": "0.5"}],
                    "integerParameterRanges": [{"name": "max_depth", "minValue": "3", "maxValue": "9"}],
                },
            },
            "trainingJobDefinition": {
                "roleArn": ROLE,
                "algorithmSpecification": {
                    "trainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:latest",
                    "trainingInputMode": "File",
                    "metricDefinitions": [{"name": "validation:rmse", "regex": "validation-rmse:([0-9.]+)"}],
                },
                "staticHyperParameters": {"num_round": "100"},
                "outputDataConfig": {"s3OutputPath": "s3://kubemaker-demo/tuning/"},
                "resourceConfig": {"instanceType": "ml.m5.xlarge", "instanceCount": 1, "volumeSizeInGB": 10},
                "stoppingCondition": {"maxRuntimeInSeconds": 3600, "maxWaitTimeInSeconds": 3600},
                "enableManagedSpotTraining": True,
            },
            **spec,
        },
    }


@contextlib.contextmanager
def most_in_progress(emulator, tuning_job_name: str):
    """Samples the tuning job's InProgress counter in SageMaker while the block runs; yields the list of samples."""
    client = emulator.client("sagemaker")
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            described = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning_job_name)
            samples.append(described["TrainingJobStatusCounters"]["InProgress"])
            done.wait(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join()


def test_six_jobs_three_at_a_time_with_the_best_in_status_then_a_warm_start(operator, emulator, kubectl, namespace):
    job_name = f"{namespace}"[:23].strip("-") + "-hpo"
    # The warm start child is applied at once: it waits for its parent object to finish.
    apply(kubectl, tuning_job("search", 6, 3, hyperParameterTuningJobName=job_name), namespace)
    apply(kubectl, tuning_job("refine", 2, 2, warmStartConfig={
        "warmStartType": "IdenticalDataAndAlgorithm", "parentHyperParameterTuningJobs": [{"ref": {"name": "search"}}],
    }), namespace)
    wait_for(lambda: (o := get(kubectl, "hyperparametertuningjob", namespace, "search")).get("status", {}).get(
        "hyperParameterTuningJobArn") and o, timeout=30, what="tuning job created")
    waiting = condition(get(kubectl, "hyperparametertuningjob", namespace, "refine"), "Reconciling")
    assert waiting["reason"] == "WaitingForParents" and "search" in waiting["message"]

    with most_in_progress(emulator, job_name) as in_progress:
        obj = wait_for(lambda: ready(kubectl, "hyperparametertuningjob", namespace, "search"), timeout=90, what="Ready")
    assert max(in_progress) == 3, in_progress

    status = obj["status"]
    assert status["hyperParameterTuningJobStatus"] == "Completed"
    assert status["trainingJobStatusCounters"]["completed"] == 6
    assert status["objectiveStatusCounters"]["succeeded"] == 6
    best = status["bestTrainingJob"]
    children = emulator.client("sagemaker").list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=job_name, SortBy="FinalObjectiveMetricValue", SortOrder="Ascending",
    )["TrainingJobSummaries"]
    assert len(children) == 6
    assert best["trainingJobName"] == children[0]["TrainingJobName"]
    assert best["finalHyperParameterTuningJobObjectiveMetric"]["value"] == children[0][
        "FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert set(best["tunedHyperParameters"]) == {"eta", "max_depth"}
    table = kubectl("get", "smhpo", "search", "-n", namespace).stdout
    assert best["trainingJobName"] in table and "Completed" in table
    reasons = [event["reason"] for event in events_for(kubectl, namespace, "search")]
    assert "NewBestTrainingJob" in reasons and "TuningCompleted" in reasons

    refined = wait_for(lambda: ready(kubectl, "hyperparametertuningjob", namespace, "refine"), timeout=60, what="warm start Ready")
    described = emulator.client("sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=refined["status"]["hyperParameterTuningJobName"])
    assert described["WarmStartConfig"]["ParentHyperParameterTuningJobs"] == [{"HyperParameterTuningJobName": job_name}]


def test_delete_stops_the_tuning_job_and_its_training_jobs(operator, emulator, kubectl, namespace):
    with slowed(emulator, training_training=30):
        apply(kubectl, tuning_job("stop-me", 4, 2), namespace)
        obj = wait_for(
            lambda: (o := get(kubectl, "hyperparametertuningjob", namespace, "stop-me")).get("status", {}).get(
                "trainingJobStatusCounters", {}).get("inProgress") == 2 and o,
            timeout=30, what="two training jobs in progress",
        )
        kubectl("delete", "hyperparametertuningjob", "stop-me", "-n", namespace, "--timeout=60s")
    client = emulator.client("sagemaker")
    name = obj["status"]["hyperParameterTuningJobName"]
    assert client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
        "HyperParameterTuningJobStatus"] == "Stopped"
    children = client.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert {child["TrainingJobStatus"] for child in children["TrainingJobSummaries"]} == {"Stopped"}
