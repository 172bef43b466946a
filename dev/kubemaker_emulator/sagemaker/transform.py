"""Batch transform jobs: InProgress -> Completed; Stopping -> Stopped; injected failure."""

from __future__ import annotations

import copy
from typing import Any

from kubemaker_emulator.errors import resource_in_use, validation_error
from kubemaker_emulator.sagemaker.base import Region, Resource, operation, page, time_window_filter
from kubemaker_emulator.sagemaker.hosting import model_not_found


class TransformJob(Resource):
    def __init__(self, region: Region, request: dict[str, Any], now: float):
        name = request["TransformJobName"]
        super().__init__(region, name, region.arn("transform-job", name), request.get("Tags"), now)
        # What DescribeTransformJob echoes; the defaults AWS adds are filled in each answer.
        self.described = copy.deepcopy(request)
        self.described.pop("Tags", None)
        self.status = "InProgress"
        self.failure_reason: str | None = None
        self.start_time = now
        self.end_time: float | None = None
        self.armed_failure = region.world.armed.transform_failures.pop(name, None)
        self.timer = region.world.timer()
        self.timer.arm(now + region.timings["transform_running"], self._done)

    def _done(self, t: float) -> None:
        if self.armed_failure is not None:
            self.fail(self.armed_failure, t)
        else:
            self._finish("Completed", t)

    def _finish(self, status: str, t: float) -> None:
        self.status = status
        self.end_time = t
        self.last_modified = t
        self.timer.cancel()

    def stop(self, t: float) -> None:
        if self.status != "InProgress":
            raise validation_error(f"The request was rejected because the transform job is in status {self.status}.")
        self.status = "Stopping"
        self.last_modified = t
        self.timer.arm(t + self.region.timings["transform_stopping"], lambda at: self._finish("Stopped", at))

    def fail(self, reason: str, t: float) -> None:
        if self.status not in ("InProgress", "Stopping"):
            raise ValueError(f"transform job {self.name} is {self.status}")
        self.failure_reason = reason
        self._finish("Failed", t)

    def describe(self) -> dict[str, Any]:
        return {
            **self.described,
            "TransformJobArn": self.arn,
            "TransformJobStatus": self.status,
            "FailureReason": self.failure_reason,
            "CreationTime": self.creation_time,
            "TransformStartTime": self.start_time,
            "TransformEndTime": self.end_time,
        }

    def summary(self) -> dict[str, Any]:
        return {
            "TransformJobName": self.name,
            "TransformJobArn": self.arn,
            "CreationTime": self.creation_time,
            "TransformEndTime": self.end_time,
            "LastModifiedTime": self.last_modified,
            "TransformJobStatus": self.status,
            "FailureReason": self.failure_reason,
        }


def find_transform_job(region: Region, name: str) -> TransformJob:
    job = region.transform_jobs.get(name)
    if job is None:
        raise validation_error(f"Could not find requested job with name {name}")
    return job


@operation("CreateTransformJob")
def create_transform_job(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    name = params["TransformJobName"]
    if name in region.transform_jobs:
        raise resource_in_use(
            "Job name must be unique within an AWS account and region, and a job with this name already exists "
            f"({region.arn('transform-job', name)})"
        )
    if params["ModelName"] not in region.models:
        raise model_not_found(region, params["ModelName"])
    job = TransformJob(region, params, region.now())
    region.transform_jobs[name] = job
    job.register()
    return {"TransformJobArn": job.arn}


@operation("DescribeTransformJob")
def describe_transform_job(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    return find_transform_job(region, params["TransformJobName"]).describe()


@operation("StopTransformJob")
def stop_transform_job(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    find_transform_job(region, params["TransformJobName"]).stop(region.now())
    return {}


@operation("ListTransformJobs")
def list_transform_jobs(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    in_window = time_window_filter(params, "CreationTime", "LastModifiedTime")
    name_part = (params.get("NameContains") or "").lower()
    status = params.get("StatusEquals")
    matches = (
        job
        for job in region.transform_jobs.values()
        if (not status or job.status == status) and name_part in job.name.lower() and in_window(job)
    )
    jobs, token = page(
        matches,
        params,
        {"Name": lambda job: job.name, "CreationTime": lambda job: job.creation_time, "Status": lambda job: job.status},
        default_sort="CreationTime",
        default_order="Descending",
    )
    answer: dict[str, Any] = {"TransformJobSummaries": [job.summary() for job in jobs]}
    if token:
        answer["NextToken"] = token
    return answer
