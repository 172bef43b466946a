"""Every Describe answer against its output shape: what AWS always returns, the defaults it fills in,
and every member the request set, echoed back.

For each kind, a request with only the required members (so the defaults show) and one generated
with every member of the create request set (so the echo is complete) are created; their Describe
answers, read as they went over the wire, are checked at each state they pass through:
- against the output shape with the emulator's own validator: every member the shape requires is
  there, at every depth, and every value has the model's type, enum, bounds and pattern;
- every default of `kubemaker_emulator.sagemaker.defaults` is there wherever its shape is;
- every member of the create request that the answer's shape also has comes back unchanged.
The last test prints how many of each answer's member paths the answers covered.
"""

from __future__ import annotations

import copy
import json
import re
from collections import defaultdict
from typing import Any, Iterator

import pytest
from botocore.model import Shape

from kubemaker_emulator.sagemaker.defaults import DEFAULTS
from kubemaker_emulator.servicemodel import RequestValidator
from tests.emulator.generated import generated
from tests.emulator.helpers import ROLE_ARN, raw_call, wait_until

VALIDATOR = RequestValidator("sagemaker")
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1.7-1"
DEFINITION = json.dumps({"Version": "2020-12-01", "Steps": [{"Name": "Train", "Type": "Training", "Arguments": {}}]})
DESCRIBE_OPERATIONS = (
    "DescribeTrainingJob", "DescribeHyperParameterTuningJob", "DescribeModel", "DescribeEndpointConfig",
    "DescribeEndpoint", "DescribeTransformJob", "DescribePipeline", "DescribePipelineExecution",
    "DescribePipelineDefinitionForExecution",
)  # fmt: skip

# Every answer checked, per operation, for the coverage figures.
ANSWERS: dict[str, list[dict[str, Any]]] = defaultdict(list)


def request_for(operation: str, full: bool, **fixed: Any) -> dict[str, Any]:
    request = generated(VALIDATOR.operation(operation).input_shape, full)
    request.pop("Tags", None)
    request.update(fixed)
    return request


class Describer:
    def __init__(self, emulator):
        self.url = emulator.url

    def __call__(
        self, operation: str, create_operation: str | None, request: dict[str, Any] | None, **params: Any
    ) -> dict[str, Any]:
        status, answer = raw_call(self.url, operation, params)
        assert status == 200, answer
        check_answer(operation, answer)
        if request is not None:
            check_echo(
                VALIDATOR.operation(create_operation).input_shape,
                request,
                VALIDATOR.operation(operation).output_shape,
                answer,
                operation,
            )
        ANSWERS[operation].append(answer)
        return answer


@pytest.fixture
def describe(emulator):
    return Describer(emulator)


# Checks -------------------------------------------------------------------------------------------


def check_answer(operation: str, answer: dict[str, Any]) -> None:
    shape = VALIDATOR.operation(operation).output_shape
    errors: list[str] = []
    VALIDATOR._check(shape, answer, "", errors)
    assert not errors, f"{operation} answer breaks its output shape: {errors}"
    missing = list(missing_defaults(shape, answer, answer, operation))
    assert not missing, f"{operation} answer lacks defaults AWS fills in: {missing}"


def missing_defaults(shape: Shape, value: Any, answer: dict[str, Any], path: str) -> Iterator[str]:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for default in DEFAULTS.get(shape.name, ()):
            if value.get(default.member) is None and default.value_for(value, answer) is not None:
                yield f"{path}.{default.member}"
        for name, item in value.items():
            yield from missing_defaults(shape.members[name], item, answer, f"{path}.{name}")
    elif kind == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            yield from missing_defaults(shape.member, item, answer, f"{path}[{index}]")
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            yield from missing_defaults(shape.value, item, answer, f"{path}.{key}")


def check_echo(request_shape: Shape, request: Any, answer_shape: Shape, answer: Any, path: str) -> None:
    """Every member of `request` the answer's shape also has is in `answer` with the same value."""
    if request_shape.type_name == "structure":
        assert isinstance(answer, dict), f"{path}: {answer!r} is not a structure"
        for name, value in request.items():
            if name not in answer_shape.members:
                continue  # not part of the answer (Tags, ClientRequestToken)
            assert name in answer, f"{path}.{name} was set in the request and is not echoed"
            check_echo(request_shape.members[name], value, answer_shape.members[name], answer[name], f"{path}.{name}")
    elif request_shape.type_name == "list":
        assert isinstance(answer, list) and len(answer) == len(request), f"{path}: {answer!r} is not {request!r}"
        for index, (value, echoed) in enumerate(zip(request, answer)):
            check_echo(request_shape.member, value, answer_shape.member, echoed, f"{path}[{index}]")
    elif request_shape.type_name == "map":
        assert isinstance(answer, dict) and set(answer) == set(request), f"{path}: {answer!r} is not {request!r}"
        for key, value in request.items():
            check_echo(request_shape.value, value, answer_shape.value, answer[key], f"{path}.{key}")
    else:
        assert answer == request, f"{path}: sent {request!r}, answered {answer!r}"


# Member paths, for the coverage figures ----------------------------------------------------------


def member_paths(shape: Shape, prefix: str = "", stack: tuple[str, ...] = ()) -> Iterator[str]:
    if shape.type_name == "structure":
        for name, member in shape.members.items():
            path = f"{prefix}.{name}" if prefix else name
            yield path
            if member.name not in stack:
                yield from member_paths(member, path, stack + (shape.name,))
    elif shape.type_name == "list" and shape.member.name not in stack:
        yield from member_paths(shape.member, prefix + "[]", stack + (shape.name,))
    elif shape.type_name == "map" and shape.value.name not in stack:
        yield from member_paths(shape.value, prefix + "{}", stack + (shape.name,))


def present_paths(shape: Shape, value: Any, prefix: str = "") -> Iterator[str]:
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, item in value.items():
            path = f"{prefix}.{name}" if prefix else name
            yield path
            yield from present_paths(shape.members[name], item, path)
    elif shape.type_name == "list" and isinstance(value, list):
        for item in value:
            yield from present_paths(shape.member, item, prefix + "[]")
    elif shape.type_name == "map" and isinstance(value, dict):
        for item in value.values():
            yield from present_paths(shape.value, item, prefix + "{}")


# The kinds ------------------------------------------------------------------------------------------


def training_request(unique, full: bool) -> dict[str, Any]:
    request = request_for("CreateTrainingJob", full, TrainingJobName=unique("described"), RoleArn=ROLE_ARN)
    if not full:
        request["AlgorithmSpecification"] = {"TrainingImage": IMAGE, "TrainingInputMode": "File"}
        request["ResourceConfig"] = {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1}
    return request


def test_training_job_answers(sagemaker, describe, unique):
    for full in (False, True):
        request = training_request(unique, full)
        sagemaker.create_training_job(**request)
        name = request["TrainingJobName"]
        describe("DescribeTrainingJob", "CreateTrainingJob", request, TrainingJobName=name)
        wait_until(
            lambda: sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"],
            lambda s: s in ("Completed", "Stopped", "Failed"),
            timeout=30,
        )
        finished = describe("DescribeTrainingJob", "CreateTrainingJob", request, TrainingJobName=name)
        if not full:
            assert (
                finished["EnableNetworkIsolation"] is False
                and finished["OutputDataConfig"]["CompressionType"] == "GZIP"
            )
            assert finished["StoppingCondition"]["MaxRuntimeInSeconds"] == 86400


def tuning_request(unique, full: bool, parent: str | None = None) -> dict[str, Any]:
    request = request_for("CreateHyperParameterTuningJob", full, HyperParameterTuningJobName=unique("tuned")[:32])
    config = request["HyperParameterTuningJobConfig"]
    config["ResourceLimits"].update(MaxNumberOfTrainingJobs=1, MaxParallelTrainingJobs=1)
    definitions = ([request["TrainingJobDefinition"]] if "TrainingJobDefinition" in request else []) + request.get(
        "TrainingJobDefinitions", []
    )
    if not definitions:
        request["TrainingJobDefinition"] = definitions_item = generated(
            VALIDATOR.model.shape_for("HyperParameterTrainingJobDefinition"), False
        )
        definitions = [definitions_item]
    for definition in definitions:
        definition["RoleArn"] = ROLE_ARN
        definition["AlgorithmSpecification"]["TrainingImage"] = IMAGE
        definition.setdefault("ResourceConfig", {}).update(
            InstanceType="ml.m5.large", InstanceCount=1, VolumeSizeInGB=1
        )
    objective = {"Type": "Maximize", "MetricName": "validation:auc"}
    config["HyperParameterTuningJobObjective"] = objective
    for ranges in [config.get("ParameterRanges")] + [d.get("HyperParameterRanges") for d in definitions]:
        for kind in ("IntegerParameterRanges", "ContinuousParameterRanges"):
            for parameter_range in (ranges or {}).get(kind, []):
                parameter_range.update(MinValue="1", MaxValue="10")
    if full:
        request["WarmStartConfig"]["ParentHyperParameterTuningJobs"] = [{"HyperParameterTuningJobName": parent}]
    return request


def test_tuning_job_answers(sagemaker, describe, unique):
    parent = tuning_request(unique, False)
    sagemaker.create_hyper_parameter_tuning_job(**parent)
    for request in (parent, tuning_request(unique, True, parent["HyperParameterTuningJobName"])):
        if request is not parent:
            sagemaker.create_hyper_parameter_tuning_job(**request)
        name = request["HyperParameterTuningJobName"]
        describe(
            "DescribeHyperParameterTuningJob",
            "CreateHyperParameterTuningJob",
            request,
            HyperParameterTuningJobName=name,
        )
        wait_until(
            lambda: sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
                "HyperParameterTuningJobStatus"
            ],
            lambda s: s != "InProgress",
            timeout=30,
        )
        describe(
            "DescribeHyperParameterTuningJob",
            "CreateHyperParameterTuningJob",
            request,
            HyperParameterTuningJobName=name,
        )


def model_request(unique, full: bool) -> dict[str, Any]:
    request = request_for("CreateModel", full, ModelName=unique("described"))
    if not full:
        request["PrimaryContainer"] = {"Image": IMAGE}
    # A made-up package name names no package, which CreateModel refuses (tests/emulator/test_registry.py).
    for container in [request.get("PrimaryContainer") or {}, *request.get("Containers", [])]:
        container.pop("ModelPackageName", None)
    return request


def config_request(unique, full: bool, model: str, serverless: bool = False) -> dict[str, Any]:
    request = request_for("CreateEndpointConfig", full, EndpointConfigName=unique("described"))
    variants = request["ProductionVariants"] + request.get("ShadowProductionVariants", [])
    for index, variant in enumerate(variants):
        variant.update(ModelName=model, VariantName=f"variant-{index}")
        if serverless:
            for member in ("InstanceType", "InitialInstanceCount"):
                variant.pop(member, None)
            variant.setdefault("ServerlessConfig", {"MemorySizeInMB": 1024, "MaxConcurrency": 1})
        else:
            variant.pop("ServerlessConfig", None)
            variant.update(InstanceType="ml.m5.large", InitialInstanceCount=1)
    return request


def test_model_config_and_endpoint_answers(sagemaker, describe, unique):
    for full in (False, True):
        model = model_request(unique, full)
        sagemaker.create_model(**model)
        described_model = describe("DescribeModel", "CreateModel", model, ModelName=model["ModelName"])
        if not full:
            assert described_model["EnableNetworkIsolation"] is False
            assert described_model["PrimaryContainer"]["Mode"] == "SingleModel"
        for serverless in (False, True):
            config = config_request(unique, full, model["ModelName"], serverless)
            sagemaker.create_endpoint_config(**config)
            described_config = describe(
                "DescribeEndpointConfig",
                "CreateEndpointConfig",
                config,
                EndpointConfigName=config["EndpointConfigName"],
            )
            # The member a controller waits for before it calls the config settled.
            assert isinstance(described_config["EnableNetworkIsolation"], bool)
            endpoint = request_for(
                "CreateEndpoint",
                full,
                EndpointName=unique("described"),
                EndpointConfigName=config["EndpointConfigName"],
            )
            sagemaker.create_endpoint(**endpoint)
            name = endpoint["EndpointName"]
            describe("DescribeEndpoint", "CreateEndpoint", endpoint, EndpointName=name)
            wait_until(
                lambda: sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"], lambda s: s == "InService"
            )
            describe("DescribeEndpoint", "CreateEndpoint", endpoint, EndpointName=name)
            sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=config["EndpointConfigName"])
            describe("DescribeEndpoint", "CreateEndpoint", endpoint, EndpointName=name)  # with PendingDeploymentSummary
            wait_until(
                lambda: sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"], lambda s: s == "InService"
            )


def test_transform_job_answers(sagemaker, describe, unique):
    model = model_request(unique, False)
    sagemaker.create_model(**model)
    for full in (False, True):
        request = request_for(
            "CreateTransformJob", full, TransformJobName=unique("described"), ModelName=model["ModelName"]
        )
        sagemaker.create_transform_job(**request)
        name = request["TransformJobName"]
        answer = describe("DescribeTransformJob", "CreateTransformJob", request, TransformJobName=name)
        if not full:
            assert answer["DataProcessing"] == {"InputFilter": "$", "OutputFilter": "$", "JoinSource": "None"}
            assert answer["MaxPayloadInMB"] == 6
        wait_until(
            lambda: sagemaker.describe_transform_job(TransformJobName=name)["TransformJobStatus"],
            lambda s: s != "InProgress",
        )
        describe("DescribeTransformJob", "CreateTransformJob", request, TransformJobName=name)


def test_pipeline_and_execution_answers(sagemaker, describe, unique):
    for full in (False, True):
        pipeline = request_for(
            "CreatePipeline", full, PipelineName=unique("described"), RoleArn=ROLE_ARN, PipelineDefinition=DEFINITION
        )
        pipeline.pop("PipelineDefinitionS3Location", None)
        sagemaker.create_pipeline(**pipeline)
        describe("DescribePipeline", "CreatePipeline", pipeline, PipelineName=pipeline["PipelineName"])
        execution = request_for("StartPipelineExecution", full, PipelineName=pipeline["PipelineName"])
        arn = sagemaker.start_pipeline_execution(**execution)["PipelineExecutionArn"]
        # DescribePipelineExecution answers the execution, not the request's PipelineName.
        echoed = {key: value for key, value in execution.items() if key != "PipelineName"}
        describe("DescribePipelineExecution", "StartPipelineExecution", echoed, PipelineExecutionArn=arn)
        wait_until(
            lambda: sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"],
            lambda s: s != "Executing",
        )
        describe("DescribePipelineExecution", "StartPipelineExecution", echoed, PipelineExecutionArn=arn)
        describe("DescribePipelineDefinitionForExecution", None, None, PipelineExecutionArn=arn)


def test_members_of_later_states_and_links(sagemaker, control, describe, unique):
    """What only some answers carry: metrics, failures, the tuning job of a child, the last run."""
    from tests.emulator.helpers import training_request as job_request

    completed, failed = unique("metrics"), unique("failing")
    sagemaker.create_training_job(**job_request(completed))
    control.fail_training_job(failed, reason="AlgorithmError: injected")
    sagemaker.create_training_job(**job_request(failed))
    model = model_request(unique, False)
    sagemaker.create_model(**model)
    config = config_request(unique, False, model["ModelName"])
    sagemaker.create_endpoint_config(**config)
    endpoint = unique("failing")
    control.fail_endpoint_creation(endpoint, reason="injected")
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=config["EndpointConfigName"])
    transform = request_for(
        "CreateTransformJob", False, TransformJobName=unique("failing"), ModelName=model["ModelName"]
    )
    control.fail_transform_job(transform["TransformJobName"], reason="injected")
    sagemaker.create_transform_job(**transform)
    pipeline = unique("failing")
    sagemaker.create_pipeline(
        PipelineName=pipeline, RoleArn=ROLE_ARN, PipelineDefinition=DEFINITION, ClientRequestToken=(pipeline * 4)[:64]
    )
    control.fail_pipeline_step(pipeline, "Train", reason="injected")
    execution = sagemaker.start_pipeline_execution(PipelineName=pipeline, ClientRequestToken=(pipeline * 4)[:64])[
        "PipelineExecutionArn"
    ]

    for name in (completed, failed):
        wait_until(
            lambda: sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"],
            lambda s: s in ("Completed", "Failed"),
            timeout=30,
        )
        describe("DescribeTrainingJob", None, None, TrainingJobName=name)
    wait_until(lambda: sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"], lambda s: s == "Failed")
    assert describe("DescribeEndpoint", None, None, EndpointName=endpoint)["FailureReason"] == "injected"
    wait_until(
        lambda: sagemaker.describe_transform_job(TransformJobName=transform["TransformJobName"])["TransformJobStatus"],
        lambda s: s == "Failed",
    )
    describe("DescribeTransformJob", None, None, TransformJobName=transform["TransformJobName"])
    wait_until(
        lambda: sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution)["PipelineExecutionStatus"],
        lambda s: s == "Failed",
    )
    describe("DescribePipelineExecution", None, None, PipelineExecutionArn=execution)
    assert "LastRunTime" in describe("DescribePipeline", None, None, PipelineName=pipeline)

    tuning = tuning_request(unique, False)
    sagemaker.create_hyper_parameter_tuning_job(**tuning)
    child = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuning["HyperParameterTuningJobName"]
    )["TrainingJobSummaries"][0]["TrainingJobName"]
    assert describe("DescribeTrainingJob", None, None, TrainingJobName=child)["TuningJobArn"]


def test_every_default_is_documented_where_it_says():
    """Each default quotes its API Reference page (botocore ships that text), or says what AWS answers."""
    from kubemaker_emulator.sagemaker.defaults import documentation_source, page_of

    model = VALIDATOR.model
    for shape_name, defaults in DEFAULTS.items():
        shape = model.shape_for(shape_name)
        for default in defaults:
            assert default.member in shape.members, f"{shape_name} has no member {default.member}"
            assert (default.stated is None) != (default.answered is None), (
                f"{shape_name}.{default.member}: stated or answered"
            )
            source_shape, source_member = documentation_source(shape_name, default)
            documentation = " ".join(
                re.sub(r"<[^>]+>", "", model.shape_for(source_shape).members[source_member].documentation).split()
            )
            if default.stated is not None:
                assert default.stated in documentation, f"{page_of(source_shape)} does not say {default.stated!r}"
            if not callable(default.value):
                errors: list[str] = []
                VALIDATOR._check(shape.members[default.member], copy.deepcopy(default.value), default.member, errors)
                assert not errors, errors


def test_members_covered_per_operation(record_property, capsys):
    """The figures: member paths of each answer's shape that the answers above carried."""
    assert set(ANSWERS) == set(DESCRIBE_OPERATIONS), f"no answers for {set(DESCRIBE_OPERATIONS) - set(ANSWERS)}"
    lines = [f"{'operation':<40} {'top-level':>10} {'all paths':>12} {'answers':>8}"]
    for operation in DESCRIBE_OPERATIONS:
        shape = VALIDATOR.operation(operation).output_shape
        declared = set(member_paths(shape))
        covered = set().union(*(set(present_paths(shape, answer)) for answer in ANSWERS[operation]))
        top = [path for path in declared if "." not in path and "[" not in path and "{" not in path]
        top_covered = [path for path in top if path in covered]
        lines.append(
            f"{operation:<40} {len(top_covered):>4} / {len(top):<4} {len(covered):>5} / {len(declared):<5} "
            f"{len(ANSWERS[operation]):>4}"
        )
        if len(top_covered) < len(top):
            lines.append(f"{'':<4}never answered: {', '.join(sorted(set(top) - set(top_covered)))}")
        record_property(f"{operation}.top_level", f"{len(top_covered)}/{len(top)}")
        record_property(f"{operation}.paths", f"{len(covered)}/{len(declared)}")
        # Every member shape requires was checked in every answer; the whole shape is the target.
        assert covered <= declared
    with capsys.disabled():
        print("\nDescribe answers: member paths covered (top-level members / every nested path)")
        print("\n".join(lines))
