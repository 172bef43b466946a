"""The HyperParameterTuningJob planner as a table: parents, SageMaker description -> plan."""

from __future__ import annotations

import datetime

import pytest

from kubemaker.conditions import READY, RECONCILING, STALLED
from kubemaker.reconcile import tuning as planner

T0 = datetime.datetime(2026, 11, 1, 12, 0, tzinfo=datetime.timezone.utc)
NAME = "ns-search-abcdef12"


def parent(state: str | None, name: str | None = "parent-sm") -> dict:
    status = {}
    if state:
        status["hyperParameterTuningJobStatus"] = state
    if name:
        status["hyperParameterTuningJobName"] = name
    return {"status": status}


@pytest.mark.parametrize(
    "parents, names, waiting_on",
    [
        ({}, {}, None),
        ({"a": parent("Completed")}, {"a": "parent-sm"}, None),
        ({"a": parent("Stopped")}, {"a": "parent-sm"}, None),
        ({"a": None}, {}, ["a"]),
        ({"a": parent("InProgress")}, {}, ["a"]),
        ({"a": parent(None, None)}, {}, ["a"]),
        ({"a": parent("Completed"), "b": parent("InProgress", "b-sm")}, {"a": "parent-sm"}, ["b"]),
    ],
)
def test_resolve_parents(parents, names, waiting_on):
    resolved = planner.resolve_parents(parents)
    if waiting_on:
        waiting = resolved.health
        assert waiting.reason == "WaitingForParents"
        assert all(ref in waiting.message for ref in waiting_on)
    else:
        assert resolved == names


def test_a_failed_parent_cannot_warm_start():
    plan = planner.resolve_parents({"a": parent("Failed")})
    assert (plan.health.state, plan.health.reason) == ("Stalled", "ParentFailed")
    assert "HyperParameterTuningJob a failed" in plan.health.message and plan.events


def best(job: str = f"{NAME}-003-1a2b3c4d", value: float = 0.125) -> dict:
    return {
        "TrainingJobName": job,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{job}",
        "CreationTime": T0,
        "TrainingJobStatus": "Completed",
        "TunedHyperParameters": {"eta": "0.2", "max_depth": "6"},
        "FinalHyperParameterTuningJobObjectiveMetric": {"Type": "Minimize", "MetricName": "validation:rmse", "Value": value},
        "ObjectiveStatus": "Succeeded",
    }


def description(state: str = "InProgress", completed: int = 0, in_progress: int = 3, **extra) -> dict:
    return {
        "HyperParameterTuningJobName": NAME,
        "HyperParameterTuningJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/{NAME}",
        "HyperParameterTuningJobStatus": state,
        "HyperParameterTuningJobConfig": {"ResourceLimits": {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 3}},
        "TrainingJobStatusCounters": {"Completed": completed, "InProgress": in_progress, "RetryableError": 0,
                                      "NonRetryableError": 0, "Stopped": 0},
        "ObjectiveStatusCounters": {"Succeeded": completed, "Pending": in_progress, "Failed": 0},
        "CreationTime": T0,
        **extra,
    }


BEST_REPORTED = {"hyperParameterTuningJobStatus": "InProgress", "bestTrainingJob": {"trainingJobName": best()["TrainingJobName"]}}


@pytest.mark.parametrize(
    "described, previous, state, reason, track, events",
    [
        (description(), {}, RECONCILING, "InProgress", True, [("Normal", "TuningInProgress")]),
        (description(completed=1, BestTrainingJob=best()), {"hyperParameterTuningJobStatus": "InProgress"},
         RECONCILING, "InProgress", True, [("Normal", "NewBestTrainingJob")]),
        (description(completed=2, BestTrainingJob=best()), BEST_REPORTED, RECONCILING, "InProgress", True, []),
        (description(completed=3, BestTrainingJob=best("better", 0.1)), BEST_REPORTED, RECONCILING, "InProgress", True,
         [("Normal", "NewBestTrainingJob")]),
        (description("Completed", 6, 0, BestTrainingJob=best()), BEST_REPORTED, READY, "Completed", False,
         [("Normal", "TuningCompleted")]),
        (description("Failed", 0, 0, FailureReason="All training jobs failed."), {"hyperParameterTuningJobStatus": "InProgress"},
         STALLED, "Failed", False, [("Warning", "TuningFailed")]),
        (description("Stopping", 2, 2), {"hyperParameterTuningJobStatus": "InProgress"}, RECONCILING, "Stopping", True,
         [("Normal", "TuningStopping")]),
        (description("Stopped", 2, 0), {"hyperParameterTuningJobStatus": "Stopping"}, STALLED, "Stopped", False,
         [("Warning", "TuningStopped")]),
    ],
)
def test_plan_observed(described, previous, state, reason, track, events):
    plan = planner.plan_observed(previous, described, "us-east-1")
    assert (plan.health.state, plan.health.reason, plan.track) == (state, reason, track)
    assert [(event.type, event.reason) for event in plan.events] == events


def test_status_reports_counters_and_the_best_job_with_its_hyperparameters():
    plan = planner.plan_observed({}, description(completed=4, in_progress=2, BestTrainingJob=best()), "us-east-1")
    status = plan.status
    assert status["trainingJobStatusCounters"]["completed"] == 4 and status["trainingJobStatusCounters"]["inProgress"] == 2
    assert status["objectiveStatusCounters"] == {"succeeded": 4, "pending": 2, "failed": 0}
    assert status["bestTrainingJob"]["trainingJobName"] == best()["TrainingJobName"]
    assert status["bestTrainingJob"]["tunedHyperParameters"] == {"eta": "0.2", "max_depth": "6"}
    assert status["bestTrainingJob"]["finalHyperParameterTuningJobObjectiveMetric"]["value"] == 0.125
    assert status["consoleUrl"].endswith(f"#/hyper-tuning-jobs/{NAME}")
    assert plan.health.message == (
        f"tuning job InProgress: 4 completed, 2 in progress of 6; best {best()['TrainingJobName']} (validation:rmse=0.125)"
    )
