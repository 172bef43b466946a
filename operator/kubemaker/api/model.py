"""Model: a SageMaker model, one per spec revision. Containers may take their model data from a
TrainingJob in the same namespace instead of a literal S3 URL, or the whole model may come from the
registry: a fixed ModelPackage, or the latest approved version of a ModelPackageGroup."""

import datetime
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field

from kubemaker.api import shapes
from kubemaker.api.base import ApiModel, ApiShape, narrowed, to_wire
from kubemaker.api.common import (
    AdoptionField,
    KindInfo,
    LocalObjectReference,
    OperatorFields,
    PrinterColumn,
    StatusBase,
    at_most_one,
    cel_rules,
    exactly_one,
    request_fingerprint,
    tags_with_ownership,
)


class ModelDataFrom(ApiModel):
    """Where to take modelDataUrl from."""

    trainingJobRef: LocalObjectReference = Field(
        description="A TrainingJob in this namespace: its status.modelArtifacts.s3ModelArtifacts once it completed."
    )


class ModelContainer(shapes.ContainerDefinition):
    """A ContainerDefinition whose model data may come from a TrainingJob."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            (
                at_most_one("modelDataUrl", "modelDataSource", "modelDataFrom"),
                "give at most one of modelDataUrl, modelDataSource and modelDataFrom",
                ".modelDataFrom",
            )
        )
    )

    modelDataFrom: ModelDataFrom | None = Field(
        None, description="Take modelDataUrl from a TrainingJob's model artifacts instead of giving it literally."
    )


class ModelPackageGroupVersionRef(LocalObjectReference):
    """A ModelPackageGroup in this namespace, and which of its versions the model is made from."""

    version: Literal["LatestApproved"] = Field(
        "LatestApproved",
        description="LatestApproved: the approved version with the highest version number; approving or "
        "rejecting versions makes a new revision.",
    )


class ModelSpec(shapes.ModelSpecFields, OperatorFields, AdoptionField):
    """CreateModel's request in lowerCamelCase, plus deletionPolicy, region, adoptExisting,
    modelDataFrom references in the containers, and the registry sources modelPackageRef and
    modelPackageGroupRef."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            (
                "!has(self.adoptExisting) || !self.adoptExisting || has(self.modelName)",
                "adoptExisting needs the modelName of the SageMaker model to adopt",
                ".modelName",
            ),
            (
                exactly_one("primaryContainer", "containers", "modelPackageRef", "modelPackageGroupRef"),
                "give exactly one of primaryContainer, containers, modelPackageRef and modelPackageGroupRef",
                ".primaryContainer",
            ),
        )
    )

    modelPackageRef: LocalObjectReference | None = Field(
        None, description="A ModelPackage in this namespace: the model is made from the version it registered."
    )
    modelPackageGroupRef: ModelPackageGroupVersionRef | None = Field(
        None, description="A ModelPackageGroup in this namespace: the model is made from its latest approved version."
    )

    primaryContainer: narrowed(shapes.ModelSpecFields, "primaryContainer", {shapes.ContainerDefinition: ModelContainer}) = None  # noqa: E501
    containers: narrowed(shapes.ModelSpecFields, "containers", {shapes.ContainerDefinition: ModelContainer}) = None


def model_containers(spec: ModelSpec) -> list[ModelContainer]:
    return [spec.primaryContainer] if spec.primaryContainer else list(spec.containers or ())


def referenced_training_jobs(spec: ModelSpec) -> set[str]:
    """Names of the TrainingJob objects the containers take model data from."""
    return {
        container.modelDataFrom.trainingJobRef.name for container in model_containers(spec) if container.modelDataFrom
    }


class UnresolvedReference(LookupError):
    """A reference whose target is not (yet) resolved; the controller waits for it."""


def build_create_model_request(
    spec: ModelSpec, name: str, model_data_urls: Mapping[str, str], ownership_tags: Mapping[str, str],
    model_package_arn: str | None = None,
) -> dict[str, Any]:
    """CreateModel's request. `model_data_urls` maps each TrainingJob name the containers reference
    (see `referenced_training_jobs`) to its model artifacts' S3 URI; `model_package_arn` is the
    registry version a modelPackageRef or modelPackageGroupRef resolved to."""
    request = to_wire(spec)
    for wire_container, container in zip(_wire_containers(request), model_containers(spec), strict=True):
        if container.modelDataFrom:
            job = container.modelDataFrom.trainingJobRef.name
            if job not in model_data_urls:
                raise UnresolvedReference(f"TrainingJob {job} has no model artifacts yet")
            wire_container["ModelDataUrl"] = model_data_urls[job]
    if spec.modelPackageRef or spec.modelPackageGroupRef:
        if model_package_arn is None:
            raise UnresolvedReference("the model package version is not resolved yet")
        request["PrimaryContainer"] = {"ModelPackageName": model_package_arn}
    request["ModelName"] = name
    if tags := tags_with_ownership(spec.tags, ownership_tags):
        request["Tags"] = tags
    return request


def _wire_containers(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [request["PrimaryContainer"]] if "PrimaryContainer" in request else request.get("Containers", [])


def model_fingerprint(request: Mapping[str, Any]) -> str:
    """The fingerprint of a CreateModel request without its name: a different fingerprint means a new
    revision."""
    return request_fingerprint({key: value for key, value in request.items() if key != "ModelName"})


class ModelRevision(ApiShape):
    """One SageMaker model created for a revision of the spec."""

    model_config = ConfigDict(extra="ignore")

    modelName: str = Field(description="The SageMaker model name.")
    modelArn: str | None = Field(None, description="The SageMaker model ARN.")
    generation: int | None = Field(None, description="The object generation the revision was created for.")
    fingerprint: str | None = Field(None, description="model_fingerprint of the CreateModel request it was made from.")
    createdAt: datetime.datetime | None = Field(None, description="When the revision was created.")
    modelPackageArn: str | None = Field(None, description="The registry version the revision was made from.")
    modelPackageVersion: int | None = Field(None, description="That version's number in its group.")


class ModelStatus(StatusBase):
    """The SageMaker model of the current spec revision, and the older revisions still in SageMaker."""

    wire_names: ClassVar[dict[str, str]] = {"modelName": "ModelName", "modelArn": "ModelArn"}

    modelName: str | None = Field(None, description="The SageMaker model of the current spec revision.")
    modelArn: str | None = Field(None, description="Its ARN.")
    modelPackageArn: str | None = Field(
        None, description="The registry version the current revision is made from (modelPackageRef or "
        "modelPackageGroupRef)."
    )
    modelPackageVersion: int | None = Field(None, description="That version's number in its group.")
    revisions: list[ModelRevision] | None = Field(
        None, description="Revisions still in SageMaker, newest last; older ones are deleted once nothing uses them."
    )


MODEL = KindInfo(
    kind="Model",
    plural="models",
    short_names=("smmodel",),
    spec_model=ModelSpec,
    status_model=ModelStatus,
    description=(
        "A SageMaker model. The spec is CreateModel's request in lowerCamelCase; a change makes a new revision."
    ),
    operations=("CreateModel", "DescribeModel", "DeleteModel"),
    name_field="modelName",
    name_max_length=63,
    revisioned=True,
    printer_columns=(
        PrinterColumn("SageMaker-Model", ".status.modelName", description="the current revision"),
        PrinterColumn("Package-Version", ".status.modelPackageVersion", type="integer",
                      description="the registry version in use"),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status'),
    ),
    immutable_fields=("region",),
)
