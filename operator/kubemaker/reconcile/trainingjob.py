"""TrainingJob planner: create once, follow SageMaker's progress, report it in its own words."""

from __future__ import annotations

import datetime
from typing import Any

from ..api.base import from_wire
from ..api.registry import dump_status
from ..api.training_job import (
    MAX_REPORTED_TRANSITIONS,
    UPDATABLE_FIELDS,
    TrainingJobStatus,
    spot_savings_percent,
)
from ..conditions import Health
from ..runtime.outcomes import Event, Plan
from .common import console_url

TERMINAL_STATES = ("Completed", "Failed", "Stopped")
FINAL_RULE_STATES = ("NoIssuesFound", "IssuesFound", "Error", "Stopped")


def status_from_description(description: dict, region: str, log_streams: list[str] | None) -> dict[str, Any]:
    """Status fields in SageMaker's words (from DescribeTrainingJob), plus what users ask for."""
    status = TrainingJobStatus.model_validate(from_wire(TrainingJobStatus, description))
    status.secondaryStatusTransitions = (status.secondaryStatusTransitions or [])[-MAX_REPORTED_TRANSITIONS:]
    if description.get("TrainingJobArn"):  # a job on the cluster (placement: Cluster) has no console page
        status.consoleUrl = console_url(region, f"jobs/{description['TrainingJobName']}")
    if description.get("EnableManagedSpotTraining"):
        status.spotSavingsPercent = spot_savings_percent(
            description.get("BillableTimeInSeconds"), description.get("TrainingTimeInSeconds")
        )
    status.logStreams = log_streams
    # createPending is cleared explicitly: a merge patch only removes what it sets to null.
    return {**dump_status(status), "createPending": None}


def rules_final(description: dict) -> bool:
    statuses = (description.get("DebugRuleEvaluationStatuses") or []) + (
        description.get("ProfilerRuleEvaluationStatuses") or []
    )
    return all(rule.get("RuleEvaluationStatus") in FINAL_RULE_STATES for rule in statuses)


def issues_found(description: dict) -> list[str]:
    statuses = (description.get("DebugRuleEvaluationStatuses") or []) + (
        description.get("ProfilerRuleEvaluationStatuses") or []
    )
    return [rule.get("RuleConfigurationName", "?") for rule in statuses
            if rule.get("RuleEvaluationStatus") == "IssuesFound"]


def health_of(description: dict) -> Health:
    state = description.get("TrainingJobStatus")
    secondary = description.get("SecondaryStatus", "")
    reason = description.get("FailureReason") or ""
    if state == "Completed":
        if not rules_final(description):
            return Health.reconciling("RulesEvaluating", "training completed; debugger/profiler rules still evaluating")
        return Health.ready("Completed", f"training job completed ({secondary})")
    if state == "Failed":
        return Health.stalled(secondary or "Failed", f"training job failed: {reason}")
    if state == "Stopped":
        if secondary == "MaxRuntimeExceeded":
            return Health.stalled("MaxRuntimeExceeded", "training job stopped: MaxRuntimeInSeconds exceeded")
        return Health.stalled("Stopped", "training job was stopped")
    return Health.reconciling(state or "Unknown", f"training job {state}: {secondary}")


WARNING_SECONDARY_STATES = ("Interrupted", "Failed", "Stopped", "MaxWaitTimeExceeded", "MaxRuntimeExceeded")


def latest_reported_start(previous_status: dict) -> datetime.datetime | None:
    starts = [t.get("startTime") for t in previous_status.get("secondaryStatusTransitions") or [] if t.get("startTime")]
    return max((datetime.datetime.fromisoformat(start) for start in starts), default=None)


def transition_events(previous_status: dict, description: dict) -> list[Event]:
    """One Event per secondary status SageMaker entered since the status last reported. Two statuses
    may start in the same second (a job on the cluster has Kubernetes' whole-second times): at the
    latest reported time, only the statuses status did not report are new."""
    reported_until = latest_reported_start(previous_status)
    reported_last = {t.get("status") for t in previous_status.get("secondaryStatusTransitions") or []
                     if t.get("startTime") and datetime.datetime.fromisoformat(t["startTime"]) == reported_until}
    events = []
    for transition in description.get("SecondaryStatusTransitions", []):
        started = transition.get("StartTime")
        if reported_until is not None and started is not None and (
                started < reported_until or (started == reported_until and transition.get("Status") in reported_last)):
            continue
        status = transition.get("Status")
        kind = "Warning" if status in WARNING_SECONDARY_STATES else "Normal"
        message = transition.get("StatusMessage") or status
        if status == "Failed" and description.get("FailureReason"):
            message = f"{message}: {description['FailureReason']}"
        events.append(Event(kind, f"Training{status}", message))
    became = description.get("TrainingJobStatus")
    if became == "Completed" and previous_status.get("trainingJobStatus") != "Completed" and issues_found(description):
        found = ", ".join(issues_found(description))
        events.append(Event("Warning", "RuleIssuesFound", f"rules found issues: {found}"))
    return events


def applied_updatable(spec: dict) -> dict[str, Any]:
    """The spec members UpdateTrainingJob takes, as status records them once applied."""
    applied = {member: spec[member] for member in UPDATABLE_FIELDS if member in spec}
    keep_alive = (spec.get("resourceConfig") or {}).get("keepAlivePeriodInSeconds")
    if keep_alive is not None:
        applied["keepAlivePeriodInSeconds"] = keep_alive
    return applied


def plan_observed(
    spec: dict, status: dict, description: dict, update_request: dict, region: str, log_streams: list[str] | None
) -> Plan:
    """The job exists and is ours: report it, and apply in-place updates while it runs.

    `update_request` is UpdateTrainingJob's request for the current spec; it is sent only when the
    updatable members differ from those last applied (the rest of the spec is immutable)."""
    new_status = status_from_description(description, region, log_streams)
    events = transition_events(status, description)
    state = description.get("TrainingJobStatus")
    desired = applied_updatable(spec)
    if state == "InProgress" and desired != (status.get("appliedUpdates") or {}):
        changed = sorted(key for key in desired.keys() | (status.get("appliedUpdates") or {}).keys()
                         if desired.get(key) != (status.get("appliedUpdates") or {}).get(key))
        return Plan(
            health=Health.reconciling("Updating", "applying " + ", ".join(changed) + " with UpdateTrainingJob"),
            status={**new_status, "appliedUpdates": desired},
            action="update_training_job",
            request=update_request,
            events=events + [Event("Normal", "Updating", "UpdateTrainingJob: " + ", ".join(changed))],
            track=True,
        )
    return Plan(
        health=health_of(description),
        status=new_status,
        events=events,
        track=state not in TERMINAL_STATES or not rules_final(description),
    )
