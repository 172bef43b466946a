"""The generated API: committed output is current, patterns are safe for the API server, the CRDs
match the contract in API.md, and status round-trips from SageMaker's responses."""

from __future__ import annotations

import datetime
import json

import botocore
import pytest
import yaml

from kubemaker_dev.codegen import generate
from kubemaker.api.base import from_wire
from kubemaker.api.registry import KINDS, InvalidSpec, dump_status, parse_spec, parse_status
from kubemaker.api.training_job import TrainingJobStatus, spot_savings_percent
from kubemaker_dev.codegen.crdgen import crd, crd_file_name

# The table in API.md.
CONTRACT = {
    "TrainingJob": ("trainingjobs", ["smtj"]),
    "HyperParameterTuningJob": ("hyperparametertuningjobs", ["smhpo"]),
    "Model": ("models", ["smmodel"]),
    "Endpoint": ("endpoints", ["smep"]),
    "TransformJob": ("transformjobs", ["smbt"]),
    "Pipeline": ("pipelines", ["smpipe"]),
    "PipelineExecution": ("pipelineexecutions", ["smpx"]),
    "ProcessingJob": ("processingjobs", ["smpj"]),
    "ModelPackageGroup": ("modelpackagegroups", ["smmpg"]),
    "ModelPackage": ("modelpackages", ["smmp"]),
    "MonitoringSchedule": ("monitoringschedules", ["smmon"]),
    "InferenceComponent": ("inferencecomponents", ["smic"]),
}
# What `kubectl apply` (client-side) can store in the last-applied annotation.
ANNOTATION_LIMIT_BYTES = 256 * 1024


def test_generated_files_are_current():
    stale = generate.check()
    assert not stale, (
        f"stale generated files: {[str(path.relative_to(generate.REPO_ROOT)) for path in stale]}; "
        f"run `make generate` (botocore {botocore.__version__}) and commit the result"
    )


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (".*", None),
        ("[\\S\\s]*", None),
        (".*(?:[ \\r\\n\\t].*)*", None),
        ("(?!\\s*$).+", None),  # lookahead: RE2 has none
        ("arn:[\\p{Alnum}\\-]+:lambda", None),  # POSIX class names in \p{}: RE2 has none
        ("[\\u0020-\\uD7FF]*", None),  # \u escapes: RE2 has none
        ("model-package/[\\S]{1,2048}", None),  # RE2 repeats at most 1000 times
        ("[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", "^(?:[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62})$"),
        ("([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)", "^(?:([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*))$"),
    ],
)
def test_patterns_are_anchored_and_re2_safe(pattern, expected):
    assert generate.anchored_pattern(pattern) == expected


def test_descriptions_are_short_plain_text():
    text = generate.short_description(
        "<p>The S3 path where the <code>model</code> artifacts are stored. This path must point to a file.</p>"
    )
    assert text == "The S3 path where the model artifacts are stored."
    assert len(generate.short_description("<p>" + "word " * 200 + "</p>")) <= generate.DESCRIPTION_MAX_CHARS


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.kind)
def test_crd_matches_the_contract(kind):
    definition = crd(kind)
    plural, short_names = CONTRACT[kind.kind]
    names = definition["spec"]["names"]
    assert (names["plural"], names["shortNames"], names["categories"]) == (plural, short_names, ["sagemaker"])
    assert definition["metadata"]["name"] == f"{plural}.sagemaker.kubemaker.io"
    assert definition["spec"]["scope"] == "Namespaced"
    (version,) = definition["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    assert crd_file_name(kind) == f"sagemaker.kubemaker.io_{plural}.yaml"
    assert len(json.dumps(definition, separators=(",", ":"))) < ANNOTATION_LIMIT_BYTES


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.kind)
def test_spec_has_operator_fields_and_optional_name(kind):
    spec = crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["deletionPolicy"] == {
        "description": spec["properties"]["deletionPolicy"]["description"],
        "type": "string",
        "enum": ["Delete", "Retain"],
        "default": "Delete",
    }
    assert "region" in spec["properties"]
    name = spec["properties"][kind.name_field]
    assert kind.name_field not in spec.get("required", [])
    assert name["maxLength"] == kind.name_max_length
    # A display name, not an identifier; a model package group given by name or ARN.
    if kind.kind not in ("PipelineExecution", "ModelPackage"):
        assert name["pattern"].startswith("^")
    rules = [rule["message"] for rule in spec["x-kubernetes-validations"]]
    assert any(message.startswith("spec.region is immutable") for message in rules)


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.kind)
def test_every_status_field_is_declared(kind):
    status = crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert set(status["properties"]) == set(kind.status_model.model_fields)
    assert "x-kubernetes-preserve-unknown-fields" not in status
    conditions = status["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert set(conditions["items"]["required"]) == {"type", "status"}
    assert {"name", "startedAt"} <= set(status["properties"]["createPending"]["properties"])


@pytest.mark.parametrize(
    ("kind_name", "mutable"),
    [
        ("TrainingJob", {"deletionPolicy", "profilerConfig", "profilerRuleConfigurations", "remoteDebugConfig", "resourceConfig"}),
        ("HyperParameterTuningJob", {"deletionPolicy"}),
        ("TransformJob", {"deletionPolicy"}),
        (
            "PipelineExecution",
            {"deletionPolicy", "pipelineExecutionDisplayName", "pipelineExecutionDescription", "parallelismConfiguration"},
        ),
    ],
)
def test_job_specs_are_immutable_field_by_field(kind_name, mutable):
    kind = next(kind for kind in KINDS if kind.kind == kind_name)
    spec = crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    immutable = {
        rule["fieldPath"].lstrip(".")
        for rule in spec["x-kubernetes-validations"]
        if "is immutable" in rule["message"]
    }
    assert immutable == set(spec["properties"]) - mutable
    assert all("has(oldSelf." in rule["rule"] for rule in spec["x-kubernetes-validations"] if "immutable" in rule["message"])


def test_training_job_resource_config_allows_only_keep_alive_changes():
    kind = next(kind for kind in KINDS if kind.kind == "TrainingJob")
    resource_config = crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "resourceConfig"
    ]
    immutable = {rule["fieldPath"].lstrip(".") for rule in resource_config["x-kubernetes-validations"]}
    assert immutable == set(resource_config["properties"]) - {"keepAlivePeriodInSeconds"}


def test_committed_crds_parse_as_single_documents():
    for kind in KINDS:
        path = generate.CRDS_DIR / crd_file_name(kind)
        assert list(yaml.safe_load_all(path.read_text())) == [crd(kind)]


def test_invalid_spec_names_the_field():
    with pytest.raises(InvalidSpec, match=r"spec\.resourceConfig\.instanceCount"):
        parse_spec(
            "TrainingJob",
            {
                "roleArn": "arn:aws:iam::123456789012:role/SageMakerExecution",
                "outputDataConfig": {"s3OutputPath": "s3://kubemaker-demo/out/"},
                "resourceConfig": {"instanceType": "ml.m5.large", "instanceCount": "many"},
            },
        )


def test_status_from_a_describe_response_round_trips():
    started = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    describe = {
        "TrainingJobName": "tj-1",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/tj-1",
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://kubemaker-demo/out/tj-1/output/model.tar.gz"},
        "SecondaryStatusTransitions": [{"Status": "Starting", "StartTime": started, "StatusMessage": "Preparing"}],
        "FinalMetricDataList": [{"MetricName": "validation:rmse", "Value": 0.25, "Timestamp": started}],
        "BillableTimeInSeconds": 60,
        "TrainingTimeInSeconds": 200,
        "SomethingSageMakerAddsLater": {"X": 1},
    }
    status = TrainingJobStatus.model_validate(
        {**from_wire(TrainingJobStatus, describe), "spotSavingsPercent": spot_savings_percent(60, 200), "observedGeneration": 2}
    )
    dumped = dump_status(status)
    assert dumped["modelArtifacts"] == {"s3ModelArtifacts": "s3://kubemaker-demo/out/tj-1/output/model.tar.gz"}
    assert dumped["secondaryStatusTransitions"] == [
        {"status": "Starting", "startTime": "2026-01-02T03:04:05Z", "statusMessage": "Preparing"}
    ]
    assert dumped["spotSavingsPercent"] == 70
    assert parse_status("TrainingJob", dumped) == status
    assert parse_status("TrainingJob", {**dumped, "kopf": {"progress": {}}}) == status


def test_recursive_shape_becomes_a_free_form_object():
    service = generate.ServiceShapes(
        {
            "Node": {
                "type": "structure",
                "members": {"Name": {"shape": "String"}, "Children": {"shape": "NodeList"}},
            },
            "NodeList": {"type": "list", "member": {"shape": "Node"}},
            "String": {"type": "string"},
        }
    )
    assert service.structure("Node", constrained=True) == "Node"
    assert "children: list[dict[str, Any]] | None" in service.emitted["Node"]
