"""Pipeline planner: keep the SageMaker pipeline in sync with the spec, comparing definitions as
documents (the same definition written as a JSON string or a YAML object makes no call)."""

from __future__ import annotations

import json
import typing
from typing import Any

from ..api.base import from_wire
from ..api.pipeline import PipelineStatus
from ..api.registry import dump_status
from ..api.shapes import PipelineDefinition, PipelineExecutionSummary
from ..conditions import Health
from ..runtime.outcomes import Plan, Stall, update_plan
from .common import console_url

# UpdatePipeline members compared with DescribePipeline's as they are, except these: the definition
# is compared as a document, an S3 location is not described back, and version aliases are
# assigned per version (the spec's apply to the first one), so they go along with other changes.
NOT_COMPARED = ("PipelineName", "PipelineDefinition", "PipelineDefinitionS3Location", "PipelineVersionAliases")


# SageMaker's PipelineDefinition limit, from the service model.
MAX_DEFINITION_LENGTH = next(
    c.max_length for c in typing.get_args(PipelineDefinition)[1:] if hasattr(c, "max_length")
)


class InvalidDefinition(Stall):
    """A pipeline definition that is not a JSON object, or one SageMaker cannot take."""

    def __init__(self, message: str):
        super().__init__("InvalidDefinition", message)


def require_sendable(text: str, source: str) -> None:
    """Refuses a definition SageMaker would refuse for its length, saying where a larger one goes."""
    if len(text) > MAX_DEFINITION_LENGTH:
        raise InvalidDefinition(
            f"the pipeline definition in {source} is {len(text)} characters as JSON; SageMaker takes at most "
            f"{MAX_DEFINITION_LENGTH}: store it in S3 and give spec.pipelineDefinitionS3Location instead"
        )


def definition_document(definition: dict[str, Any] | str, source: str) -> dict[str, Any]:
    """The definition as a document, from an object or from JSON text read from `source`."""
    if isinstance(definition, dict):
        return definition
    try:
        document = json.loads(definition)
    except ValueError as error:
        raise InvalidDefinition(f"the pipeline definition in {source} is not valid JSON: {error}") from None
    except RecursionError:
        raise InvalidDefinition(f"the pipeline definition in {source} is nested too deeply to parse") from None
    if not isinstance(document, dict):
        raise InvalidDefinition(f"the pipeline definition in {source} must be a JSON object")
    return document


def out_of_sync(update_request: dict[str, Any], desired_definition: dict[str, Any] | None,
                description: dict) -> list[str]:
    """The UpdatePipeline members whose desired value differs from what SageMaker describes. Members
    the spec leaves out are not compared: SageMaker keeps its own value for those."""
    changed = []
    if desired_definition is not None:
        try:
            current = json.loads(description.get("PipelineDefinition") or "null")
        except (ValueError, RecursionError):
            current = None
        if current != desired_definition:
            changed.append("PipelineDefinition")
    changed += [
        member for member, value in update_request.items()
        if member not in NOT_COMPARED and description.get(member) != value
    ]
    return changed


def status_from(description: dict, latest_execution: dict | None, region: str) -> dict[str, Any]:
    status = PipelineStatus.model_validate(from_wire(PipelineStatus, description))
    if latest_execution:
        status.latestExecution = PipelineExecutionSummary.model_validate(
            from_wire(PipelineExecutionSummary, latest_execution)
        )
    status.consoleUrl = console_url(region, f"pipelines/{description['PipelineName']}")
    return {**dump_status(status), "createPending": None}


def plan_observed(
    description: dict, update_request: dict[str, Any], desired_definition: dict[str, Any] | None,
    latest_execution: dict | None, region: str,
) -> Plan:
    """The pipeline exists and is ours: update what differs, else report it Ready."""
    status = status_from(description, latest_execution, region)
    changed = out_of_sync(update_request, desired_definition, description)
    if changed:
        return update_plan("update_pipeline", changed, status, update_request)
    state = description.get("PipelineStatus")
    if state != "Active":
        return Plan(health=Health.reconciling(state or "Unknown", f"pipeline is {state}"), status=status)
    return Plan(health=Health.ready("Active", "pipeline is active and in sync with the spec"), status=status)
