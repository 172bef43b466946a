"""Hyperparameter tuning jobs: launch training jobs with sampled hyperparameters, track the best.

Children are ordinary training jobs, named as SageMaker names them (`<tuning job>-NNN-<8 hex>`),
linked by TuningJobArn and carrying the tuning job's tags. At most MaxParallelTrainingJobs run at
once and MaxNumberOfTrainingJobs run in all; each finishing child frees a slot at the instant it
finishes. A child's objective value is a smooth function of how close its sampled hyperparameters
are to a hidden optimum, so the search visibly "learns".
"""

from __future__ import annotations

import copy
import math
from typing import Any

from kubemaker_emulator.errors import resource_in_use, resource_not_found, validation_error
from kubemaker_emulator.sagemaker.base import (
    Region,
    Resource,
    operation,
    page,
    seeded_fraction,
    short_hex,
    time_window_filter,
)
from kubemaker_emulator.sagemaker.training import TrainingJob, launch_training_job, validate_training_request

DEFAULT_MAX_NUMBER_OF_TRAINING_JOBS = 10
# Members of a tuning job's training job definition that a child training job takes as they are.
COPIED_DEFINITION_MEMBERS = (
    "RoleArn", "InputDataConfig", "VpcConfig", "OutputDataConfig", "StoppingCondition", "EnableNetworkIsolation",
    "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining", "CheckpointConfig", "RetryStrategy",
    "Environment",
)  # fmt: skip


def _sample(parameter_range: dict[str, Any], kind: str, position: float) -> str:
    if kind == "Categorical":
        values = parameter_range["Values"]
        return values[min(len(values) - 1, int(position * len(values)))]
    low, high = float(parameter_range["MinValue"]), float(parameter_range["MaxValue"])
    logarithmic = parameter_range.get("ScalingType") in ("Logarithmic", "ReverseLogarithmic") and low > 0
    value = math.exp(math.log(low) + position * (math.log(high) - math.log(low))) if logarithmic else low + position * (high - low)
    if kind == "Integer":
        return str(int(round(value)))
    return f"{value:.6g}"


class TuningJob(Resource):
    def __init__(self, region: Region, request: dict[str, Any], now: float):
        name = request["HyperParameterTuningJobName"]
        super().__init__(region, name, region.arn("hyper-parameter-tuning-job", name), request.get("Tags"), now)
        self.described = copy.deepcopy(request)
        self.described.pop("Tags", None)
        config = self.described["HyperParameterTuningJobConfig"]
        self.definition = self.described.get("TrainingJobDefinition") or self.described["TrainingJobDefinitions"][0]
        objective = config.get("HyperParameterTuningJobObjective") or self.definition.get("TuningObjective")
        if not objective:
            raise validation_error("HyperParameterTuningJobObjective is required.")
        self.objective_metric = objective["MetricName"]
        self.minimize = objective["Type"] == "Minimize"
        limits = config["ResourceLimits"]
        self.max_jobs = limits.get("MaxNumberOfTrainingJobs", DEFAULT_MAX_NUMBER_OF_TRAINING_JOBS)
        self.max_parallel = limits["MaxParallelTrainingJobs"]
        self.target = (config.get("TuningJobCompletionCriteria") or {}).get("TargetObjectiveMetricValue")
        self.ranges = config.get("ParameterRanges") or self.definition.get("HyperParameterRanges") or {}
        self.children: list[TrainingJob] = []
        self.tuned: dict[str, dict[str, str]] = {}
        self.status = "InProgress"
        self.failure_reason: str | None = None
        self.end_time: float | None = None
        self.target_reached = False

    # Launching ------------------------------------------------------------------------------------

    def _sampled(self, index: int) -> tuple[dict[str, str], float]:
        """Tuned hyperparameters of the index-th child, and the quality (0..1) they give."""
        tuned: dict[str, str] = {}
        distances: list[float] = []
        for kind in ("Integer", "Continuous", "Categorical"):
            for parameter_range in self.ranges.get(f"{kind}ParameterRanges", []):
                parameter = parameter_range["Name"]
                position = seeded_fraction(self.name, index, parameter)
                tuned[parameter] = _sample(parameter_range, kind, position)
                optimum = seeded_fraction(self.name, "optimum", parameter)
                distances.append((position - optimum) ** 2)
        spread = sum(distances) / len(distances) if distances else seeded_fraction(self.name, index) / 4
        return tuned, max(0.0, 1.0 - 4.0 * spread)

    def child_request(self, index: int, tuned: dict[str, str]) -> dict[str, Any]:
        definition = self.definition
        algorithm = {
            key: value
            for key, value in definition["AlgorithmSpecification"].items()
            if key in ("TrainingImage", "AlgorithmName", "TrainingInputMode", "MetricDefinitions")
        }
        resources = definition.get("ResourceConfig") or {
            key: value
            for key, value in definition.get("HyperParameterTuningResourceConfig", {}).items()
            if key in ("InstanceType", "InstanceCount", "VolumeSizeInGB", "VolumeKmsKeyId")
        }
        request: dict[str, Any] = {
            "TrainingJobName": f"{self.name}-{index:03d}-{short_hex(self.name, index)}",
            "AlgorithmSpecification": copy.deepcopy(algorithm),
            "ResourceConfig": copy.deepcopy(resources),
            "HyperParameters": {
                **definition.get("StaticHyperParameters", {}),
                **tuned,
                "_tuning_objective_metric": self.objective_metric,
            },
            "Tags": copy.deepcopy(self.tags),
        }
        for member in COPIED_DEFINITION_MEMBERS:
            if member in definition:
                request[member] = copy.deepcopy(definition[member])
        return request

    def launch(self, t: float) -> None:
        """Starts children while slots are free; finishes the tuning job when nothing is left to run."""
        running = sum(1 for child in self.children if child.status in ("InProgress", "Stopping"))
        while (
            self.status == "InProgress"
            and not self.target_reached
            and len(self.children) < self.max_jobs
            and running < self.max_parallel
        ):
            index = len(self.children) + 1
            tuned, quality = self._sampled(index)
            child = launch_training_job(
                self.region,
                self.child_request(index, tuned),
                t,
                tuning_job=self,
                quality=quality,
                on_finished=self._child_finished,
            )
            self.tuned[child.name] = tuned
            self.children.append(child)
            running += 1
        if running == 0:
            self._finish(t)

    def _child_finished(self, child: TrainingJob, t: float) -> None:
        self.last_modified = t
        value = self.objective_value(child)
        if self.target is not None and value is not None:
            if (value <= self.target) if self.minimize else (value >= self.target):
                self.target_reached = True
        self.launch(t)

    def _finish(self, t: float) -> None:
        if self.status == "Stopping":
            self.status = "Stopped"
        elif self.status == "InProgress":
            if not any(child.status == "Completed" for child in self.children):
                self.status = "Failed"
                self.failure_reason = "All training jobs failed. Please check the failure reasons of the training jobs."
            else:
                self.status = "Completed"
        self.end_time = t
        self.last_modified = t

    def stop(self, t: float) -> None:
        if self.status != "InProgress":
            raise validation_error(f"The tuning job {self.name} is in status {self.status} and cannot be stopped.")
        self.status = "Stopping"
        self.last_modified = t
        for child in self.children:
            if child.status == "InProgress":
                child.stop(t)
        if all(child.status in ("Completed", "Failed", "Stopped") for child in self.children):
            self._finish(t)

    # Answers --------------------------------------------------------------------------------------

    def objective_value(self, child: TrainingJob) -> float | None:
        if child.status != "Completed" or self.objective_metric not in child.metrics:
            return None
        return child.metrics[self.objective_metric][0]

    def child_summary(self, child: TrainingJob) -> dict[str, Any]:
        value = self.objective_value(child)
        if value is not None:
            objective_status = "Succeeded"
        elif child.status in ("InProgress", "Stopping"):
            objective_status = "Pending"
        else:
            objective_status = "Failed"
        summary: dict[str, Any] = {
            "TrainingJobName": child.name,
            "TrainingJobArn": child.arn,
            "TuningJobName": self.name,
            "CreationTime": child.creation_time,
            "TrainingStartTime": child.training_start,
            "TrainingEndTime": child.training_end,
            "TrainingJobStatus": child.status,
            "TunedHyperParameters": self.tuned[child.name],
            "FailureReason": child.failure_reason,
            "ObjectiveStatus": objective_status,
        }
        if "DefinitionName" in self.definition:
            summary["TrainingJobDefinitionName"] = self.definition["DefinitionName"]
        if value is not None:
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": "Minimize" if self.minimize else "Maximize",
                "MetricName": self.objective_metric,
                "Value": value,
            }
        return summary

    def best_child(self) -> TrainingJob | None:
        scored = [(value, child) for child in self.children if (value := self.objective_value(child)) is not None]
        if not scored:
            return None
        pick = min if self.minimize else max
        return pick(scored, key=lambda pair: pair[0])[1]

    def describe(self) -> dict[str, Any]:
        counters = {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0}
        objectives = {"Succeeded": 0, "Pending": 0, "Failed": 0}
        runtime = 0
        for child in self.children:
            status = {"Failed": "NonRetryableError", "Stopping": "InProgress"}.get(child.status, child.status)
            counters[status] += 1
            objectives[self.child_summary(child)["ObjectiveStatus"]] += 1
            billed = child.billed_seconds
            runtime += billed[0] if billed else 0
        answer = {
            **self.described,
            "HyperParameterTuningJobArn": self.arn,
            "HyperParameterTuningJobStatus": self.status,
            "CreationTime": self.creation_time,
            "HyperParameterTuningEndTime": self.end_time,
            "LastModifiedTime": self.last_modified,
            "TrainingJobStatusCounters": counters,
            "ObjectiveStatusCounters": objectives,
            "FailureReason": self.failure_reason,
            "TuningJobCompletionDetails": {"NumberOfTrainingJobsObjectiveNotImproving": 0},
            "ConsumedResources": {"RuntimeInSeconds": runtime},
        }
        best = self.best_child()
        if best is not None:
            answer["BestTrainingJob"] = self.child_summary(best)
        overall = self.overall_best()
        if overall is not None:
            answer["OverallBestTrainingJob"] = overall
        return answer

    def overall_best(self) -> dict[str, Any] | None:
        """With warm start, the best training job over this tuning job and its parents."""
        warm_start = self.described.get("WarmStartConfig")
        if not warm_start:
            return None
        candidates: list[tuple[float, dict[str, Any]]] = []
        for tuning_job in [self] + [
            self.region.tuning_jobs[parent["HyperParameterTuningJobName"]]
            for parent in warm_start["ParentHyperParameterTuningJobs"]
            if parent["HyperParameterTuningJobName"] in self.region.tuning_jobs
        ]:
            best = tuning_job.best_child()
            if best is not None:
                candidates.append((tuning_job.objective_value(best), tuning_job.child_summary(best)))
        if not candidates:
            return None
        pick = min if self.minimize else max
        return pick(candidates, key=lambda pair: pair[0])[1]

    def summary(self) -> dict[str, Any]:
        described = self.describe()
        return {
            "HyperParameterTuningJobName": self.name,
            "HyperParameterTuningJobArn": self.arn,
            "HyperParameterTuningJobStatus": self.status,
            "Strategy": self.described["HyperParameterTuningJobConfig"]["Strategy"],
            "CreationTime": self.creation_time,
            "HyperParameterTuningEndTime": self.end_time,
            "LastModifiedTime": self.last_modified,
            "TrainingJobStatusCounters": described["TrainingJobStatusCounters"],
            "ObjectiveStatusCounters": described["ObjectiveStatusCounters"],
            "ResourceLimits": self.described["HyperParameterTuningJobConfig"]["ResourceLimits"],
        }


def find_tuning_job(region: Region, name: str) -> TuningJob:
    job = region.tuning_jobs.get(name)
    if job is None:
        raise resource_not_found(f"Amazon SageMaker can't find a tuning job with name {name}")
    return job


@operation("CreateHyperParameterTuningJob")
def create_tuning_job(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    name = params["HyperParameterTuningJobName"]
    if name in region.tuning_jobs:
        raise resource_in_use(
            "Hyperparameter tuning job names must be unique within an AWS account and region, and a "
            f"hyperparameter tuning job with this name already exists ({region.arn('hyper-parameter-tuning-job', name)})"
        )
    if not params.get("TrainingJobDefinition") and not params.get("TrainingJobDefinitions"):
        raise validation_error("Either TrainingJobDefinition or TrainingJobDefinitions must be specified.")
    for parent in (params.get("WarmStartConfig") or {}).get("ParentHyperParameterTuningJobs", []):
        find_tuning_job(region, parent["HyperParameterTuningJobName"])
    job = TuningJob(region, params, region.now())
    # Refuse a definition its children could not run with, before anything exists.
    validate_training_request(job.child_request(0, {}))
    region.tuning_jobs[name] = job
    job.register()
    job.launch(job.creation_time)
    return {"HyperParameterTuningJobArn": job.arn}


@operation("DescribeHyperParameterTuningJob")
def describe_tuning_job(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    return find_tuning_job(region, params["HyperParameterTuningJobName"]).describe()


@operation("StopHyperParameterTuningJob")
def stop_tuning_job(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    find_tuning_job(region, params["HyperParameterTuningJobName"]).stop(region.now())
    return {}


@operation("ListHyperParameterTuningJobs")
def list_tuning_jobs(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    in_window = time_window_filter(params, "CreationTime", "LastModifiedTime")
    name_part = (params.get("NameContains") or "").lower()
    status = params.get("StatusEquals")
    matches = (
        job
        for job in region.tuning_jobs.values()
        if (not status or job.status == status) and name_part in job.name.lower() and in_window(job)
    )
    jobs, token = page(
        matches,
        params,
        {"Name": lambda job: job.name, "CreationTime": lambda job: job.creation_time, "Status": lambda job: job.status},
        default_sort="Name",
    )
    answer: dict[str, Any] = {"HyperParameterTuningJobSummaries": [job.summary() for job in jobs]}
    if token:
        answer["NextToken"] = token
    return answer


@operation("ListTrainingJobsForHyperParameterTuningJob")
def list_training_jobs_for_tuning_job(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    tuning_job = find_tuning_job(region, params["HyperParameterTuningJobName"])
    status = params.get("StatusEquals")
    by_metric = params.get("SortBy") == "FinalObjectiveMetricValue"
    # As on AWS, sorting by the objective lists only the jobs that reported it.
    matches = [
        child
        for child in tuning_job.children
        if (not status or child.status == status) and (not by_metric or tuning_job.objective_value(child) is not None)
    ]
    children, token = page(
        matches,
        params,
        {
            "Name": lambda child: child.name,
            "CreationTime": lambda child: child.creation_time,
            "Status": lambda child: child.status,
            "FinalObjectiveMetricValue": tuning_job.objective_value,
        },
        default_sort="Name",
    )
    answer: dict[str, Any] = {"TrainingJobSummaries": [tuning_job.child_summary(child) for child in children]}
    if token:
        answer["NextToken"] = token
    return answer
