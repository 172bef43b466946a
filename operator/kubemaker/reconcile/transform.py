"""TransformJob planner: resolve the model, create once, follow the job to its end."""

from __future__ import annotations

from typing import Any

from ..api.base import from_wire
from ..api.registry import dump_status
from ..api.transform_job import TransformJobStatus
from ..runtime.outcomes import Plan, wait
from .common import JOB_TERMINAL_STATES, console_url, is_ready, job_health, state_change_events

NOUN = "transform job"


def resolve_model(spec: dict, model: dict | None) -> str | Plan:
    """The SageMaker model the job runs: spec.modelName, or the current revision of the Model object
    spec.modelRef names once it is Ready; else a plan to wait for it."""
    if spec.get("modelName"):
        return spec["modelName"]
    ref = spec["modelRef"]["name"]
    if model is None:
        return wait("WaitingForModel", f"waiting for Model {ref}, which does not exist yet")
    model_name = (model.get("status") or {}).get("modelName")
    if not model_name or not is_ready(model):
        return wait("WaitingForModel", f"waiting for Model {ref} to be Ready")
    return model_name


def status_from_description(description: dict, region: str) -> dict[str, Any]:
    status = TransformJobStatus.model_validate(from_wire(TransformJobStatus, description))
    status.consoleUrl = console_url(region, f"transform-jobs/{description['TransformJobName']}")
    return {**dump_status(status), "createPending": None}


def plan_observed(status: dict, description: dict, region: str) -> Plan:
    """The job exists and is ours: report it in SageMaker's words until it ends."""
    state = description.get("TransformJobStatus")
    output = (description.get("TransformOutput") or {}).get("S3OutputPath", "")
    progress = f"output in {output}" if output else ""
    return Plan(
        health=job_health(NOUN, state, description.get("FailureReason"), progress),
        status=status_from_description(description, region),
        events=state_change_events(
            "Transform", NOUN, status.get("transformJobStatus"), state, description.get("FailureReason")
        ),
        track=state not in JOB_TERMINAL_STATES,
    )
