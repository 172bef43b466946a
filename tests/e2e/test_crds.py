"""The CRDs on a real kube-apiserver: they become Established, every example is accepted, and the
API server itself refuses invalid manifests and forbidden changes with a message naming the field."""

from __future__ import annotations

import copy
import datetime
import json
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import pytest
import yaml
from pydantic import BaseModel

from kubemaker.api.base import unwrap_optional
from kubemaker.api.registry import KINDS, dump_status

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_PATHS = sorted((REPO_ROOT / "examples").glob("*.yaml"))
DELETE = object()


def load_example(kind: str, name: str) -> dict[str, Any]:
    for path in EXAMPLE_PATHS:
        for document in yaml.safe_load_all(path.read_text()):
            if document and document["kind"] == kind and document["metadata"]["name"] == name:
                return document
    raise LookupError(f"no example {kind}/{name}")


def changed(document: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of `document` with each change applied; keys are paths like
    `spec__productionVariants__0__instanceType` (`__` separates, digits index lists)."""
    result = copy.deepcopy(document)
    for path, value in changes.items():
        *parents, last = [int(part) if part.isdigit() else part for part in path.split("__")]
        node = result
        for part in parents:
            node = node[part]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return result


def apply(kubectl, namespace: str, document: dict[str, Any], *, dry_run: bool = False):
    args = ["apply", "-n", namespace, "-f", "-"] + (["--dry-run=server"] if dry_run else [])
    return kubectl(*args, input=yaml.safe_dump(document), check=False)


TRAINING_JOB = load_example("TrainingJob", "xgboost-spot")
TUNING_JOB = load_example("HyperParameterTuningJob", "xgboost-tuning")
MODEL = load_example("Model", "churn-model")
ENDPOINT = load_example("Endpoint", "fraud-scoring")
SERVERLESS_ENDPOINT = load_example("Endpoint", "sentiment-serverless")
TRANSFORM_JOB = load_example("TransformJob", "nightly-scoring")
PIPELINE = load_example("Pipeline", "etl-pipeline")
PIPELINE_EXECUTION = load_example("PipelineExecution", "churn-pipeline-run-1")


def test_every_crd_is_established(crds, kubectl):
    assert sorted(crds) == sorted(f"{kind.plural}.sagemaker.kubemaker.io" for kind in KINDS)
    for name in crds:
        established = kubectl(
            "get", "crd", name, "-o", "jsonpath={.status.conditions[?(@.type=='Established')].status}"
        ).stdout
        assert established == "True", name


@pytest.mark.parametrize("path", EXAMPLE_PATHS, ids=lambda path: path.name)
def test_example_passes_server_side_dry_run(crds, kubectl, namespace, path):
    result = kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(path), check=False)
    assert result.returncode == 0, result.stderr


def test_examples_are_listed_with_printer_columns(crds, kubectl, namespace):
    for path in EXAMPLE_PATHS:
        kubectl("apply", "-n", namespace, "-f", str(path))
    listing = kubectl("get", "sagemaker", "-n", namespace).stdout
    for kind in KINDS:
        assert f"{kind.kind.lower()}.sagemaker.kubemaker.io/" in listing
    header = kubectl("get", "smtj", "-n", namespace).stdout.splitlines()[0].split()
    assert header == ["NAME", "STATUS", "SECONDARY", "INSTANCE-TYPE", "COUNT", "SPOT-SAVINGS", "AGE"]
    training_job = kubectl("get", "smtj", "xgboost-spot", "-n", namespace).stdout.splitlines()[1].split()
    assert training_job[1:3] == ["ml.m5.xlarge", "1"]  # status columns are empty before the operator runs
    assert kubectl("get", "trainingjob", "xgboost-spot", "-n", namespace, "-o", "jsonpath={.spec.deletionPolicy}").stdout == "Delete"
    assert kubectl("get", "smep", "sentiment-serverless", "-n", namespace, "-o", "jsonpath={.spec.deletionPolicy}").stdout == "Retain"


# (id, manifest, text the API server's refusal must contain: the field path)
INVALID_MANIFESTS = [
    ("wrong-enum", changed(TRAINING_JOB, spec__algorithmSpecification__trainingInputMode="Stream"), "spec.algorithmSpecification.trainingInputMode"),
    ("bad-role-arn", changed(TRAINING_JOB, spec__roleArn="arn:aws:iam::1234:role/SageMakerExecution"), "spec.roleArn"),
    ("bad-s3-uri", changed(TRAINING_JOB, spec__outputDataConfig__s3OutputPath="ftp://kubemaker-demo/out/"), "spec.outputDataConfig.s3OutputPath"),
    ("missing-required-role", changed(TRAINING_JOB, spec__roleArn=DELETE), "spec.roleArn"),
    ("unknown-field", changed(TRAINING_JOB, spec__algorithmSpecification__trainingImages="x"), "spec.algorithmSpecification.trainingImages"),
    ("unknown-instance-type", changed(TRAINING_JOB, spec__resourceConfig__instanceType="ml.huge"), "spec.resourceConfig.instanceType"),
    ("spot-wait-shorter-than-runtime", changed(TRAINING_JOB, spec__stoppingCondition__maxWaitTimeInSeconds=600), "spec.stoppingCondition"),
    ("spot-without-max-wait", changed(TRAINING_JOB, spec__stoppingCondition__maxWaitTimeInSeconds=DELETE), "spec.stoppingCondition"),
    ("training-job-name-too-long", changed(TRAINING_JOB, spec__trainingJobName="j" * 64), "spec.trainingJobName"),
    ("training-job-name-pattern", changed(TRAINING_JOB, spec__trainingJobName="my_job"), "spec.trainingJobName"),
    ("environment-variable-name", changed(TRAINING_JOB, spec__environment={"1BAD": "x"}), "spec.environment"),
    ("deletion-policy", changed(TRAINING_JOB, spec__deletionPolicy="Keep"), "spec.deletionPolicy"),
    ("region", changed(TRAINING_JOB, spec__region="mars"), "spec.region"),
    ("tuning-job-name-too-long", changed(TUNING_JOB, spec__hyperParameterTuningJobName="t" * 33), "spec.hyperParameterTuningJobName"),
    (
        "warm-start-parent-name-and-ref",
        changed(
            TUNING_JOB,
            spec__warmStartConfig={
                "warmStartType": "IdenticalDataAndAlgorithm",
                "parentHyperParameterTuningJobs": [{"hyperParameterTuningJobName": "old", "ref": {"name": "old"}}],
            },
        ),
        "spec.warmStartConfig.parentHyperParameterTuningJobs[0].ref",
    ),
    (
        "model-data-url-and-from",
        changed(MODEL, spec__primaryContainer__modelDataUrl="s3://kubemaker-demo/model.tar.gz"),
        "spec.primaryContainer.modelDataFrom",
    ),
    ("empty-variants", changed(ENDPOINT, spec__productionVariants=[]), "spec.productionVariants"),
    ("no-variants", changed(ENDPOINT, spec__productionVariants=DELETE), "spec.productionVariants"),
    ("instance-count-zero", changed(ENDPOINT, spec__productionVariants__0__initialInstanceCount=0), "spec.productionVariants[0].initialInstanceCount"),
    ("min-above-max-capacity", changed(ENDPOINT, spec__productionVariants__0__autoScaling__minCapacity=9), "spec.productionVariants[0].autoScaling.minCapacity"),
    (
        "two-scaling-targets",
        changed(
            ENDPOINT,
            spec__productionVariants__1__autoScaling__targetInvocationsPerInstance=100,
        ),
        "spec.productionVariants[1].autoScaling.targetInvocationsPerInstance",
    ),
    ("duplicate-variant-names", changed(ENDPOINT, spec__productionVariants__1__variantName="current"), "spec.productionVariants[1]"),
    (
        "shadow-variant-reuses-a-name",
        changed(ENDPOINT, spec__shadowProductionVariants=[{"variantName": "current", "modelName": "shadow", "instanceType": "ml.m5.large", "initialInstanceCount": 1}]),
        "spec.shadowProductionVariants",
    ),
    ("model-name-and-ref", changed(ENDPOINT, spec__productionVariants__0__modelName="fraud-v1-existing"), "spec.productionVariants[0].modelRef"),
    (
        "serverless-with-instance-type",
        changed(SERVERLESS_ENDPOINT, spec__productionVariants__0__instanceType="ml.m5.large"),
        "spec.productionVariants[0].serverlessConfig",
    ),
    ("endpoint-name-pattern", changed(ENDPOINT, spec__endpointName="fraud_scoring"), "spec.endpointName"),
    ("adopt-without-name", changed(ENDPOINT, spec__adoptExisting=True), "spec.endpointName"),
    ("transform-without-model", changed(TRANSFORM_JOB, spec__modelRef=DELETE), "spec.modelRef"),
    ("transform-instance-count-zero", changed(TRANSFORM_JOB, spec__transformResources__instanceCount=0), "spec.transformResources.instanceCount"),
    (
        "pipeline-two-definition-sources",
        changed(PIPELINE, spec__pipelineDefinitionS3Location={"bucket": "kubemaker-demo", "objectKey": "p.json"}),
        "spec.pipelineDefinitionFrom",
    ),
    ("execution-pipeline-name-and-ref", changed(PIPELINE_EXECUTION, spec__pipelineName="churn"), "spec.pipelineRef"),
]


@pytest.mark.parametrize(
    ("manifest", "field_path"),
    [case[1:] for case in INVALID_MANIFESTS],
    ids=[case[0] for case in INVALID_MANIFESTS],
)
def test_invalid_manifest_is_refused_naming_the_field(crds, kubectl, namespace, manifest, field_path):
    result = apply(kubectl, namespace, manifest, dry_run=True)
    assert result.returncode != 0, f"accepted: {yaml.safe_dump(manifest['spec'])}"
    assert field_path in result.stderr, result.stderr


# (id, created object, changed object, field path the refusal names)
FORBIDDEN_CHANGES = [
    (
        "training-image",
        TRAINING_JOB,
        changed(TRAINING_JOB, spec__algorithmSpecification__trainingImage="123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:2"),
        "spec.algorithmSpecification is immutable: create a new TrainingJob to run again",
    ),
    ("training-region", changed(TRAINING_JOB, spec__region="us-east-1"), changed(TRAINING_JOB, spec__region="eu-west-1"), "spec.region is immutable"),
    ("training-hyperparameters-removed", TRAINING_JOB, changed(TRAINING_JOB, spec__hyperParameters=DELETE), "spec.hyperParameters is immutable"),
    ("training-vpc-added", TRAINING_JOB, changed(TRAINING_JOB, spec__vpcConfig={"securityGroupIds": ["sg-1"], "subnets": ["subnet-1"]}), "spec.vpcConfig is immutable"),
    (
        "training-instance-count",
        TRAINING_JOB,
        changed(TRAINING_JOB, spec__resourceConfig__instanceCount=2),
        "spec.resourceConfig.instanceCount is immutable",
    ),
    ("model-region-added", MODEL, changed(MODEL, spec__region="eu-west-1"), "spec.region is immutable"),
    ("endpoint-name", changed(ENDPOINT, spec__endpointName="fraud-a"), changed(ENDPOINT, spec__endpointName="fraud-b"), "spec.endpointName is immutable"),
    ("tuning-limits", TUNING_JOB, changed(TUNING_JOB, spec__hyperParameterTuningJobConfig__resourceLimits__maxParallelTrainingJobs=3), "spec.hyperParameterTuningJobConfig is immutable"),
    ("transform-output", TRANSFORM_JOB, changed(TRANSFORM_JOB, spec__transformOutput__s3OutputPath="s3://kubemaker-demo/elsewhere/"), "spec.transformOutput is immutable"),
    (
        "execution-parameters",
        PIPELINE_EXECUTION,
        changed(PIPELINE_EXECUTION, spec__pipelineParameters=[{"name": "InputData", "value": "s3://kubemaker-demo/other/"}]),
        "spec.pipelineParameters is immutable",
    ),
]


@pytest.mark.parametrize(
    ("created", "update", "message"), [case[1:] for case in FORBIDDEN_CHANGES], ids=[case[0] for case in FORBIDDEN_CHANGES]
)
def test_forbidden_change_is_refused_naming_the_field(crds, kubectl, namespace, created, update, message):
    result = apply(kubectl, namespace, created)
    assert result.returncode == 0, result.stderr
    result = apply(kubectl, namespace, update)
    assert result.returncode != 0, "change accepted"
    assert message in result.stderr, result.stderr


ALLOWED_CHANGES = [
    ("training-deletion-policy", TRAINING_JOB, changed(TRAINING_JOB, spec__deletionPolicy="Retain")),
    ("training-keep-alive", TRAINING_JOB, changed(TRAINING_JOB, spec__resourceConfig__keepAlivePeriodInSeconds=600)),
    ("training-profiler", TRAINING_JOB, changed(TRAINING_JOB, spec__profilerConfig={"s3OutputPath": "s3://kubemaker-demo/profiler/"})),
    ("execution-description", PIPELINE_EXECUTION, changed(PIPELINE_EXECUTION, spec__pipelineExecutionDescription="Re-labelled.")),
    ("endpoint-weights", ENDPOINT, changed(ENDPOINT, spec__productionVariants__0__initialVariantWeight=50)),
    ("model-image", MODEL, changed(MODEL, spec__primaryContainer__image="123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:2")),
    ("pipeline-definition", PIPELINE, changed(PIPELINE, spec__pipelineDescription="Now described.")),
]


@pytest.mark.parametrize(
    ("created", "update"), [case[1:] for case in ALLOWED_CHANGES], ids=[case[0] for case in ALLOWED_CHANGES]
)
def test_allowed_change_is_accepted(crds, kubectl, namespace, created, update):
    assert apply(kubectl, namespace, created).returncode == 0
    result = apply(kubectl, namespace, update)
    assert result.returncode == 0, result.stderr


def sample(annotation: Any, name: str = "") -> Any:
    """A value of every field the model declares, valid for its schema."""
    target = unwrap_optional(annotation)
    origin = typing.get_origin(target)
    if origin is Literal:
        return typing.get_args(target)[0]
    if origin is list:
        return [sample(typing.get_args(target)[0], name)]
    if origin is dict:
        return {"key": sample(typing.get_args(target)[1], name)}
    if origin in (Union, types.UnionType):
        return sample(typing.get_args(target)[0], name)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return {field: sample(info.annotation, field) for field, info in target.model_fields.items()}
    if target is bool:
        return True
    if target is int:
        return 3
    if target is float:
        return 0.5
    if target is datetime.datetime:
        return datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    if target is str:
        # Response shapes carry no patterns; the few request shapes reported in status do.
        return "s3://kubemaker-demo/out/" if re.search("(?i)(s3|path|uri|url)", name) else "value"
    raise TypeError(f"no sample for {annotation!r}")


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.kind)
def test_every_status_field_survives_a_status_patch(crds, kubectl, namespace, kind):
    """kopf writes status with merge patches; a field the schema does not declare would be pruned."""
    example = next(
        document
        for path in EXAMPLE_PATHS
        for document in yaml.safe_load_all(path.read_text())
        if document and document["kind"] == kind.kind
    )
    assert apply(kubectl, namespace, example).returncode == 0
    status = dump_status(kind.status_model.model_validate(sample(kind.status_model)))
    # Fully qualified: `endpoints` alone is the core Endpoints resource.
    resource = f"{kind.plural}.sagemaker.kubemaker.io"
    kubectl(
        "patch", resource, example["metadata"]["name"], "-n", namespace,
        "--subresource=status", "--type=merge", "-p", json.dumps({"status": status}),
    )  # fmt: skip
    stored = json.loads(kubectl("get", resource, example["metadata"]["name"], "-n", namespace, "-o", "json").stdout)
    assert stored["status"] == status


def test_crds_fit_client_side_apply(crds, kubectl):
    """Client-side apply stores the whole CRD in the last-applied annotation (256 KiB at most)."""
    result = kubectl("apply", "--dry-run=server", "-f", str(REPO_ROOT / "crds"), check=False)
    assert result.returncode == 0, result.stderr
