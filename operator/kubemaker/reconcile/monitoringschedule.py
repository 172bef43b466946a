"""MonitoringSchedule planner: the job definition and the schedule that runs it, one step at a time.

The definition is named from a digest of its request, so a spec change is a new name: the planner
creates the new definition, moves the schedule to it with UpdateMonitoringSchedule, then deletes the
old one, and a definition made for a spec that changed again before use is deleted too. Status
records the definition in use and the one made for the spec (`pendingJobDefinition`) before each
create, so none is left behind after a crash.

The last execution comes with DescribeMonitoringSchedule: CompletedWithViolations sets the condition
ViolationsFound (with a Warning Event once per execution); the schedule stays Ready.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ..api.base import from_wire
from ..api.monitoring_schedule import (
    MONITORING_TYPES,
    MonitoringScheduleSpec,
    MonitoringScheduleStatus,
    MonitoringType,
    build_create_job_definition_request,
    build_create_monitoring_schedule_request,
    build_update_monitoring_schedule_request,
)
from ..api.registry import dump_status
from ..api.shapes import MonitoringExecutionSummary
from ..conditions import Health, Signal
from ..runtime.outcomes import Event, Plan, SageMakerObject, Stall, create_pending, stalled, wait
from .common import console_url, is_ready

VIOLATIONS_FOUND = "ViolationsFound"
DEFINITION_HASH_LENGTH = 8
MAX_NAME_LENGTH = 63

SCHEDULE = SageMakerObject("monitoring schedule", "describe_monitoring_schedule", "MonitoringScheduleName",
                           "MonitoringScheduleArn")


# The boto3 methods of each type's definitions, spelled out: docs/iam-policy.json is checked against
# the operations the operator's modules name.
DEFINITION_OPERATIONS = {
    "DataQuality": {"create": "create_data_quality_job_definition",
                    "describe": "describe_data_quality_job_definition",
                    "delete": "delete_data_quality_job_definition",
                    "list": "list_data_quality_job_definitions"},
    "ModelQuality": {"create": "create_model_quality_job_definition",
                     "describe": "describe_model_quality_job_definition",
                     "delete": "delete_model_quality_job_definition",
                     "list": "list_model_quality_job_definitions"},
    "ModelBias": {"create": "create_model_bias_job_definition",
                  "describe": "describe_model_bias_job_definition",
                  "delete": "delete_model_bias_job_definition",
                  "list": "list_model_bias_job_definitions"},
    "ModelExplainability": {"create": "create_model_explainability_job_definition",
                            "describe": "describe_model_explainability_job_definition",
                            "delete": "delete_model_explainability_job_definition",
                            "list": "list_model_explainability_job_definitions"},
}
assert set(DEFINITION_OPERATIONS) == {monitoring_type.name for monitoring_type in MONITORING_TYPES}


def definition_operation(monitoring_type: MonitoringType | str, verb: str) -> str:
    """The boto3 method: definition_operation(DataQuality, "create") -> create_data_quality_job_definition."""
    name = monitoring_type if isinstance(monitoring_type, str) else monitoring_type.name
    return DEFINITION_OPERATIONS[name][verb]


def definition_object(monitoring_type: MonitoringType) -> SageMakerObject:
    return SageMakerObject(f"{monitoring_type.name} job definition", definition_operation(monitoring_type, "describe"),
                           "JobDefinitionName", "JobDefinitionArn")


def definition_name(schedule_name: str, request: dict[str, Any]) -> str:
    """`<schedule>-<digest>`: the digest of what the definition does (not its name or tags), and of
    the schedule's name, so schedules whose names share a long prefix still get distinct names."""
    content = {key: value for key, value in request.items() if key not in ("JobDefinitionName", "Tags")}
    digest = hashlib.sha256(json.dumps([schedule_name, content], sort_keys=True, default=str).encode()).hexdigest()
    stem = schedule_name[: MAX_NAME_LENGTH - DEFINITION_HASH_LENGTH - 1].rstrip("-")
    return f"{stem}-{digest[:DEFINITION_HASH_LENGTH]}"


def desired_definition(spec: MonitoringScheduleSpec, schedule_name: str, endpoint_name: str,
                       ownership_tags: dict[str, str]) -> dict[str, Any]:
    """Create<Type>JobDefinition's request for the spec, under its derived name."""
    request = build_create_job_definition_request(spec, "", endpoint_name, ownership_tags)
    request["JobDefinitionName"] = definition_name(schedule_name, request)
    return request


@dataclass
class Desired:
    spec: MonitoringScheduleSpec
    schedule_name: str
    endpoint_name: str
    definition: dict[str, Any]  # desired_definition's answer
    tags: dict[str, str]  # ownership tags

    @property
    def definition_ref(self) -> dict[str, str]:
        return {"name": self.definition["JobDefinitionName"], "monitoringType": self.spec.monitoring_type.name}


@dataclass
class Observed:
    schedule: dict | None = None  # DescribeMonitoringSchedule
    # Describe<Type>JobDefinition of the desired definition; looked at only when the schedule does
    # not run it yet.
    definition: dict | None = None


# The endpoint ------------------------------------------------------------------------------------


def capture_enabled(data_capture: dict | None) -> bool:
    """A DataCaptureConfig (the spec's or DescribeEndpoint's) that captures: EnableCapture defaults to true."""
    if not data_capture:
        return False
    return data_capture.get("enableCapture", data_capture.get("EnableCapture", True)) is not False


def data_capture_wait(what: str, previous_reason: str | None) -> Plan:
    """Waiting, not Stalled: the fix is another object's (the endpoint's), which a Stalled schedule
    would not notice, since it waits for a change of its own spec. Said once with a Warning Event."""
    plan = wait("DataCaptureNotEnabled", f"{what} does not capture data: Model Monitor analyses what the endpoint "
                "captures; turn on its dataCaptureConfig (enableCapture: true)")
    if previous_reason != "DataCaptureNotEnabled":
        plan.events = [Event("Warning", "DataCaptureNotEnabled", plan.health.message)]
    return plan


def referenced_endpoint(ref: str, endpoint: dict | None, schedule_exists: bool, previous_reason: str | None,
                        region: str, default_region: str) -> str | Plan:
    """The SageMaker name of the Endpoint object `ref`, or a plan to wait: until it exists in
    SageMaker, captures data, and (before anything is made) is Ready for its current spec."""
    if endpoint is None:
        return wait("WaitingForEndpoint", f"waiting for Endpoint {ref} to be created")
    endpoint_region = (endpoint.get("spec") or {}).get("region") or default_region
    if endpoint_region != region:
        # Model Monitor reads an endpoint of its own region only: no wait would ever end.
        return stalled(Health.stalled(
            "EndpointInAnotherRegion", f"Endpoint {ref} is in region {endpoint_region} and this schedule in "
            f"{region}: Model Monitor watches an endpoint of its own region; reference an Endpoint in {region}"))
    status = endpoint.get("status") or {}
    if not status.get("endpointName") or not status.get("endpointArn"):
        return wait("WaitingForEndpoint", f"waiting for Endpoint {ref} to create its SageMaker endpoint")
    if not capture_enabled((endpoint.get("spec") or {}).get("dataCaptureConfig")):
        return data_capture_wait(f"Endpoint {ref}", previous_reason)
    if not schedule_exists and not is_ready(endpoint):
        return wait("WaitingForEndpoint", f"waiting for Endpoint {ref} to be InService with its current spec")
    return status["endpointName"]


def named_endpoint(name: str, description: dict | None, previous_reason: str | None) -> str | Plan:
    """An endpoint given by its SageMaker name (its use already allowed), from DescribeEndpoint."""
    if description is None:
        return wait("WaitingForEndpoint", f"waiting for SageMaker endpoint {name} to exist")
    if not capture_enabled(description.get("DataCaptureConfig")):
        return data_capture_wait(f"SageMaker endpoint {name}", previous_reason)
    return name


# Status ------------------------------------------------------------------------------------------


def observed_status(schedule: dict, region: str) -> dict[str, Any]:
    status = MonitoringScheduleStatus.model_validate(from_wire(MonitoringScheduleStatus, schedule))
    status.consoleUrl = console_url(region, f"monitoring-schedules/{schedule['MonitoringScheduleName']}")
    return {"failureReason": None, "createPending": None, **dump_status(status)}


def in_use(schedule: dict) -> dict[str, str]:
    config = schedule.get("MonitoringScheduleConfig") or {}
    return {"name": config.get("MonitoringJobDefinitionName", ""),
            "monitoringType": config.get("MonitoringType") or schedule.get("MonitoringType", "")}


def execution_signals(schedule: dict, status: dict) -> tuple[list[Signal], list[Event]]:
    """ViolationsFound from the last execution, and an Event when an execution ended since status
    last reported it."""
    last = schedule.get("LastMonitoringExecutionSummary")
    if not last:
        return [], []
    state = last.get("MonitoringExecutionStatus")
    reported = status.get("lastMonitoringExecutionSummary") or {}
    job = last.get("ProcessingJobArn")
    # As status writes it, to compare with what status reported.
    scheduled = dump_status(MonitoringExecutionSummary.model_validate(
        from_wire(MonitoringExecutionSummary, last)))["scheduledTime"]
    new = (reported.get("scheduledTime"), reported.get("monitoringExecutionStatus")) != (scheduled, state)
    where = f"the execution scheduled at {scheduled}" + (f" (processing job {job})" if job else "")
    reason = last.get("FailureReason")
    if state == "CompletedWithViolations":
        message = f"{where} completed with violations: {reason or 'see the constraint violations report'}"
        events = [Event("Warning", VIOLATIONS_FOUND, message)] if new else []
        return [Signal(VIOLATIONS_FOUND, "True", "CompletedWithViolations", message)], events
    if state == "Completed":
        message = f"{where} completed with no violations"
        events = [Event("Normal", "MonitoringExecutionCompleted", message)] if new else []
        return [Signal(VIOLATIONS_FOUND, "False", "Completed", message)], events
    if state == "Failed" and new:
        return [], [Event("Warning", "MonitoringExecutionFailed", f"{where} failed: {reason or 'no reason given'}")]
    return [], []


# The planner -------------------------------------------------------------------------------------


def plan_schedule(desired: Desired, observed: Observed, status: dict, generation: int, region: str) -> Plan:
    """The next step toward the spec, with the status to report and what the tracker follows."""
    schedule = observed.schedule
    if schedule is None:
        return plan_create(desired, observed, status)
    current = {**status, **observed_status(schedule, region)}
    signals, events = execution_signals(schedule, status)
    plan = next_step(desired, observed, status, current, generation)
    # What `before` records stays recorded: status is written again after the call.
    plan.status = {**current, **plan.status, **plan.before}
    plan.signals = signals
    plan.events = events + plan.events
    plan.follow, plan.track = schedule, True
    return plan


def delete_definition(ref: dict[str, str], why: str, status: dict[str, Any], **kwargs: Any) -> Plan:
    return Plan(
        health=Health.reconciling("DeletingOldDefinition", f"deleting job definition {ref['name']}, {why}"),
        status=status, action=definition_operation(ref["monitoringType"], "delete"),
        request={"JobDefinitionName": ref["name"]}, requeue_after=0,
        events=[Event("Normal", "DeletedDefinition", f"deleted job definition {ref['name']}, {why}")], **kwargs,
    )


def create_definition(desired: Desired) -> Plan:
    ref = desired.definition_ref
    return Plan(
        health=Health.reconciling("CreatingDefinition",
                                  f"creating {ref['monitoringType']} job definition {ref['name']}"),
        action=definition_operation(desired.spec.monitoring_type, "create"), request=desired.definition,
        creates=definition_object(desired.spec.monitoring_type), before={"pendingJobDefinition": ref}, again=True,
        events=[Event("Normal", "CreatedDefinition", f"created {ref['monitoringType']} job definition {ref['name']}")],
    )


def plan_create(desired: Desired, observed: Observed, status: dict) -> Plan:
    """No schedule: clear out definitions of an earlier life, make the definition, then the schedule."""
    if status.get("monitoringScheduleArn"):
        raise Stall("NotFound", f"SageMaker monitoring schedule {desired.schedule_name} was deleted outside the "
                    "operator; re-create this MonitoringSchedule object to create it again")
    wanted = desired.definition_ref
    pending = status.get("pendingJobDefinition")
    for field in ("jobDefinition", "pendingJobDefinition"):
        leftover = status.get(field)
        if leftover and leftover["name"] != wanted["name"]:
            return delete_definition(leftover, "not used by the new schedule", {field: None})
    if pending is None or observed.definition is None:
        return create_definition(desired)
    name = desired.schedule_name
    return Plan(
        health=Health.reconciling("Creating", f"creating SageMaker monitoring schedule {name}"),
        action="create_monitoring_schedule",
        request=build_create_monitoring_schedule_request(desired.spec, name, wanted["name"], desired.tags),
        creates=SCHEDULE, again=True, record={"monitoringScheduleArn": "MonitoringScheduleArn"},
        before=create_pending(name, monitoringScheduleName=name),
        events=[Event("Normal", "Created", f"created SageMaker monitoring schedule {name} running {wanted['name']}")],
    )


def schedule_differs(spec: MonitoringScheduleSpec, schedule: dict) -> bool:
    """Whether SageMaker's ScheduleConfig differs from the spec's (the request's members only)."""
    wanted = build_update_monitoring_schedule_request(spec, "", "")["MonitoringScheduleConfig"]["ScheduleConfig"]
    described = (schedule.get("MonitoringScheduleConfig") or {}).get("ScheduleConfig") or {}
    return any(str(described.get(member)) != str(value) for member, value in wanted.items())


def next_step(desired: Desired, observed: Observed, status: dict, current: dict, generation: int) -> Plan:
    schedule = observed.schedule
    assert schedule is not None
    name = desired.schedule_name
    state = schedule["MonitoringScheduleStatus"]
    running = in_use(schedule)
    wanted = desired.definition_ref
    recorded, pending = status.get("jobDefinition"), status.get("pendingJobDefinition")
    if state == "Failed":
        reason = schedule.get("FailureReason") or "no reason given"
        return Plan(health=Health.stalled("Failed", f"monitoring schedule failed: {reason}"),
                    events=[Event("Warning", "Failed", f"monitoring schedule failed: {reason}")])
    if state == "Pending":
        return Plan(health=Health.reconciling("Pending", f"monitoring schedule {name} is Pending"))

    # A definition the schedule no longer runs goes first (the one an update replaced, or one made
    # for a spec that changed again before use); status then records the one in use.
    made = None if pending and pending["name"] == running["name"] else pending
    settled = {"jobDefinition": running, "pendingJobDefinition": made}
    if recorded and recorded["name"] != running["name"]:
        return delete_definition(recorded, f"replaced by {running['name']}", settled)
    if made and made["name"] != wanted["name"]:
        return delete_definition(made, "superseded before use", {**settled, "pendingJobDefinition": None})
    if running["name"] != wanted["name"]:
        # The spec asks for another definition: make it, then move the schedule to it.
        if made is None or observed.definition is None:
            plan = create_definition(desired)
            plan.status = settled
            return plan
        return update_schedule(desired, wanted["name"], f"job definition {wanted['name']}", settled)
    if schedule_differs(desired.spec, schedule):
        return update_schedule(desired, wanted["name"], "the schedule in the spec", settled)
    if state == "Stopped":
        return Plan(health=Health.reconciling(
            "Stopped", f"monitoring schedule {name} was stopped outside Kubernetes: start it again with "
            "StartMonitoringSchedule"), status=settled)
    return Plan(health=Health.ready("Scheduled", f"monitoring schedule runs job definition {running['name']}"),
                status=settled)


def update_schedule(desired: Desired, definition: str, what: str, status: dict[str, Any]) -> Plan:
    return Plan(
        health=Health.reconciling("Updating", f"updating monitoring schedule {desired.schedule_name} to {what}"),
        status=status, action="update_monitoring_schedule",
        request=build_update_monitoring_schedule_request(desired.spec, desired.schedule_name, definition),
        requeue_after=0,
        events=[Event("Normal", "Updating", f"UpdateMonitoringSchedule: {what}")],
    )
