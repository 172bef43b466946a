"""The model registry: ModelPackageGroup (a SageMaker model package group) and ModelPackage (one
version in a group). A version's approval status and approval description change in place; any
other change registers a new version."""

import datetime
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from kubemaker.api import shapes
from kubemaker.api.base import ApiModel, ApiShape, narrowed, to_wire
from kubemaker.api.common import (
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
from kubemaker.api.model import ModelDataFrom, UnresolvedReference

# ModelPackageGroup ---------------------------------------------------------------------------------


class ModelPackageGroupSpec(shapes.ModelPackageGroupSpecFields, OperatorFields):
    """CreateModelPackageGroup's request in lowerCamelCase, plus deletionPolicy and region."""


def build_create_model_package_group_request(spec: ModelPackageGroupSpec, name: str,
                                             ownership_tags: Mapping[str, str]) -> dict[str, Any]:
    request = to_wire(spec)
    request["ModelPackageGroupName"] = name
    request["Tags"] = tags_with_ownership(spec.tags, ownership_tags)
    return request


class ModelPackageGroupStatus(StatusBase):
    """What DescribeModelPackageGroup reports."""

    wire_names: ClassVar[dict[str, str]] = {
        "modelPackageGroupName": "ModelPackageGroupName",
        "modelPackageGroupArn": "ModelPackageGroupArn",
        "modelPackageGroupStatus": "ModelPackageGroupStatus",
    }

    modelPackageGroupName: str | None = Field(None, description="The SageMaker model package group name.")
    modelPackageGroupArn: str | None = Field(None, description="Its ARN.")
    modelPackageGroupStatus: str | None = Field(None, description="SageMaker's ModelPackageGroupStatus.")


MODEL_PACKAGE_GROUP = KindInfo(
    kind="ModelPackageGroup",
    plural="modelpackagegroups",
    short_names=("smmpg",),
    spec_model=ModelPackageGroupSpec,
    status_model=ModelPackageGroupStatus,
    description=(
        "A SageMaker model package group: the versions of one model in the registry. The spec is "
        "CreateModelPackageGroup's request in lowerCamelCase. Deleting it waits for its ModelPackages."
    ),
    operations=("CreateModelPackageGroup", "DescribeModelPackageGroup", "DeleteModelPackageGroup"),
    name_field="modelPackageGroupName",
    name_max_length=63,
    state_field="modelPackageGroupStatus",
    printer_columns=(
        PrinterColumn("Status", ".status.modelPackageGroupStatus", description="SageMaker's group status"),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status'),
    ),
    # SageMaker has no call that changes a group.
    immutable_fields=("region", "modelPackageGroupName", "modelPackageGroupDescription", "tags",
                      "managedConfiguration"),
    immutable_hint="SageMaker cannot change a model package group; create a new ModelPackageGroup instead",
)


# ModelPackage ---------------------------------------------------------------------------------------


class ModelPackageContainer(shapes.ModelPackageContainerDefinition):
    """A ModelPackageContainerDefinition whose model data may come from a TrainingJob."""

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


class ModelPackageInferenceSpecification(shapes.InferenceSpecification):
    """An InferenceSpecification whose containers may take model data from a TrainingJob."""

    containers: narrowed(shapes.InferenceSpecification, "containers",  # type: ignore[valid-type]
                         {shapes.ModelPackageContainerDefinition: ModelPackageContainer})


class MetricsFrom(ApiModel):
    """A metrics report in the output of a job of this namespace."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            (exactly_one("trainingJobRef", "processingJobRef"), "give exactly one of trainingJobRef and "
             "processingJobRef", ".trainingJobRef"),
            ("!has(self.processingJobRef) || has(self.outputName)", "processingJobRef needs the outputName of "
             "one of the ProcessingJob's outputs", ".outputName"),
        )
    )

    trainingJobRef: LocalObjectReference | None = Field(
        None, description="A TrainingJob: the report is under its output path (next to model.tar.gz) once it completed."
    )
    processingJobRef: LocalObjectReference | None = Field(
        None, description="A ProcessingJob: the report is under the S3 URI of its output `outputName` once it "
        "completed."
    )
    outputName: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = Field(
        None, description="The ProcessingJob output the report is in."
    )
    key: Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^[^/].*$")] = Field(
        description="The report's path under that output, e.g. evaluation.json."
    )


class MetricsSourceFrom(shapes.MetricsSource):
    """A MetricsSource whose S3 URI may be a file in a job's output."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            (exactly_one("s3Uri", "s3UriFrom"), "give exactly one of s3Uri and s3UriFrom", ".s3UriFrom"),
        )
    )

    s3Uri: shapes.S3Uri | None = Field(  # type: ignore[assignment]
        None, description=shapes.MetricsSource.model_fields["s3Uri"].description
    )
    s3UriFrom: MetricsFrom | None = Field(None, description="Take s3Uri from a job's output instead.")


def _with_sources_from(shape: type[BaseModel], replacements: dict[type, type]) -> Any:
    """`shape` with its members' shapes replaced by the ones that take references."""
    members: dict[str, Any] = {
        name: (narrowed(shape, name, replacements), None) for name in shape.model_fields
    }
    return create_model(shape.__name__, __base__=shape, __doc__=shape.__doc__, **members)


_SOURCES: dict[type, type] = {shapes.MetricsSource: MetricsSourceFrom}
_SECTIONS: dict[type, type] = {section: _with_sources_from(section, _SOURCES) for section in (
    shapes.ModelQuality, shapes.ModelDataQuality, shapes.Bias, shapes.Explainability)}
ModelMetricsFrom = _with_sources_from(shapes.ModelMetrics, _SECTIONS)


class ModelPackageGroupRef(LocalObjectReference):
    """A ModelPackageGroup in this namespace."""


class ModelPackageSpec(shapes.ModelPackageSpecFields, OperatorFields):
    """CreateModelPackage's request in lowerCamelCase for a version in a group (no modelPackageName:
    SageMaker names versions after their group; no tags: a version carries its group's), plus
    deletionPolicy, region, modelPackageGroupRef, approvalDescription and modelDataFrom references."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            (
                exactly_one("modelPackageGroupName", "modelPackageGroupRef"),
                "give exactly one of modelPackageGroupName and modelPackageGroupRef: a ModelPackage is a version "
                "in a group",
                ".modelPackageGroupRef",
            ),
        )
    )

    modelPackageGroupRef: ModelPackageGroupRef | None = Field(
        None, description="The ModelPackageGroup of this namespace the version is registered in."
    )
    inferenceSpecification: ModelPackageInferenceSpecification | None = Field(
        None, description=shapes.ModelPackageSpecFields.model_fields["inferenceSpecification"].description
    )
    modelMetrics: ModelMetricsFrom | None = Field(  # type: ignore[valid-type]
        None, description="Metrics reports of the model; each may be a file in a TrainingJob's or ProcessingJob's "
        "output (s3UriFrom)."
    )
    # Not a CreateModelPackage member: sent with UpdateModelPackage (SageMaker's ApprovalDescription).
    approvalDescription: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        None, description="A description of the approval status, set with UpdateModelPackage."
    )


# Members that change in place with UpdateModelPackage; a change of any other makes a new version.
IN_PLACE = ("ModelApprovalStatus", "ApprovalDescription")


def package_containers(spec: ModelPackageSpec) -> list[ModelPackageContainer]:
    return list(spec.inferenceSpecification.containers) if spec.inferenceSpecification else []


def referenced_training_jobs(spec: ModelPackageSpec) -> set[str]:
    return {c.modelDataFrom.trainingJobRef.name for c in package_containers(spec) if c.modelDataFrom}


def metrics_sources(spec: ModelPackageSpec) -> list[tuple[str, str, MetricsSourceFrom]]:
    """Every metrics report of spec.modelMetrics: (section, member, source), by wire name."""
    found: list[tuple[str, str, MetricsSourceFrom]] = []
    metrics = spec.modelMetrics
    section_names: dict[str, str] = type(metrics).wire_names if metrics else {}
    for section_name, wire_section in section_names.items():
        section = getattr(metrics, section_name)
        member_names: dict[str, str] = type(section).wire_names if section else {}
        for member, wire_member in member_names.items():
            source = getattr(section, member)
            if source is not None:
                found.append((wire_section, wire_member, source))
    return found


def metrics_references(spec: ModelPackageSpec) -> list[MetricsFrom]:
    return [source.s3UriFrom for _, _, source in metrics_sources(spec) if source.s3UriFrom]


def metrics_location(reference: MetricsFrom) -> tuple[str, str, str | None]:
    """(kind, name, output) of the job output a report is in."""
    if reference.trainingJobRef:
        return ("TrainingJob", reference.trainingJobRef.name, None)
    assert reference.processingJobRef is not None  # the CRD requires exactly one
    return ("ProcessingJob", reference.processingJobRef.name, reference.outputName)


def build_create_model_package_request(spec: ModelPackageSpec, group_name: str,
                                       model_data_urls: Mapping[str, str],
                                       output_uris: Mapping[tuple[str, str, str | None], str] | None = None,
                                       ) -> dict[str, Any]:
    """CreateModelPackage's request without its client token. `model_data_urls` maps each
    TrainingJob name the containers reference to its model artifacts' S3 URI; `output_uris` maps
    each job output a metrics report is in (metrics_location) to its S3 URI."""
    request = to_wire(spec)
    for wire_section, wire_member, source in metrics_sources(spec):
        if source.s3UriFrom:
            location = metrics_location(source.s3UriFrom)
            if location not in (output_uris or {}):
                raise UnresolvedReference(f"{location[0]} {location[1]} has no outputs yet")
            base = (output_uris or {})[location].rstrip("/")
            request["ModelMetrics"][wire_section][wire_member]["S3Uri"] = f"{base}/{source.s3UriFrom.key}"
    request["ModelPackageGroupName"] = group_name
    wire = (request.get("InferenceSpecification") or {}).get("Containers") or []
    for wire_container, container in zip(wire, package_containers(spec), strict=True):
        if container.modelDataFrom:
            job = container.modelDataFrom.trainingJobRef.name
            if job not in model_data_urls:
                raise UnresolvedReference(f"TrainingJob {job} has no model artifacts yet")
            wire_container["ModelDataUrl"] = model_data_urls[job]
    return request


def version_fingerprint(request: Mapping[str, Any]) -> str:
    """The fingerprint of what makes a version: every member but those that change in place."""
    return request_fingerprint({key: value for key, value in request.items() if key not in IN_PLACE})


def client_token(uid: str, fingerprint: str) -> str:
    """CreateModelPackage's idempotency token (SageMaker takes at most 36 characters): one per object
    and version, so a create repeated after a crash returns the version the first one made."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{uid}/{fingerprint}"))


class ModelPackageVersion(ApiShape):
    """One version this object registered."""

    model_config = ConfigDict(extra="ignore")

    modelPackageArn: str = Field(description="The version's ARN.")
    modelPackageVersion: int | None = Field(None, description="Its version number in the group.")
    fingerprint: str | None = Field(None, description="version_fingerprint of the request it was made from.")
    generation: int | None = Field(None, description="The object generation it was registered for.")
    createdAt: datetime.datetime | None = Field(None, description="When it was registered.")


class AppliedApproval(ApiShape):
    """The approval this operator last sent: an approval SageMaker shows otherwise was changed outside
    Kubernetes, and is reported, not reverted."""

    model_config = ConfigDict(extra="ignore")

    modelApprovalStatus: str | None = Field(None, description="The approval status sent.")
    approvalDescription: str | None = Field(None, description="The approval description sent.")


class ModelPackageStatus(StatusBase):
    """The version in use, as DescribeModelPackage reports it, and every version this object registered."""

    wire_names: ClassVar[dict[str, str]] = {
        "modelPackageGroupName": "ModelPackageGroupName",
        "modelPackageArn": "ModelPackageArn",
        "modelPackageVersion": "ModelPackageVersion",
        "modelPackageStatus": "ModelPackageStatus",
        "modelApprovalStatus": "ModelApprovalStatus",
        "approvalDescription": "ApprovalDescription",
    }

    modelPackageGroupName: str | None = Field(None, description="The SageMaker group of the version.")
    modelPackageArn: str | None = Field(None, description="The ARN of the version in use.")
    modelPackageVersion: int | None = Field(None, description="Its version number in the group.")
    modelPackageStatus: str | None = Field(None, description="SageMaker's ModelPackageStatus of the version.")
    modelApprovalStatus: str | None = Field(None, description="Its approval status, as SageMaker reports it.")
    approvalDescription: str | None = Field(None, description="Its approval description, as SageMaker reports it.")
    appliedApproval: AppliedApproval | None = Field(None, description="The approval this operator last sent.")
    versions: list[ModelPackageVersion] | None = Field(
        None, description="The versions this object registered, newest last; deleted with the object."
    )


MODEL_PACKAGE = KindInfo(
    kind="ModelPackage",
    plural="modelpackages",
    short_names=("smmp",),
    spec_model=ModelPackageSpec,
    status_model=ModelPackageStatus,
    description=(
        "A model version in a SageMaker model package group. The spec is CreateModelPackage's request in "
        "lowerCamelCase; modelApprovalStatus and approvalDescription change in place, any other change "
        "registers a new version."
    ),
    operations=("CreateModelPackage", "DescribeModelPackage", "UpdateModelPackage", "DeleteModelPackage"),
    # Versions are named after their group: status records the ARN instead.
    name_field="modelPackageGroupName",
    name_max_length=170,  # a group's name or ARN
    state_field="modelPackageStatus",
    printer_columns=(
        PrinterColumn("Group", ".status.modelPackageGroupName"),
        PrinterColumn("Version", ".status.modelPackageVersion", type="integer"),
        PrinterColumn("Status", ".status.modelPackageStatus", description="SageMaker's ModelPackageStatus"),
        PrinterColumn("Approval", ".status.modelApprovalStatus"),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status', priority=1),
    ),
    # Moving a version to another group would orphan the versions of the first.
    immutable_fields=("region", "modelPackageGroupName", "modelPackageGroupRef"),
    immutable_hint="create a new ModelPackage instead",
)
