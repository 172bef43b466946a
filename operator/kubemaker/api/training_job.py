"""TrainingJob: one SageMaker training job. The spec is CreateTrainingJob's request, immutable once
created except for what UpdateTrainingJob changes in place."""

import datetime
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, StringConstraints

from kubemaker.api import shapes
from kubemaker.api.base import ApiModel, narrowed, to_wire
from kubemaker.api.common import (
    KindInfo,
    OperatorFields,
    PrinterColumn,
    StatusBase,
    cel_rules,
    fields_except,
    tags_with_ownership,
)

# SageMaker's default MaxRuntimeInSeconds when a spot job gives none: one day.
DEFAULT_MAX_RUNTIME_SECONDS = 86400

SPOT_NEEDS_MAX_WAIT = (
    "!has(self.enableManagedSpotTraining) || !self.enableManagedSpotTraining || "
    "(has(self.stoppingCondition) && has(self.stoppingCondition.maxWaitTimeInSeconds) && "
    "self.stoppingCondition.maxWaitTimeInSeconds >= (has(self.stoppingCondition.maxRuntimeInSeconds) ? "
    f"self.stoppingCondition.maxRuntimeInSeconds : {DEFAULT_MAX_RUNTIME_SECONDS}))",
    "stoppingCondition.maxWaitTimeInSeconds is required with enableManagedSpotTraining and must be at least "
    f"stoppingCondition.maxRuntimeInSeconds (default {DEFAULT_MAX_RUNTIME_SECONDS})",
    ".stoppingCondition",
)


Placement = Literal["SageMaker", "Cluster"]
ON_CLUSTER = "has(self.placement) && self.placement == 'Cluster'"


def on_cluster(rule: str, message: str, field_path: str) -> tuple[str, str, str]:
    """A CEL rule that holds for every job placed on the cluster."""
    return f"!({ON_CLUSTER}) || ({rule})", message, field_path


def unset(*fields: str) -> str:
    return " && ".join(f"!has(self.{name})" for name in fields)


def not_true(field: str) -> str:
    return f"!has(self.{field}) || !self.{field}"


# SageMaker features that have no meaning for pods on the cluster: refused at apply, naming the field.
SAGEMAKER_ONLY_FEATURES = (
    "debugHookConfig", "debugRuleConfigurations", "profilerConfig", "profilerRuleConfigurations",
    "tensorBoardOutputConfig", "remoteDebugConfig", "retryStrategy", "infraCheckConfig", "sessionChainingConfig",
    "serverlessJobConfig", "mlflowConfig", "modelPackageConfig", "experimentConfig",
)
SAGEMAKER_ONLY_RESOURCES = ("instanceGroups", "keepAlivePeriodInSeconds", "trainingPlanArn", "volumeKmsKeyId",
                            "instancePlacementConfig", "instancePreferences")
CLUSTER_RULES = (
    on_cluster(not_true("enableManagedSpotTraining"),
               "enableManagedSpotTraining has no meaning with placement: Cluster (spot capacity is SageMaker's); "
               "remove it, or use placement: SageMaker", ".enableManagedSpotTraining"),
    on_cluster(unset("vpcConfig"),
               "vpcConfig has no meaning with placement: Cluster: the pods use the cluster's network "
               "(placementOptions chooses their nodes)", ".vpcConfig"),
    on_cluster(not_true("enableNetworkIsolation"),
               "enableNetworkIsolation has no meaning with placement: Cluster: isolate the pods with a "
               "NetworkPolicy instead", ".enableNetworkIsolation"),
    on_cluster(not_true("enableInterContainerTrafficEncryption"),
               "enableInterContainerTrafficEncryption has no meaning with placement: Cluster: the pods talk "
               "over the cluster's network", ".enableInterContainerTrafficEncryption"),
    on_cluster("has(self.algorithmSpecification) && has(self.algorithmSpecification.trainingImage)",
               "placement: Cluster needs algorithmSpecification.trainingImage: an algorithmName runs only in "
               "SageMaker", ".algorithmSpecification"),
    on_cluster("!has(self.algorithmSpecification) || self.algorithmSpecification.trainingInputMode != 'Pipe'",
               "Pipe mode has no meaning with placement: Cluster: channels are staged as files before the "
               "container starts; use File", ".algorithmSpecification.trainingInputMode"),
    on_cluster("!has(self.inputDataConfig) || self.inputDataConfig.all(c, !has(c.inputMode) || c.inputMode != 'Pipe')",
               "Pipe mode has no meaning with placement: Cluster: every channel is staged as files; use File",
               ".inputDataConfig"),
    on_cluster("!has(self.inputDataConfig) || self.inputDataConfig.all(c, has(c.dataSource.s3DataSource) && "
               "c.dataSource.s3DataSource.s3DataType == 'S3Prefix')",
               "with placement: Cluster every channel is staged from S3: give an s3DataSource with s3DataType "
               "S3Prefix (file systems, datasets and manifests are SageMaker's)", ".inputDataConfig"),
    on_cluster("has(self.resourceConfig) && has(self.resourceConfig.instanceType)",
               "placement: Cluster needs resourceConfig.instanceType: it is the pods' resources (the operator's "
               "clusterPlacement.instanceTypes)", ".resourceConfig"),
    on_cluster("!has(self.resourceConfig) || ("
               + unset(*(f"resourceConfig.{member}" for member in SAGEMAKER_ONLY_RESOURCES)) + ")",
               "with placement: Cluster, resourceConfig takes instanceType, instanceCount and volumeSizeInGB only: "
               + ", ".join(SAGEMAKER_ONLY_RESOURCES) + " are SageMaker's", ".resourceConfig"),
    on_cluster("!has(self.stoppingCondition) || " + unset("stoppingCondition.maxWaitTimeInSeconds",
                                                         "stoppingCondition.maxPendingTimeInSeconds"),
               "with placement: Cluster, stoppingCondition takes maxRuntimeInSeconds only (the pods' deadline)",
               ".stoppingCondition"),
    on_cluster(unset(*SAGEMAKER_ONLY_FEATURES),
               "with placement: Cluster these have no meaning and are refused: " + ", ".join(SAGEMAKER_ONLY_FEATURES),
               ".placement"),
    (f"!has(self.placementOptions) || ({ON_CLUSTER})",
     "placementOptions needs placement: Cluster", ".placementOptions"),
)

LabelName = Annotated[str, StringConstraints(min_length=1, max_length=317)]
LabelValue = Annotated[str, StringConstraints(max_length=63)]
DnsSubdomain = Annotated[str, StringConstraints(min_length=1, max_length=253,
                                                pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]


class Toleration(ApiModel):
    """A Kubernetes toleration, as in a pod's spec."""

    key: LabelName | None = Field(None, description="The taint key; empty with operator Exists: every taint.")
    operator: Literal["Exists", "Equal"] | None = Field(None, description="Exists or Equal (the default).")
    value: LabelValue | None = Field(None, description="The taint value, with operator Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="The taint effect to tolerate; empty: every effect.")
    tolerationSeconds: int | None = Field(None, description="With NoExecute: how long the pod stays once tainted.")


class PlacementOptions(ApiModel):
    """Where the training pods of placement: Cluster run, and as whom."""

    nodeSelector: dict[LabelName, LabelValue] | None = Field(None, description="The pods' node selector.")
    tolerations: list[Toleration] | None = Field(None, description="The pods' tolerations.")
    priorityClassName: DnsSubdomain | None = Field(None, description="The pods' priority class.")
    serviceAccountName: DnsSubdomain | None = Field(
        None, description="The pods' service account: their S3 access (IRSA or EKS Pod Identity on EKS) comes "
        "from it, never from the operator. Default: the namespace's default service account.")


class TrainingJobSpec(shapes.TrainingJobSpecFields, OperatorFields):
    """CreateTrainingJob's request in lowerCamelCase, plus deletionPolicy, region and placement."""

    model_config = ConfigDict(json_schema_extra=cel_rules(SPOT_NEEDS_MAX_WAIT, *CLUSTER_RULES))

    placement: Placement = Field(
        "SageMaker",
        description="SageMaker: a SageMaker training job. Cluster: the same job on this cluster's own nodes, "
        "under SageMaker's training container contract (/opt/ml, SM_* variables), its model uploaded where "
        "SageMaker puts it.",
    )
    placementOptions: PlacementOptions | None = Field(
        None, description="With placement: Cluster: the pods' node selector, tolerations, priority class and "
        "service account.",
    )


def placed_on_cluster(spec: Mapping[str, Any]) -> bool:
    return spec.get("placement") == "Cluster"


# What UpdateTrainingJob changes on a created job; every other member is immutable.
UPDATABLE_FIELDS = ("profilerConfig", "profilerRuleConfigurations", "remoteDebugConfig")
UPDATABLE_RESOURCE_CONFIG_MEMBERS = ("keepAlivePeriodInSeconds",)


class AppliedTrainingJobUpdates(ApiModel):
    """The updatable members as last sent with UpdateTrainingJob, to tell when the spec changed them."""

    model_config = ConfigDict(extra="ignore")

    profilerConfig: narrowed(TrainingJobSpec, "profilerConfig", {}) = None
    profilerRuleConfigurations: narrowed(TrainingJobSpec, "profilerRuleConfigurations", {}) = None
    remoteDebugConfig: narrowed(TrainingJobSpec, "remoteDebugConfig", {}) = None
    keepAlivePeriodInSeconds: int | None = Field(None, description="resourceConfig.keepAlivePeriodInSeconds.")


class TrainingJobStatus(StatusBase):
    """What DescribeTrainingJob reports, in SageMaker's words."""

    wire_names: ClassVar[dict[str, str]] = {
        "trainingJobName": "TrainingJobName",
        "trainingJobArn": "TrainingJobArn",
        "trainingJobStatus": "TrainingJobStatus",
        "secondaryStatus": "SecondaryStatus",
        "secondaryStatusTransitions": "SecondaryStatusTransitions",
        "failureReason": "FailureReason",
        "modelArtifacts": "ModelArtifacts",
        "billableTimeInSeconds": "BillableTimeInSeconds",
        "trainingTimeInSeconds": "TrainingTimeInSeconds",
        "trainingStartTime": "TrainingStartTime",
        "trainingEndTime": "TrainingEndTime",
        "finalMetricDataList": "FinalMetricDataList",
        "debugRuleEvaluationStatuses": "DebugRuleEvaluationStatuses",
        "profilerRuleEvaluationStatuses": "ProfilerRuleEvaluationStatuses",
    }

    trainingJobName: str | None = Field(None, description="The SageMaker training job name.")
    trainingJobArn: str | None = Field(None, description="The SageMaker training job ARN.")
    trainingJobStatus: str | None = Field(
        None, description="InProgress, Completed, Failed, Stopping or Stopped, as SageMaker reports it."
    )
    secondaryStatus: str | None = Field(None, description="SageMaker's detailed status, e.g. Downloading, Training.")
    secondaryStatusTransitions: list[shapes.SecondaryStatusTransition] | None = Field(
        None, description="The most recent secondary status transitions."
    )
    failureReason: str | None = Field(None, description="Why the job failed, if it did.")
    modelArtifacts: shapes.ModelArtifacts | None = Field(None, description="Where the model artifacts are.")
    billableTimeInSeconds: int | None = Field(None, description="The billable training time.")
    trainingTimeInSeconds: int | None = Field(None, description="The training time.")
    spotSavingsPercent: int | None = Field(
        None, description="Managed spot savings: 100 * (1 - billable / training time)."
    )
    trainingStartTime: datetime.datetime | None = Field(None, description="When training started.")
    trainingEndTime: datetime.datetime | None = Field(None, description="When training ended.")
    finalMetricDataList: list[shapes.MetricData] | None = Field(None, description="The final metric values.")
    logStreams: list[str] | None = Field(
        None, description="CloudWatch log streams in /aws/sagemaker/TrainingJobs."
    )
    debugRuleEvaluationStatuses: list[shapes.DebugRuleEvaluationStatus] | None = Field(
        None, description="Debugger rule evaluations."
    )
    profilerRuleEvaluationStatuses: list[shapes.ProfilerRuleEvaluationStatus] | None = Field(
        None, description="Profiler rule evaluations."
    )
    appliedUpdates: AppliedTrainingJobUpdates | None = Field(
        None, description="The members last applied with UpdateTrainingJob."
    )
    clusterJob: str | None = Field(
        None, description="With placement: Cluster: the Kubernetes Job (and headless Service) running the training."
    )


# Status keeps the last transitions only: the history of a long job would grow the object unbounded.
MAX_REPORTED_TRANSITIONS = 10


def spot_savings_percent(billable_seconds: int | None, training_seconds: int | None) -> int | None:
    if not billable_seconds or not training_seconds:
        return None
    return max(0, round(100 * (1 - billable_seconds / training_seconds)))


def build_create_training_job_request(
    spec: TrainingJobSpec, name: str, ownership_tags: Mapping[str, str]
) -> dict[str, Any]:
    """CreateTrainingJob's request: the spec's SageMaker members, `name`, the user's tags and the
    operator's ownership tags."""
    request = to_wire(spec)
    request["TrainingJobName"] = name
    if tags := tags_with_ownership(spec.tags, ownership_tags):
        request["Tags"] = tags
    return request


def build_update_training_job_request(spec: TrainingJobSpec, name: str) -> dict[str, Any]:
    """UpdateTrainingJob's request carrying every member the spec may change on a created job."""
    members: dict[str, Any] = {"trainingJobName": name}
    for field in UPDATABLE_FIELDS:
        value = getattr(spec, field)
        if value is not None:
            members[field] = _dump(value)
    if spec.resourceConfig and spec.resourceConfig.keepAlivePeriodInSeconds is not None:
        members["resourceConfig"] = {"keepAlivePeriodInSeconds": spec.resourceConfig.keepAlivePeriodInSeconds}
    return to_wire(shapes.UpdateTrainingJobRequest.model_validate(members))


def _dump(value: Any) -> Any:
    if isinstance(value, list):
        return [_dump(item) for item in value]
    return value.model_dump(exclude_none=True)


TRAINING_JOB = KindInfo(
    kind="TrainingJob",
    plural="trainingjobs",
    short_names=("smtj",),
    spec_model=TrainingJobSpec,
    status_model=TrainingJobStatus,
    description="A SageMaker training job. The spec is CreateTrainingJob's request in lowerCamelCase.",
    operations=("CreateTrainingJob", "DescribeTrainingJob", "UpdateTrainingJob", "StopTrainingJob"),
    name_field="trainingJobName",
    name_max_length=63,
    state_field="trainingJobStatus",
    printer_columns=(
        PrinterColumn("Status", ".status.trainingJobStatus", description="SageMaker's training job status"),
        PrinterColumn("Secondary", ".status.secondaryStatus", description="SageMaker's secondary status"),
        PrinterColumn("Instance-Type", ".spec.resourceConfig.instanceType"),
        PrinterColumn("Count", ".spec.resourceConfig.instanceCount", type="integer"),
        PrinterColumn("Spot-Savings", ".status.spotSavingsPercent", type="integer", description="percent"),
        PrinterColumn("Placement", ".spec.placement", priority=1),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status', priority=1),
    ),
    immutable_fields=fields_except(TrainingJobSpec, "deletionPolicy", "resourceConfig", *UPDATABLE_FIELDS),
    immutable_members={
        "resourceConfig": fields_except(shapes.ResourceConfig, *UPDATABLE_RESOURCE_CONFIG_MEMBERS),
    },
    immutable_hint="create a new TrainingJob to run again",
)
