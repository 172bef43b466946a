"""The kinds the operator serves, and the entry points controllers use to read specs and write status."""

import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from kubemaker.api.base import unwrap_optional
from kubemaker.api.common import KindInfo
from kubemaker.api.endpoint import ENDPOINT
from kubemaker.api.inference_component import INFERENCE_COMPONENT
from kubemaker.api.model import MODEL
from kubemaker.api.model_package import MODEL_PACKAGE, MODEL_PACKAGE_GROUP
from kubemaker.api.monitoring_schedule import MONITORING_SCHEDULE
from kubemaker.api.pipeline import PIPELINE
from kubemaker.api.pipeline_execution import PIPELINE_EXECUTION
from kubemaker.api.processing_job import PROCESSING_JOB
from kubemaker.api.training_job import TRAINING_JOB
from kubemaker.api.transform_job import TRANSFORM_JOB
from kubemaker.api.tuning_job import HYPER_PARAMETER_TUNING_JOB
from kubemaker.runtime.outcomes import Stall

KINDS: tuple[KindInfo, ...] = (
    TRAINING_JOB,
    HYPER_PARAMETER_TUNING_JOB,
    MODEL,
    ENDPOINT,
    INFERENCE_COMPONENT,
    TRANSFORM_JOB,
    PIPELINE,
    PIPELINE_EXECUTION,
    MONITORING_SCHEDULE,
    PROCESSING_JOB,
    MODEL_PACKAGE_GROUP,
    MODEL_PACKAGE,
)

_BY_KIND = {kind.kind: kind for kind in KINDS}

SpecModel = TypeVar("SpecModel", bound=BaseModel)


def kind_info(kind: str) -> KindInfo:
    return _BY_KIND[kind]


class InvalidSpec(Stall):
    """A spec the models refuse; the message names each offending field as spec.<path>."""

    def __init__(self, message: str):
        super().__init__("InvalidSpec", message)


def parse_spec(kind: str, spec: Mapping[str, Any]) -> BaseModel:
    """The validated spec model of a custom resource's `spec` (as kopf hands it over)."""
    return parse_spec_as(kind_info(kind).spec_model, spec)


def parse_spec_as(spec_model: type[SpecModel], spec: Mapping[str, Any]) -> SpecModel:
    """`spec` validated by its kind's `spec_model`, typed as that model: for a controller, which knows it."""
    try:
        return spec_model.model_validate(dict(spec))
    except ValidationError as error:
        raise InvalidSpec(_describe(error)) from None


def parse_status(kind: str, status: Mapping[str, Any] | None) -> BaseModel:
    """The status model of what is stored; unknown fields are ignored."""
    return kind_info(kind).status_model.model_validate(dict(status or {}))


def dump_status(status: BaseModel) -> dict[str, Any]:
    """The JSON form of a status model for a status patch; unset fields are left out."""
    return status.model_dump(mode="json", exclude_none=True)


def _describe(error: ValidationError) -> str:
    problems = []
    for detail in error.errors():
        path = ".".join(str(part) for part in ("spec", *detail["loc"]))
        problems.append(f"{path}: {detail['msg']}")
    return "; ".join(problems)


def undeclared_status_fields(kind: str, status: Mapping[str, Any]) -> list[str]:
    """Paths in `status` that the kind's status schema does not declare: the API server would prune
    them silently, losing what the operator meant to remember."""
    return _undeclared(kind_info(kind).status_model, status, "status")


def _undeclared(model_type: type[BaseModel], data: Mapping[str, Any], path: str) -> list[str]:
    found = []
    for key, value in data.items():
        field = model_type.model_fields.get(key)
        if field is None:
            found.append(f"{path}.{key}")
            continue
        target = unwrap_optional(field.annotation)
        if typing.get_origin(target) is list:
            target = unwrap_optional(typing.get_args(target)[0])
            items = value if isinstance(value, list) else []
        else:
            items = [value]
        if isinstance(target, type) and issubclass(target, BaseModel):
            for item in items:
                if isinstance(item, Mapping):
                    found += _undeclared(target, item, f"{path}.{key}")
    return found
