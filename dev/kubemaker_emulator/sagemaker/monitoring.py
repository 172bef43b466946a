"""Model Monitor: job definitions of the four types, monitoring schedules and their executions.

Definitions exist once created; deleting one a schedule runs is refused. A schedule goes Pending ->
Scheduled (again after UpdateMonitoringSchedule and StartMonitoringSchedule), Stopped on
StopMonitoringSchedule. While Scheduled it starts an execution every `monitoring_execution_interval`
seconds (whatever its cron expression says: tests need minutes to be seconds), InProgress for
`monitoring_execution_running`, then Completed, or CompletedWithViolations when the control API asked
for violations, or Failed ("Job inputs had no data") when its endpoint does not capture data.
Executions outlive their schedule, as on AWS.
"""

from __future__ import annotations

import copy
import datetime
from typing import Any

from kubemaker_emulator.errors import AwsError, resource_in_use, resource_not_found, validation_error
from kubemaker_emulator.sagemaker.base import Region, Resource, operation, page, short_hex, time_window_filter
from kubemaker_emulator.sagemaker.hosting import endpoint_not_found

MONITORING_TYPES = ("DataQuality", "ModelQuality", "ModelBias", "ModelExplainability")
# The ARN resource type of each type's definitions.
ARN_KINDS = {
    "DataQuality": "data-quality-job-definition",
    "ModelQuality": "model-quality-job-definition",
    "ModelBias": "model-bias-job-definition",
    "ModelExplainability": "model-explainability-job-definition",
}
NO_DATA = "Job inputs had no data"


def violations_message(count: int = 3) -> str:
    # The wording of the exit message Model Monitor's analyzer ends such a processing job with.
    return f"CompletedWithViolations: Job completed successfully with {count} violations."


def definitions(region: Region) -> dict[tuple[str, str], "JobDefinition"]:
    return region.monitoring_definitions


class JobDefinition(Resource):
    def __init__(self, region: Region, monitoring_type: str, request: dict[str, Any], now: float):
        name = request["JobDefinitionName"]
        super().__init__(region, name, region.arn(ARN_KINDS[monitoring_type], name), request.get("Tags"), now)
        self.monitoring_type = monitoring_type
        self.described = copy.deepcopy(request)
        self.described.pop("Tags", None)

    @property
    def endpoint_name(self) -> str | None:
        endpoint_input = (self.described.get(f"{self.monitoring_type}JobInput") or {}).get("EndpointInput") or {}
        return endpoint_input.get("EndpointName")

    def describe(self) -> dict[str, Any]:
        return {**self.described, "JobDefinitionArn": self.arn, "CreationTime": self.creation_time}

    def summary(self) -> dict[str, Any]:
        return {"MonitoringJobDefinitionName": self.name, "MonitoringJobDefinitionArn": self.arn,
                "CreationTime": self.creation_time, "EndpointName": self.endpoint_name or ""}


class Execution:
    """One run of a schedule: a processing job, named as Model Monitor names them."""

    def __init__(self, schedule: "MonitoringSchedule", scheduled: float, now: float):
        stamp = datetime.datetime.fromtimestamp(scheduled, datetime.timezone.utc).strftime("%Y%m%d%H%M")
        self.name = f"model-monitoring-{stamp}-{short_hex(schedule.arn, scheduled, length=24)}"
        self.schedule_name = schedule.name
        self.endpoint_name = schedule.endpoint_name
        self.definition_name = schedule.config.get("MonitoringJobDefinitionName")
        self.monitoring_type = schedule.monitoring_type
        self.processing_job_arn = schedule.region.arn("processing-job", self.name)
        self.scheduled_time = scheduled
        self.creation_time = now
        self.last_modified = now
        self.status = "InProgress"
        self.failure_reason: str | None = None

    def finish(self, status: str, reason: str | None, t: float) -> None:
        self.status, self.failure_reason, self.last_modified = status, reason, t

    def summary(self) -> dict[str, Any]:
        return {
            "MonitoringScheduleName": self.schedule_name,
            "ScheduledTime": self.scheduled_time,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified,
            "MonitoringExecutionStatus": self.status,
            "ProcessingJobArn": self.processing_job_arn,
            "EndpointName": self.endpoint_name,
            "FailureReason": self.failure_reason,
            "MonitoringJobDefinitionName": self.definition_name,
            "MonitoringType": self.monitoring_type,
        }


class MonitoringSchedule(Resource):
    def __init__(self, region: Region, request: dict[str, Any], now: float):
        name = request["MonitoringScheduleName"]
        super().__init__(region, name, region.arn("monitoring-schedule", name), request.get("Tags"), now)
        self.config = copy.deepcopy(request["MonitoringScheduleConfig"])
        self.status = "Pending"
        self.failure_reason: str | None = None
        self.last_execution: Execution | None = None
        self.timer = region.world.timer()
        self._pending(now)

    @property
    def monitoring_type(self) -> str:
        return self.config.get("MonitoringType") or "DataQuality"

    @property
    def endpoint_name(self) -> str | None:
        definition = definitions(self.region).get((self.monitoring_type, self.config.get("MonitoringJobDefinitionName")))
        if definition is not None:
            return definition.endpoint_name
        inputs = (self.config.get("MonitoringJobDefinition") or {}).get("MonitoringInputs") or [{}]
        return (inputs[0].get("EndpointInput") or {}).get("EndpointName")

    def _enter(self, status: str, t: float) -> None:
        self.status = status
        self.last_modified = t

    def _pending(self, t: float) -> None:
        self._enter("Pending", t)
        self.timer.arm(t + self.region.timings["monitoring_schedule_pending"], self._scheduled)

    def _scheduled(self, t: float) -> None:
        self._enter("Scheduled", t)
        self.timer.arm(t + self.region.timings["monitoring_execution_interval"], self._start_execution)

    def _start_execution(self, t: float) -> None:
        execution = Execution(self, t, t)
        self.region.monitoring_executions.append(execution)
        self.last_execution = execution
        self.timer.arm(t + self.region.timings["monitoring_execution_running"], lambda at: self._end_execution(execution, at))

    def _end_execution(self, execution: Execution, t: float) -> None:
        armed = self.region.world.armed.monitoring_violations
        violations = None
        if self.name in armed:
            violations, remaining = armed.pop(self.name)
            if remaining > 1:
                armed[self.name] = (violations, remaining - 1)
        endpoint = self.region.endpoints.get(execution.endpoint_name or "")
        capture = (endpoint.config.get("DataCaptureConfig") if endpoint is not None else None) or {}
        if not capture or capture.get("EnableCapture") is False:
            execution.finish("Failed", NO_DATA, t)
        elif violations is not None:
            execution.finish("CompletedWithViolations", violations, t)
        else:
            execution.finish("Completed", None, t)
        if self.status == "Scheduled":
            self.timer.arm(execution.scheduled_time + self.region.timings["monitoring_execution_interval"],
                           self._start_execution)

    def update(self, config: dict[str, Any], t: float) -> None:
        self.config = copy.deepcopy(config)
        self._pending(t)

    def stop(self, t: float) -> None:
        self.timer.cancel()
        if self.last_execution is not None and self.last_execution.status == "InProgress":
            self.last_execution.finish("Stopped", None, t)
        self._enter("Stopped", t)

    def start(self, t: float) -> None:
        if self.status == "Stopped":
            self._pending(t)

    def describe(self) -> dict[str, Any]:
        return {
            "MonitoringScheduleArn": self.arn,
            "MonitoringScheduleName": self.name,
            "MonitoringScheduleStatus": self.status,
            "MonitoringType": self.monitoring_type,
            "FailureReason": self.failure_reason,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified,
            "MonitoringScheduleConfig": self.config,
            "EndpointName": self.endpoint_name,
            "LastMonitoringExecutionSummary": self.last_execution.summary() if self.last_execution else None,
        }

    def summary(self) -> dict[str, Any]:
        return {
            "MonitoringScheduleName": self.name,
            "MonitoringScheduleArn": self.arn,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified,
            "MonitoringScheduleStatus": self.status,
            "EndpointName": self.endpoint_name,
            "MonitoringJobDefinitionName": self.config.get("MonitoringJobDefinitionName"),
            "MonitoringType": self.monitoring_type,
        }


# Job definitions ----------------------------------------------------------------------------------


def definition_not_found(name: str) -> AwsError:
    return resource_not_found(f"Could not find job definition {name}.")


def find_definition(region: Region, monitoring_type: str, name: str) -> JobDefinition:
    definition = definitions(region).get((monitoring_type, name))
    if definition is None:
        raise definition_not_found(name)
    return definition


def _create_definition(monitoring_type: str):
    def create(region: Region, params: dict[str, Any]) -> dict[str, Any]:
        name = params["JobDefinitionName"]
        if (monitoring_type, name) in definitions(region):
            raise resource_in_use(f"Job definition {region.arn(ARN_KINDS[monitoring_type], name)} already exists.")
        endpoint_input = (params[f"{monitoring_type}JobInput"].get("EndpointInput") or {})
        if endpoint_input and endpoint_input["EndpointName"] not in region.endpoints:
            raise endpoint_not_found(region, endpoint_input["EndpointName"])
        definition = JobDefinition(region, monitoring_type, params, region.now())
        definitions(region)[(monitoring_type, name)] = definition
        definition.register()
        return {"JobDefinitionArn": definition.arn}

    return create


def _describe_definition(monitoring_type: str):
    def describe(region: Region, params: dict[str, Any]) -> dict[str, Any]:
        return find_definition(region, monitoring_type, params["JobDefinitionName"]).describe()

    return describe


def _delete_definition(monitoring_type: str):
    def delete(region: Region, params: dict[str, Any]) -> dict[str, Any]:
        definition = find_definition(region, monitoring_type, params["JobDefinitionName"])
        users = sorted(s.name for s in region.monitoring_schedules.values()
                       if s.monitoring_type == monitoring_type
                       and s.config.get("MonitoringJobDefinitionName") == definition.name)
        if users:
            raise resource_in_use(f"Job definition {definition.arn} is in use by monitoring schedule(s) "
                                  f"{', '.join(users)}.")
        del definitions(region)[(monitoring_type, definition.name)]
        definition.unregister()
        return {}

    return delete


def _list_definitions(monitoring_type: str):
    def list_definitions(region: Region, params: dict[str, Any]) -> dict[str, Any]:
        in_window = time_window_filter(params, "CreationTime", None)
        name_part = (params.get("NameContains") or "").lower()
        endpoint = params.get("EndpointName")
        matches = (
            d for (kind, _), d in definitions(region).items()
            if kind == monitoring_type and name_part in d.name.lower() and in_window(d)
            and (not endpoint or d.endpoint_name == endpoint)
        )
        found, token = page(matches, params, {"Name": lambda d: d.name, "CreationTime": lambda d: d.creation_time},
                            default_sort="CreationTime", default_order="Descending")
        answer: dict[str, Any] = {"JobDefinitionSummaries": [d.summary() for d in found]}
        if token:
            answer["NextToken"] = token
        return answer

    return list_definitions


for _type in MONITORING_TYPES:
    operation(f"Create{_type}JobDefinition")(_create_definition(_type))
    operation(f"Describe{_type}JobDefinition")(_describe_definition(_type))
    operation(f"Delete{_type}JobDefinition")(_delete_definition(_type))
    operation(f"List{_type}JobDefinitions")(_list_definitions(_type))


# Schedules ----------------------------------------------------------------------------------------


def schedule_not_found(name: str) -> AwsError:
    return resource_not_found(f"Monitoring schedule {name} does not exist.")


def find_schedule(region: Region, name: str) -> MonitoringSchedule:
    schedule = region.monitoring_schedules.get(name)
    if schedule is None:
        raise schedule_not_found(name)
    return schedule


def check_config(region: Region, config: dict[str, Any]) -> None:
    """A schedule runs exactly one definition: a named one of its type, or one written inline."""
    named = config.get("MonitoringJobDefinitionName")
    if bool(named) == bool(config.get("MonitoringJobDefinition")):
        raise validation_error("Exactly one of MonitoringJobDefinition and MonitoringJobDefinitionName must be given.")
    if named:
        if not config.get("MonitoringType"):
            raise validation_error("MonitoringType is required with MonitoringJobDefinitionName.")
        if (config["MonitoringType"], named) not in definitions(region):
            raise validation_error(f"Could not find {config['MonitoringType']} job definition {named}.")


@operation("CreateMonitoringSchedule")
def create_monitoring_schedule(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    name = params["MonitoringScheduleName"]
    if name in region.monitoring_schedules:
        raise resource_in_use(f"Monitoring schedule {region.arn('monitoring-schedule', name)} already exists.")
    check_config(region, params["MonitoringScheduleConfig"])
    schedule = MonitoringSchedule(region, params, region.now())
    region.monitoring_schedules[name] = schedule
    schedule.register()
    return {"MonitoringScheduleArn": schedule.arn}


@operation("DescribeMonitoringSchedule")
def describe_monitoring_schedule(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    return find_schedule(region, params["MonitoringScheduleName"]).describe()


@operation("UpdateMonitoringSchedule")
def update_monitoring_schedule(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    schedule = find_schedule(region, params["MonitoringScheduleName"])
    check_config(region, params["MonitoringScheduleConfig"])
    schedule.update(params["MonitoringScheduleConfig"], region.now())
    return {"MonitoringScheduleArn": schedule.arn}


@operation("DeleteMonitoringSchedule")
def delete_monitoring_schedule(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    schedule = find_schedule(region, params["MonitoringScheduleName"])
    schedule.stop(region.now())
    del region.monitoring_schedules[schedule.name]
    schedule.unregister()
    return {}


@operation("StopMonitoringSchedule")
def stop_monitoring_schedule(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    find_schedule(region, params["MonitoringScheduleName"]).stop(region.now())
    return {}


@operation("StartMonitoringSchedule")
def start_monitoring_schedule(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    find_schedule(region, params["MonitoringScheduleName"]).start(region.now())
    return {}


@operation("ListMonitoringSchedules")
def list_monitoring_schedules(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    in_window = time_window_filter(params, "CreationTime", "LastModifiedTime")
    name_part = (params.get("NameContains") or "").lower()
    matches = (
        s for s in region.monitoring_schedules.values()
        if name_part in s.name.lower() and in_window(s)
        and (not params.get("StatusEquals") or s.status == params["StatusEquals"])
        and (not params.get("EndpointName") or s.endpoint_name == params["EndpointName"])
        and (not params.get("MonitoringTypeEquals") or s.monitoring_type == params["MonitoringTypeEquals"])
        and (not params.get("MonitoringJobDefinitionName")
             or s.config.get("MonitoringJobDefinitionName") == params["MonitoringJobDefinitionName"])
    )
    found, token = page(
        matches, params,
        {"Name": lambda s: s.name, "CreationTime": lambda s: s.creation_time, "Status": lambda s: s.status},
        default_sort="CreationTime", default_order="Descending",
    )
    answer: dict[str, Any] = {"MonitoringScheduleSummaries": [s.summary() for s in found]}
    if token:
        answer["NextToken"] = token
    return answer


@operation("ListMonitoringExecutions")
def list_monitoring_executions(region: Region, params: dict[str, Any]) -> dict[str, Any]:
    in_window = time_window_filter(params, "CreationTime", "LastModifiedTime")
    after, before = params.get("ScheduledTimeAfter"), params.get("ScheduledTimeBefore")
    matches = (
        e for e in region.monitoring_executions
        if in_window(e)
        and (after is None or e.scheduled_time > float(after)) and (before is None or e.scheduled_time < float(before))
        and (not params.get("MonitoringScheduleName") or e.schedule_name == params["MonitoringScheduleName"])
        and (not params.get("EndpointName") or e.endpoint_name == params["EndpointName"])
        and (not params.get("StatusEquals") or e.status == params["StatusEquals"])
        and (not params.get("MonitoringTypeEquals") or e.monitoring_type == params["MonitoringTypeEquals"])
        and (not params.get("MonitoringJobDefinitionName")
             or e.definition_name == params["MonitoringJobDefinitionName"])
    )
    found, token = page(
        matches, params,
        {"CreationTime": lambda e: e.creation_time, "ScheduledTime": lambda e: e.scheduled_time,
         "Status": lambda e: e.status},
        default_sort="CreationTime", default_order="Descending",
    )
    answer: dict[str, Any] = {"MonitoringExecutionSummaries": [e.summary() for e in found]}
    if token:
        answer["NextToken"] = token
    return answer
