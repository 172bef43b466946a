"""PipelineExecution planner: start once, report the execution and its steps, apply what
UpdatePipelineExecution changes."""

from __future__ import annotations

from typing import Any

from ..api.base import from_wire
from ..api.pipeline_execution import PipelineExecutionStatus, PipelineExecutionStepStatus
from ..api.registry import dump_status
from ..conditions import Health
from ..runtime.outcomes import Event, Plan, update_plan, wait
from .common import console_url, is_ready, state_change_events

NOUN = "pipeline execution"
TERMINAL_STATES = ("Succeeded", "Failed", "Stopped")
TERMINAL_STEP_STATES = ("Succeeded", "Failed", "Stopped")


def resolve_pipeline(spec: dict, pipeline: dict | None) -> str | Plan:
    """The SageMaker pipeline to run: spec.pipelineName, or that of the Pipeline object
    spec.pipelineRef names once it is Ready (in sync with its spec); else a plan to wait for it."""
    if spec.get("pipelineName"):
        return spec["pipelineName"]
    ref = spec["pipelineRef"]["name"]
    if pipeline is None:
        return wait("WaitingForPipeline", f"waiting for Pipeline {ref}, which does not exist yet")
    name = (pipeline.get("status") or {}).get("pipelineName")
    if not name or not is_ready(pipeline):
        return wait("WaitingForPipeline", f"waiting for Pipeline {ref} to be Ready")
    return name


def ordered_steps(steps: list[dict]) -> list[dict]:
    """Steps in the order they started (ListPipelineExecutionSteps lists the newest first)."""
    return sorted(steps, key=lambda step: (step.get("StartTime") is None, step.get("StartTime") or 0))


def step_summary(steps: list[dict]) -> str:
    return ", ".join(f"{step['StepName']}={step.get('StepStatus', '?')}" for step in steps)


def status_from(description: dict, steps: list[dict], pipeline_name: str, region: str) -> dict[str, Any]:
    status = PipelineExecutionStatus.model_validate(from_wire(PipelineExecutionStatus, description))
    status.pipelineName = pipeline_name
    status.steps = [PipelineExecutionStepStatus.model_validate(from_wire(PipelineExecutionStepStatus, s))
                    for s in steps]
    status.stepSummary = step_summary(steps) or None
    execution_id = description["PipelineExecutionArn"].rsplit("/", 1)[-1]
    status.consoleUrl = console_url(region, f"pipelines/{pipeline_name}/executions/{execution_id}")
    return dump_status(status)


def health_of(description: dict, steps: list[dict]) -> Health:
    state = description.get("PipelineExecutionStatus")
    failed = [step for step in steps if step.get("StepStatus") == "Failed"]
    if state == "Succeeded":
        return Health.ready("Succeeded", f"pipeline execution succeeded ({len(steps)} steps)")
    if state == "Failed":
        if failed:
            reasons = "; ".join(f"step {step['StepName']} failed: {step.get('FailureReason') or 'no reason given'}"
                                for step in failed)
            return Health.stalled("StepFailed", reasons)
        reason = description.get("FailureReason") or "no reason given"
        return Health.stalled("Failed", f"pipeline execution failed: {reason}")
    if state == "Stopped":
        return Health.stalled("Stopped", "pipeline execution was stopped")
    running = [step["StepName"] for step in steps if step.get("StepStatus") not in TERMINAL_STEP_STATES]
    return Health.reconciling(state or "Unknown", f"pipeline execution {state}" + (
        f": running {', '.join(running)}" if running else ""
    ))


def step_events(previous_status: dict, steps: list[dict]) -> list[Event]:
    """One Event per step that finished since status last reported it."""
    reported = {step.get("stepName"): step.get("stepStatus") for step in previous_status.get("steps") or []}
    events = []
    for step in steps:
        state = step.get("StepStatus")
        if state in TERMINAL_STEP_STATES and reported.get(step["StepName"]) != state:
            reason = f": {step['FailureReason']}" if state == "Failed" and step.get("FailureReason") else ""
            kind = "Normal" if state == "Succeeded" else "Warning"
            events.append(Event(kind, f"Step{state}", f"step {step['StepName']} {state.lower()}{reason}"))
    return events


def pending_updates(update_request: dict[str, Any], description: dict) -> list[str]:
    """The UpdatePipelineExecution members the spec sets to something other than SageMaker's."""
    return [
        member for member, value in update_request.items()
        if member != "PipelineExecutionArn" and description.get(member) != value
    ]


def plan_observed(
    status: dict, description: dict, steps: list[dict], update_request: dict[str, Any], pipeline_name: str, region: str,
) -> Plan:
    """The execution exists: apply display name/description/parallelism changes, report the rest."""
    steps = ordered_steps(steps)
    state = description.get("PipelineExecutionStatus")
    new_status = status_from(description, steps, pipeline_name, region)
    events = state_change_events("Execution", NOUN, status.get("pipelineExecutionStatus"), state,
                                 description.get("FailureReason")) + step_events(status, steps)
    changed = pending_updates(update_request, description)
    if changed:
        return update_plan("update_pipeline_execution", changed, new_status, update_request, events,
                           track=state not in TERMINAL_STATES)
    return Plan(health=health_of(description, steps), status=new_status, events=events,
                track=state not in TERMINAL_STATES)
