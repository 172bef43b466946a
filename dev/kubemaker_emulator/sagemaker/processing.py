"""Processing jobs: InProgress -> Completed on the clock; Stopping -> Stopped, on request or once
StoppingCondition.MaxRuntimeInSeconds has passed (Stopped with no FailureReason, as SageMaker ends
it); injected failure (with the container's exit message); CloudWatch log streams per instance in
/aws/sagemaker/ProcessingJobs."""

from __future__ import annotations

import copy
from typing import Any

from kubemaker_emulator.errors import resource_in_use, validation_error
from kubemaker_emulator.sagemaker.base import Region, Resource, operation, page, time_window_filter

LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
LOCAL_PATH_PREFIX = "/opt/ml/processing/"


def _duplicates(names: list[str]) -> list[str]:
    return sorted({name for name in names if names.count(name) > 1})


def _check_local_path(where: str, entry: dict[str, Any], path: str | None, in_processing_dir: bool) -> None:
    """LocalPath is required unless the application manages the data; an S3 input's must lie under
    /opt/ml/processing/ (a dataset definition's has no such rule stated)."""
    if entry.get("AppManaged"):
        return
    if not path:
        raise validation_error(f"{where}.LocalPath is required when AppManaged is False.")
    if in_processing_dir and not path.startswith(LOCAL_PATH_PREFIX):
        raise validation_error(f"{where}.LocalPath {path} must begin with {LOCAL_PATH_PREFIX}.")


def validate_processing_request(request: dict[str, Any]) -> None:
    """What AWS refuses beyond the service model's own constraints: the rules the API reference states
    for ProcessingInput, ProcessingS3Input, DatasetDefinition, ProcessingOutput and
    ProcessingClusterConfig (an output's LocalPath has none stated, so none is checked)."""
    inputs = request.get("ProcessingInputs") or []
    duplicated = _duplicates([entry["InputName"] for entry in inputs])
    if duplicated:
        raise validation_error(f"ProcessingInputs must have unique names; duplicated: {', '.join(duplicated)}")
    for index, entry in enumerate(inputs):
        where = f"ProcessingInputs[{index}]"
        if ("S3Input" in entry) == ("DatasetDefinition" in entry):
            raise validation_error(f"{where} must specify exactly one of either S3Input or DatasetDefinition types.")
        if "S3Input" in entry:
            s3 = entry["S3Input"]
            _check_local_path(f"{where}.S3Input", entry, s3.get("LocalPath"), True)
            if s3.get("S3CompressionType") == "Gzip" and s3.get("S3InputMode") != "Pipe":
                raise validation_error(f"{where}.S3Input: Gzip can only be used when Pipe mode is specified as the "
                                       "S3InputMode.")
        else:
            _check_local_path(f"{where}.DatasetDefinition", entry, entry["DatasetDefinition"].get("LocalPath"), False)
    outputs = (request.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    duplicated = _duplicates([entry["OutputName"] for entry in outputs])
    if duplicated:
        raise validation_error(f"ProcessingOutputConfig.Outputs must have unique names; duplicated: "
                               f"{', '.join(duplicated)}")
    for index, entry in enumerate(outputs):
        where = f"ProcessingOutputConfig.Outputs[{index}]"
        if ("S3Output" in entry) == ("FeatureStoreOutput" in entry):
            raise validation_error(f"{where} must specify exactly one of either S3Output or FeatureStoreOutput.")
    cluster = request["ProcessingResources"]["ClusterConfig"]
    if ("InstanceType" in cluster) == ("InstancePreferences" in cluster):
        raise validation_error("ProcessingResources.ClusterConfig must specify exactly one of InstanceType and "
                               "InstancePreferences.")
    if "InstanceType" in cluster and "InstanceCount" not in cluster:
        raise validation_error("ProcessingResources.ClusterConfig.InstanceCount is required with InstanceType.")


class ProcessingJob(Resource):
    def __init__(self, region: Region, request: dict[str, Any], now: float):
        name = request["ProcessingJobName"]
        super().__init__(region, name, region.arn("processing-job", name), request.get("Tags"), now)
        # What DescribeProcessingJob echoes.
        self.described = copy.deepcopy(request)
        self.described.pop("Tags", None)
        self.status = "InProgress"
        self.failure_reason: str | None = None
        self.exit_message: str | None = None
        self.start_time = now
        self.end_time: float | None = None
        self.armed_failure = region.world.armed.processing_failures.pop(name, None)
        self.log_streams = [f"{name}/algo-{host}-{int(now)}" for host in range(1, self.instance_count + 1)]
        for stream in self.log_streams:
            region.world.services.create_stream(region.name, LOG_GROUP, stream)
        self._log(now, self._start_lines())
        self.timer = region.world.timer()
        max_runtime = (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
        done_at = now + region.timings["processing_running"]
        if max_runtime is not None and now + max_runtime < done_at:
            self.timer.arm(now + max_runtime, self._max_runtime_reached)
        else:
            self.timer.arm(done_at, self._done)

    @property
    def instance_count(self) -> int:
        cluster = self.described["ProcessingResources"]["ClusterConfig"]
        return cluster.get("InstanceCount", 1)

    def _start_lines(self) -> list[str]:
        lines = ["Starting processing container"]
        for entry in self.described.get("ProcessingInputs", []):
            s3 = entry.get("S3Input")
            if s3:
                lines.append(f"Downloading input {entry['InputName']} from {s3['S3Uri']} to {s3.get('LocalPath')}")
        app = self.described["AppSpecification"]
        command = " ".join(app.get("ContainerEntrypoint", []) + app.get("ContainerArguments", []))
        lines.append(f"Running {app['ImageUri']}" + (f": {command}" if command else ""))
        return lines

    def _done(self, t: float) -> None:
        if self.armed_failure is not None:
            reason, exit_message = self.armed_failure
            self.fail(reason, exit_message, t)
            return
        lines = [f"Uploading output {entry['OutputName']} from {entry['S3Output'].get('LocalPath')} to "
                 f"{entry['S3Output']['S3Uri']}"
                 for entry in (self.described.get("ProcessingOutputConfig") or {}).get("Outputs", [])
                 if "S3Output" in entry]
        self._log(t, lines + ["Processing job completed"])
        self._finish("Completed", t)

    def _max_runtime_reached(self, t: float) -> None:
        self._log(t, ["MaxRuntimeInSeconds reached: stopping the processing job"])
        self.stop(t)

    def _finish(self, status: str, t: float) -> None:
        self.status = status
        self.end_time = t
        self.last_modified = t
        self.timer.cancel()

    def stop(self, t: float) -> None:
        if self.status != "InProgress":
            raise validation_error(f"The request was rejected because the processing job is in status {self.status}.")
        self.status = "Stopping"
        self.last_modified = t
        self._log(t, ["Stopping the processing job"])
        self.timer.arm(t + self.region.timings["processing_stopping"], self._stopped)

    def _stopped(self, t: float) -> None:
        self._log(t, ["Processing job stopped"])
        self._finish("Stopped", t)

    def fail(self, reason: str, exit_message: str | None, t: float) -> None:
        if self.status not in ("InProgress", "Stopping"):
            raise ValueError(f"processing job {self.name} is {self.status}")
        self.failure_reason = reason
        self.exit_message = exit_message
        self._log(t, [exit_message or reason])
        self._finish("Failed", t)

    def _log(self, t: float, lines: list[str]) -> None:
        for stream in self.log_streams:
            self.region.world.services.put(self.region.name, LOG_GROUP, stream, [(t, line) for line in lines])

    def describe(self) -> dict[str, Any]:
        return {
            **self.described,
            "ProcessingJobArn": self.arn,
            "ProcessingJobStatus": self.status,
            "FailureReason": self.failure_reason,
            "ExitMessage": self.exit_message,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified,
            "ProcessingStartTime": self.start_time,
            "ProcessingEndTime": self.end_time,
        }

    def summary(self) -> dict[str, Any]:
        return {
            "ProcessingJobName": self.name,
            "ProcessingJobArn": self.arn,
            "CreationTime": self.creation_time,
            "ProcessingEndTime": self.end_time,
            "LastModifiedTime": self.last_modified,
            "ProcessingJobStatus": self.status,
            "FailureReason": self.failure_reason,
            "ExitMessage": self.exit_message,
        }


def find_processing_job(region: Region, name: str) -> ProcessingJob:
    job = region.processing_jobs.get(name)
    if job is None:
        raise validation_error(f"Could not find requested job with name {name}")
    return job


@operation("CreateProcessingJob")
def create_processing_job(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    name = params["ProcessingJobName"]
    if name in region.processing_jobs:
        raise resource_in_use(
            "Job name must be unique within an AWS account and region, and a job with this name already exists "
            f"({region.arn('processing-job', name)})"
        )
    validate_processing_request(params)
    job = ProcessingJob(region, params, region.now())
    region.processing_jobs[name] = job
    job.register()
    return {"ProcessingJobArn": job.arn}


@operation("DescribeProcessingJob")
def describe_processing_job(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    return find_processing_job(region, params["ProcessingJobName"]).describe()


@operation("StopProcessingJob")
def stop_processing_job(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    find_processing_job(region, params["ProcessingJobName"]).stop(region.now())
    return {}


@operation("ListProcessingJobs")
def list_processing_jobs(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    in_window = time_window_filter(params, "CreationTime", "LastModifiedTime")
    name_part = (params.get("NameContains") or "").lower()
    status = params.get("StatusEquals")
    matches = (
        job
        for job in region.processing_jobs.values()
        if (not status or job.status == status) and name_part in job.name.lower() and in_window(job)
    )
    jobs, token = page(
        matches,
        params,
        {"Name": lambda job: job.name, "CreationTime": lambda job: job.creation_time, "Status": lambda job: job.status},
        default_sort="CreationTime",
    )
    answer: dict[str, Any] = {"ProcessingJobSummaries": [job.summary() for job in jobs]}
    if token:
        answer["NextToken"] = token
    return answer
