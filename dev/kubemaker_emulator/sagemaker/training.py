"""Training jobs: Starting -> Downloading -> Training -> Uploading -> Completed, on the clock.

Also stop (Stopping -> Stopped), injected failure, spot interruption with resumption from the last
checkpointed epoch, MaxRuntimeInSeconds (Stopped/MaxRuntimeExceeded) and MaxWaitTimeInSeconds
(Failed/MaxWaitTimeExceeded), CloudWatch log streams per host and Debugger/Profiler rule statuses.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from kubemaker_emulator.errors import resource_in_use, validation_error
from kubemaker_emulator.sagemaker.base import (
    Region,
    Resource,
    operation,
    page,
    seeded_fraction,
    time_window_filter,
)
from kubemaker_emulator.sagemaker.defaults import default_value
from kubemaker_emulator.sagemaker.metrics import metric_value

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
DEFAULT_MAX_RUNTIME = default_value("StoppingCondition", "MaxRuntimeInSeconds")
EPOCHS = 4
# Phases in which the instances run: they count towards MaxRuntimeInSeconds and billing.
RUNNING_PHASES = ("Downloading", "Training", "Uploading")
NEXT_PHASE = {"Starting": "Downloading", "Downloading": "Training", "Training": "Uploading"}
TERMINAL_STATUSES = ("Completed", "Failed", "Stopped")

# What SageMaker says while in each secondary status; the message moves on as the phase advances.
PHASE_MESSAGES = {
    "Starting": ["Starting the training job", "Launching requested ML instances", "Preparing the instances for training"],
    "Downloading": ["Downloading input data"],
    "Training": ["Downloading the training image", "Training image download completed. Training in progress."],
    "Uploading": ["Uploading generated training model"],
    "Stopping": ["Stopping the training job"],
    "Interrupted": ["Training job interrupted due to spot instance interruption. Waiting for spot capacity."],
}


def validate_training_request(request: dict[str, Any]) -> None:
    """What AWS refuses beyond the service model's own constraints."""
    algorithm = request.get("AlgorithmSpecification")
    if not algorithm:
        raise validation_error("AlgorithmSpecification is required.")
    if not algorithm.get("TrainingImage") and not algorithm.get("AlgorithmName"):
        raise validation_error("Either TrainingImage or AlgorithmName must be specified in AlgorithmSpecification.")
    resources = request.get("ResourceConfig") or {}
    if not resources.get("InstanceGroups") and (not resources.get("InstanceType") or not resources.get("InstanceCount")):
        raise validation_error("ResourceConfig must specify InstanceType and InstanceCount.")
    stopping = request.get("StoppingCondition") or {}
    max_runtime = stopping.get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME)
    if request.get("EnableManagedSpotTraining"):
        max_wait = stopping.get("MaxWaitTimeInSeconds")
        if max_wait is None or max_wait < max_runtime:
            raise validation_error(
                "Invalid MaxWaitTimeInSeconds. It must be present and be greater than or equal to MaxRuntimeInSeconds"
            )
    elif stopping.get("MaxWaitTimeInSeconds") is not None:
        raise validation_error("MaxWaitTimeInSeconds can only be specified for managed spot training jobs.")


class TrainingJob(Resource):
    def __init__(
        self,
        region: Region,
        request: dict[str, Any],
        now: float,
        tuning_job: Any = None,
        quality: float | None = None,
        on_finished: Callable[["TrainingJob", float], None] | None = None,
    ):
        name = request["TrainingJobName"]
        super().__init__(region, name, region.arn("training-job", name), request.get("Tags"), now)
        # What DescribeTrainingJob echoes; the defaults AWS adds are filled in each answer.
        self.described = copy.deepcopy(request)
        self.described.pop("Tags", None)
        self.tuning_job = tuning_job
        self.quality = seeded_fraction("quality", name) if quality is None else quality
        self.on_finished = on_finished
        self.status = "InProgress"
        self.secondary = "Starting"
        self.failure_reason: str | None = None
        self.transitions: list[dict[str, Any]] = []
        self.training_start: float | None = None
        self.training_end: float | None = None
        self.phase_started = now
        self.phase_end: float | None = None
        self.running_seconds = 0.0  # instance time used in earlier running phases
        self.training_progress = 0.0  # seconds of the Training phase done before the current one
        self.epochs_done = 0
        self.metrics: dict[str, tuple[float, float]] = {}  # name -> (value, timestamp)
        self.log_streams: list[str] = []
        self.rules_final_at: float | None = None
        self.timer = region.world.timer()
        self.resuming = False
        spot_savings = 0.6 + 0.1 * seeded_fraction("spot", name)
        self.billing_ratio = 1.0 - spot_savings if self.spot else 1.0
        self._enter("Starting", now)

    # Configuration ------------------------------------------------------------------------------

    @property
    def spot(self) -> bool:
        return bool(self.described.get("EnableManagedSpotTraining"))

    @property
    def checkpointing(self) -> bool:
        return bool(self.described.get("CheckpointConfig"))

    @property
    def instance_count(self) -> int:
        resources = self.described["ResourceConfig"]
        if resources.get("InstanceGroups"):
            return sum(group.get("InstanceCount", 1) for group in resources["InstanceGroups"])
        return resources.get("InstanceCount", 1)

    @property
    def metric_names(self) -> list[str]:
        names = [d["Name"] for d in self.described["AlgorithmSpecification"].get("MetricDefinitions", [])]
        if self.tuning_job is not None and self.tuning_job.objective_metric not in names:
            names.append(self.tuning_job.objective_metric)
        return names

    @property
    def model_artifacts(self) -> str:
        output_path = self.described["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        return f"{output_path}/{self.name}/output/model.tar.gz"

    def _timing(self, phase: str) -> float:
        return self.region.timings[f"training_{phase.lower()}"]

    # The clock ------------------------------------------------------------------------------------

    def _enter(self, secondary: str, t: float, message: str | None = None) -> None:
        if self.transitions:
            previous = self.transitions[-1]
            previous["EndTime"] = t
            previous.setdefault("StatusMessage", PHASE_MESSAGES.get(previous["Status"], [""])[-1])
        if self.secondary in RUNNING_PHASES and self.transitions:
            self.running_seconds += t - self.phase_started
            if self.secondary == "Training":
                self.training_progress += t - self.phase_started
        self.secondary = secondary
        self.phase_started = t
        self.last_modified = t
        transition: dict[str, Any] = {"Status": secondary, "StartTime": t}
        if message is not None:
            transition["StatusMessage"] = message
        self.transitions.append(transition)
        if secondary == "Training":
            self.phase_end = t + max(0.0, self._timing("training") - self.training_progress)
        elif secondary in PHASE_MESSAGES:
            self.phase_end = t + self._timing(secondary)
        else:
            self.phase_end = None
        self._log_phase(secondary, t)
        self._schedule()

    def _deadlines(self) -> list[tuple[float, Callable[[float], None]]]:
        # On a tie the first deadline wins: the last epoch ends at the same instant as Training.
        deadlines: list[tuple[float, Callable[[float], None]]] = []
        if self.secondary == "Training" and self.epochs_done < EPOCHS:
            epoch_progress = (self.epochs_done + 1) * self._timing("training") / EPOCHS
            deadlines.append((self.phase_started + epoch_progress - self.training_progress, self._epoch_done))
        if self.phase_end is not None:
            deadlines.append((self.phase_end, self._phase_done))
        stopping = self.described.get("StoppingCondition", {})
        if self.status == "InProgress" and self.secondary in RUNNING_PHASES:
            left = stopping.get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME) - self.running_seconds
            deadlines.append((self.phase_started + left, self._max_runtime_exceeded))
        if self.status == "InProgress" and self.spot and stopping.get("MaxWaitTimeInSeconds") is not None:
            deadlines.append((self.creation_time + stopping["MaxWaitTimeInSeconds"], self._max_wait_exceeded))
        if self.rules_final_at is not None:
            deadlines.append((self.rules_final_at, self._rules_done))
        return deadlines

    def _schedule(self) -> None:
        deadlines = self._deadlines()
        if not deadlines:
            self.timer.cancel()
            return
        due, action = min(deadlines, key=lambda deadline: deadline[0])
        self.timer.arm(due, action)

    def _phase_done(self, t: float) -> None:
        if self.secondary == "Stopping":
            self._finish("Stopped", "Stopped", t, "Training job stopped")
        elif self.secondary == "Interrupted":
            self.resuming = True
            self._enter("Starting", t)
        elif self.secondary == "Uploading":
            self._finish("Completed", "Completed", t, "Training job completed")
        else:
            if self.secondary == "Starting" and self.training_start is None:
                self.training_start = t
            upcoming = NEXT_PHASE[self.secondary]
            if upcoming == "Training":
                failure = self.region.world.armed.training_failures.pop(self.name, None)
                if failure is not None:
                    self.fail(failure, t)
                    return
            self._enter(upcoming, t)

    def _epoch_done(self, t: float) -> None:
        self.epochs_done += 1
        progress = self.epochs_done / EPOCHS
        for metric in self.metric_names:
            self.metrics[metric] = (metric_value(metric, self.quality, progress, self.name), t)
        values = " ".join(f"{name}={value:.4f}" for name, (value, _) in self.metrics.items())
        self._log(t, [f"Epoch {self.epochs_done}/{EPOCHS} done {values}".rstrip()])
        self.last_modified = t
        self._schedule()

    def _max_runtime_exceeded(self, t: float) -> None:
        self._finish("Stopped", "MaxRuntimeExceeded", t, "Training job stopped because it exceeded MaxRuntimeInSeconds")

    def _max_wait_exceeded(self, t: float) -> None:
        self.failure_reason = "Training job exceeded MaxWaitTimeInSeconds provided"
        self._finish("Failed", "MaxWaitTimeExceeded", t, self.failure_reason)

    def _finish(self, status: str, secondary: str, t: float, message: str) -> None:
        self.status = status
        if self.training_start is not None and self.secondary in RUNNING_PHASES + ("Stopping",):
            self.training_end = t
        self._enter(secondary, t, message)
        self._log(t, [message])
        if self._rule_configurations():
            self.rules_final_at = t + self.region.timings["rule_evaluation"]
        self._schedule()
        if self.on_finished is not None:
            self.on_finished(self, t)

    def _rules_done(self, t: float) -> None:
        self.rules_final_at = None
        self.last_modified = t
        self._schedule()

    # Actions ----------------------------------------------------------------------------------------

    def stop(self, t: float) -> None:
        if self.status != "InProgress":
            raise validation_error(f"The request was rejected because the training job is in status {self.status}.")
        self.status = "Stopping"
        self._enter("Stopping", t)

    def fail(self, reason: str, t: float) -> None:
        self.failure_reason = reason
        self._finish("Failed", "Failed", t, reason)

    def interrupt_spot(self, t: float) -> None:
        if not self.spot:
            raise ValueError(f"training job {self.name} does not use managed spot training")
        if self.status != "InProgress" or self.secondary == "Interrupted":
            raise ValueError(f"training job {self.name} is {self.status}/{self.secondary}, not running")
        was_training = self.secondary == "Training"
        self._enter("Interrupted", t)
        if was_training or self.training_progress:
            if self.checkpointing:
                # Resumes from the last checkpoint, written at the end of each epoch.
                self.training_progress = self.epochs_done * self._timing("training") / EPOCHS
            else:
                self.training_progress = 0.0
                self.epochs_done = 0
        self._schedule()

    # Logs -----------------------------------------------------------------------------------------

    def _log_phase(self, secondary: str, t: float) -> None:
        if secondary == "Downloading":
            if not self.log_streams:
                for host in range(1, self.instance_count + 1):
                    stream = f"{self.name}/algo-{host}-{int(t)}"
                    self.region.world.services.create_stream(self.region.name, LOG_GROUP, stream)
                    self.log_streams.append(stream)
            lines = [f"Downloading {c['ChannelName']} channel from {self._channel_uri(c)}"
                     for c in self.described.get("InputDataConfig", [])]
            self._log(t, ["Resuming from checkpoint" if self.resuming and self.checkpointing else "Starting training container"] + lines)
        elif secondary == "Training":
            hyperparameters = ", ".join(f"{k}={v}" for k, v in sorted(self.described.get("HyperParameters", {}).items()))
            self._log(t, [f"Training started with hyperparameters: {{{hyperparameters}}}"])
        elif secondary == "Uploading":
            self._log(t, [f"Saving model artifacts to {self.model_artifacts}"])
        elif secondary == "Interrupted":
            self._log(t, ["Spot instance interrupted; waiting for capacity"])

    @staticmethod
    def _channel_uri(channel: dict[str, Any]) -> str:
        return channel.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri", "(non-S3 source)")

    def _log(self, t: float, lines: list[str]) -> None:
        for host, stream in enumerate(self.log_streams, start=1):
            self.region.world.services.put(self.region.name, LOG_GROUP, stream, [(t, f"[algo-{host}] {line}") for line in lines])

    # Answers --------------------------------------------------------------------------------------

    def _rule_configurations(self) -> list[tuple[str, dict[str, Any]]]:
        return [("DebugRuleEvaluationStatuses", rule) for rule in self.described.get("DebugRuleConfigurations", [])] + [
            ("ProfilerRuleEvaluationStatuses", rule) for rule in self.described.get("ProfilerRuleConfigurations", [])
        ]

    def _rule_statuses(self) -> dict[str, list[dict[str, Any]]]:
        statuses: dict[str, list[dict[str, Any]]] = {}
        for member, rule in self._rule_configurations():
            rule_name = rule["RuleConfigurationName"]
            if self.status in ("InProgress", "Stopping") or self.rules_final_at is not None:
                state = "InProgress"
            else:
                state = "Stopped" if self.status == "Stopped" else "NoIssuesFound"
            statuses.setdefault(member, []).append(
                {
                    "RuleConfigurationName": rule_name,
                    "RuleEvaluationJobArn": self.region.arn("processing-job", f"{self.name[:26]}-{rule_name[:26]}"),
                    "RuleEvaluationStatus": state,
                    "LastModifiedTime": self.last_modified,
                }
            )
        return statuses

    def _current_message(self, now: float) -> str | None:
        messages = PHASE_MESSAGES.get(self.secondary)
        if not messages or self.phase_end is None:
            return self.transitions[-1].get("StatusMessage")
        span = max(self.phase_end - self.phase_started, 1e-9)
        # Clamped: a clock stepped back (the skew control) puts now before the phase began.
        index = max(0, min(len(messages) - 1, int((now - self.phase_started) / span * len(messages))))
        return messages[index]

    def transitions_view(self, now: float) -> list[dict[str, Any]]:
        view = [dict(transition) for transition in self.transitions]
        if self.status in ("InProgress", "Stopping"):
            view[-1]["StatusMessage"] = self._current_message(now)
        return view

    @property
    def billed_seconds(self) -> tuple[int, int] | None:
        if self.status not in TERMINAL_STATUSES or self.training_start is None:
            return None
        training = max(1, round(self.running_seconds))
        billable = max(1, round(self.running_seconds * self.billing_ratio))
        return training, min(training, billable)

    def describe(self, now: float) -> dict[str, Any]:
        answer = dict(self.described)
        answer.update(
            TrainingJobArn=self.arn,
            TrainingJobStatus=self.status,
            SecondaryStatus=self.secondary,
            CreationTime=self.creation_time,
            LastModifiedTime=self.last_modified,
            SecondaryStatusTransitions=self.transitions_view(now),
            ModelArtifacts={"S3ModelArtifacts": self.model_artifacts},
            ProfilingStatus="Disabled" if self.described.get("ProfilerConfig", {}).get("DisableProfiler") else "Enabled",
            TrainingStartTime=self.training_start,
            TrainingEndTime=self.training_end,
            FailureReason=self.failure_reason,
        )
        if self.tuning_job is not None:
            answer["TuningJobArn"] = self.tuning_job.arn
        if self.metrics:
            answer["FinalMetricDataList"] = [
                {"MetricName": name, "Value": value, "Timestamp": stamp} for name, (value, stamp) in self.metrics.items()
            ]
        billed = self.billed_seconds
        if billed is not None:
            answer["TrainingTimeInSeconds"], answer["BillableTimeInSeconds"] = billed
        answer.update(self._rule_statuses())
        return answer

    def summary(self) -> dict[str, Any]:
        return {
            "TrainingJobName": self.name,
            "TrainingJobArn": self.arn,
            "CreationTime": self.creation_time,
            "TrainingEndTime": self.training_end,
            "LastModifiedTime": self.last_modified,
            "TrainingJobStatus": self.status,
            "SecondaryStatus": self.secondary,
        }


def find_training_job(region: Region, name: str) -> TrainingJob:
    job = region.training_jobs.get(name)
    if job is None:
        raise validation_error("Requested resource not found.")
    return job


def launch_training_job(region: Region, request: dict[str, Any], now: float, **links: Any) -> TrainingJob:
    name = request["TrainingJobName"]
    if name in region.training_jobs:
        raise resource_in_use(
            "Training job names must be unique within an AWS account and region, and a training job with this "
            f"name already exists ({region.arn('training-job', name)})"
        )
    validate_training_request(request)
    job = TrainingJob(region, request, now, **links)
    region.training_jobs[name] = job
    job.register()
    return job


@operation("CreateTrainingJob")
def create_training_job(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    job = launch_training_job(region, params, region.now())
    return {"TrainingJobArn": job.arn}


@operation("DescribeTrainingJob")
def describe_training_job(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    return find_training_job(region, params["TrainingJobName"]).describe(region.now())


@operation("StopTrainingJob")
def stop_training_job(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    find_training_job(region, params["TrainingJobName"]).stop(region.now())
    return {}


@operation("UpdateTrainingJob")
def update_training_job(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    job = find_training_job(region, params["TrainingJobName"])
    if job.status != "InProgress":
        raise validation_error(f"The request was rejected because the training job is in status {job.status}.")
    described = job.described
    if "ProfilerConfig" in params:
        described["ProfilerConfig"] = {**described.get("ProfilerConfig", {}), **params["ProfilerConfig"]}
    if "ProfilerRuleConfigurations" in params:
        known = {rule["RuleConfigurationName"] for rule in described.get("ProfilerRuleConfigurations", [])}
        added = [rule for rule in params["ProfilerRuleConfigurations"] if rule["RuleConfigurationName"] not in known]
        described["ProfilerRuleConfigurations"] = described.get("ProfilerRuleConfigurations", []) + added
    if "KeepAlivePeriodInSeconds" in params.get("ResourceConfig", {}):
        described["ResourceConfig"]["KeepAlivePeriodInSeconds"] = params["ResourceConfig"]["KeepAlivePeriodInSeconds"]
    if "RemoteDebugConfig" in params:
        described["RemoteDebugConfig"] = params["RemoteDebugConfig"]
    job.last_modified = region.now()
    return {"TrainingJobArn": job.arn}


@operation("ListTrainingJobs")
def list_training_jobs(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    in_window = time_window_filter(params, "CreationTime", "LastModifiedTime")
    name_part = (params.get("NameContains") or "").lower()
    status = params.get("StatusEquals")
    matches = (
        job
        for job in region.training_jobs.values()
        if (not status or job.status == status) and (not name_part or name_part in job.name.lower()) and in_window(job)
    )
    jobs, token = page(
        matches,
        params,
        {"Name": lambda job: job.name, "CreationTime": lambda job: job.creation_time, "Status": lambda job: job.status},
        default_sort="CreationTime",
    )
    answer: dict[str, Any] = {"TrainingJobSummaries": [job.summary() for job in jobs]}
    if token:
        answer["NextToken"] = token
    return answer
