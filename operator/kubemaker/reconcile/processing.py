"""ProcessingJob planner: create once, follow the job to its end, report it in SageMaker's words."""

from __future__ import annotations

from typing import Any

from ..api.base import from_wire
from ..api.processing_job import ProcessingJobStatus, output_locations
from ..api.registry import dump_status
from ..conditions import Health
from ..runtime.outcomes import Plan
from .common import JOB_TERMINAL_STATES, console_url, job_health, state_change_events

NOUN = "processing job"


def status_from_description(description: dict, region: str) -> dict[str, Any]:
    status = ProcessingJobStatus.model_validate(from_wire(ProcessingJobStatus, description))
    status.processingOutputs = output_locations(description) or None
    status.consoleUrl = console_url(region, f"processing-jobs/{description['ProcessingJobName']}")
    # createPending is cleared explicitly: a merge patch only removes what it sets to null.
    return {**dump_status(status), "createPending": None}


def failure_of(description: dict) -> str | None:
    """SageMaker's failure reason, completed by the container's exit message when it left one:
    "AlgorithmError: See job logs" alone does not say what went wrong."""
    reason = description.get("FailureReason")
    exit_message = description.get("ExitMessage")
    if exit_message and exit_message not in (reason or ""):
        return f"{reason or 'no reason given'} (exit message: {exit_message})"
    return reason


def ran_out_of_time(description: dict) -> str | None:
    """SageMaker stops a job at its MaxRuntimeInSeconds with no FailureReason: a stopped job that ran
    that long says so, so the user knows to raise the limit rather than look for who stopped it."""
    limit = (description.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
    started, ended = description.get("ProcessingStartTime"), description.get("ProcessingEndTime")
    if limit is None or started is None or ended is None or (ended - started).total_seconds() < limit:
        return None
    return (f"processing job was stopped after {round((ended - started).total_seconds())} s: "
            f"its stoppingCondition.maxRuntimeInSeconds is {limit}")


def health_of(description: dict) -> Health:
    """Completed is Ready; Failed and Stopped are Stalled."""
    state = description.get("ProcessingJobStatus")
    if state == "Stopped" and (out_of_time := ran_out_of_time(description)):
        return Health.stalled("Stopped", out_of_time)
    reason = failure_of(description)
    outputs = [location.s3Uri for location in output_locations(description) if location.s3Uri]
    where = "output in " if state == "Completed" else "output to "
    progress = where + ", ".join(outputs) if outputs else ""
    return job_health(NOUN, state, reason, progress)


def plan_observed(status: dict, description: dict, region: str) -> Plan:
    """The job exists and is ours: report it until it ends."""
    state = description.get("ProcessingJobStatus")
    return Plan(
        health=health_of(description),
        status=status_from_description(description, region),
        events=state_change_events(
            "Processing", NOUN, status.get("processingJobStatus"), state, failure_of(description)
        ),
        track=state not in JOB_TERMINAL_STATES,
    )
