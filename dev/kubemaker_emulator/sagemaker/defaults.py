"""What SageMaker fills in when a request leaves a member out, written once, per shape.

A default belongs to a shape of the service model (OutputDataConfig, ProductionVariant, the
DescribeEndpointConfig answer itself), so it holds wherever that shape is answered: an
OutputDataConfig gets CompressionType GZIP in a training job's description and in each of a tuning
job's training job definitions alike. Every SageMaker answer goes through `fill_defaults` before it
leaves the emulator; a member the request set is never replaced.

Each default says where it comes from:
- `stated`: the words of the AWS API Reference page (`page_of` the documenting shape) that give the
  default. That text is the documentation botocore ships, and a test checks the quote is in it.
- `answered`: AWS leaves the default unstated on the page but answers the member when the request
  left it out (clients wait for it: the issue behind this table was a controller that polled
  DescribeEndpointConfig forever for EnableNetworkIsolation).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from botocore.model import Shape

from kubemaker_emulator.servicemodel import load_service_model

API_REFERENCE = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_{}.html"
# The shapes of a request and of an answer are documented on their operation's page.
OPERATION_SHAPE_SUFFIXES = ("Request", "Response", "Input", "Output")

# The value of a default, or a function of (the structure, the whole answer) giving it, or None
# when there is none for that structure.
Value = Any | Callable[[dict[str, Any], dict[str, Any]], Any]


@dataclass(frozen=True)
class Default:
    member: str
    value: Value
    # Where the default is documented: (shape, member) of the service model, default this one.
    documented_at: tuple[str, str] | None = None
    stated: str | None = None
    answered: str | None = None

    def value_for(self, structure: dict[str, Any], answer: dict[str, Any]) -> Any:
        return self.value(structure, answer) if callable(self.value) else copy.deepcopy(self.value)


def page_of(shape_name: str) -> str:
    for suffix in OPERATION_SHAPE_SUFFIXES:
        if shape_name.endswith(suffix):
            return API_REFERENCE.format(shape_name[: -len(suffix)])
    return API_REFERENCE.format(shape_name)


def _profiler_output_path(profiler: dict[str, Any], answer: dict[str, Any]) -> str | None:
    if profiler.get("DisableProfiler"):
        return None
    return (answer.get("OutputDataConfig") or {}).get("S3OutputPath")


_NOT_ISOLATED = "AWS answers false when the request leaves it out"
_SYSTEM_MONITORING = (
    "Debugger's system monitoring is on unless the request turns it off: AWS answers a ProfilerConfig "
    "writing next to the job's output every 500 ms"
)

# Shape name -> its defaults. Top-level answers are keyed by their output shape.
DEFAULTS: dict[str, tuple[Default, ...]] = {
    "DescribeTrainingJobResponse": (
        Default(
            "EnableNetworkIsolation",
            False,
            ("CreateTrainingJobRequest", "EnableNetworkIsolation"),
            answered=_NOT_ISOLATED,
        ),
        Default(
            "EnableInterContainerTrafficEncryption",
            False,
            ("CreateTrainingJobRequest", "EnableInterContainerTrafficEncryption"),
            answered=_NOT_ISOLATED,
        ),
        Default(
            "EnableManagedSpotTraining",
            False,
            ("CreateTrainingJobRequest", "EnableManagedSpotTraining"),
            answered=_NOT_ISOLATED,
        ),
        Default(
            "HyperParameters",
            {},
            ("CreateTrainingJobRequest", "HyperParameters"),
            answered="AWS answers an empty map for a job created without hyperparameters",
        ),
        Default(
            "Environment",
            {},
            ("CreateTrainingJobRequest", "Environment"),
            answered="AWS answers an empty map for a job created without environment variables",
        ),
        Default("ProfilerConfig", {}, ("CreateTrainingJobRequest", "ProfilerConfig"), answered=_SYSTEM_MONITORING),
        Default(
            "StoppingCondition",
            {},
            ("CreateTrainingJobRequest", "StoppingCondition"),
            answered="DescribeTrainingJob always answers one (its shape requires it), with the 1-day limit",
        ),
    ),
    "AlgorithmSpecification": (Default("EnableSageMakerMetricsTimeSeries", False, stated="The default is false"),),
    "OutputDataConfig": (
        Default("CompressionType", "GZIP", stated="Defaults to gzip."),
        Default(
            "KmsKeyId", "", answered="AWS answers an empty KmsKeyId when SageMaker uses the account's default S3 key"
        ),
    ),
    "Channel": (
        Default("CompressionType", "None", stated="The default value is None."),
        Default(
            "RecordWrapperType",
            "None",
            answered="the page says to leave it unset or None in File mode; AWS answers None",
        ),
    ),
    "S3DataSource": (
        Default(
            "S3DataDistributionType",
            "FullyReplicated",
            answered="AWS answers FullyReplicated, replicating the whole dataset on every instance",
        ),
    ),
    "StoppingCondition": (Default("MaxRuntimeInSeconds", 86400, stated="The default value is 1 day."),),
    "ProfilerConfig": (
        Default("S3OutputPath", _profiler_output_path, answered=_SYSTEM_MONITORING),
        Default(
            "ProfilingIntervalInMilliseconds",
            lambda profiler, answer: None if profiler.get("DisableProfiler") else 500,
            stated="The default value is 500 milliseconds.",
        ),
        Default("DisableProfiler", False, answered=_SYSTEM_MONITORING),
    ),
    "HyperParameterTuningJobConfig": (
        Default("TrainingJobEarlyStoppingType", "Off", stated="(the default value is OFF)"),
    ),
    "HyperParameterTrainingJobDefinition": (
        Default("EnableNetworkIsolation", False, answered=_NOT_ISOLATED),
        Default("EnableInterContainerTrafficEncryption", False, answered=_NOT_ISOLATED),
        Default("EnableManagedSpotTraining", False, answered=_NOT_ISOLATED),
    ),
    "DescribeModelOutput": (
        Default(
            "EnableNetworkIsolation", False, ("CreateModelInput", "EnableNetworkIsolation"), answered=_NOT_ISOLATED
        ),
    ),
    "ContainerDefinition": (
        Default("Mode", "SingleModel", answered="AWS answers SingleModel for a container created without a Mode"),
        Default(
            "Environment", {}, answered="AWS answers an empty map for a container created without environment variables"
        ),
    ),
    "DescribeEndpointConfigOutput": (
        Default(
            "EnableNetworkIsolation",
            False,
            ("CreateEndpointConfigInput", "EnableNetworkIsolation"),
            answered=_NOT_ISOLATED + "; clients such as the ACK controller wait for it",
        ),
    ),
    "ProductionVariant": (Default("InitialVariantWeight", 1.0, stated="If unspecified, it defaults to 1.0."),),
    "DataCaptureConfig": (Default("EnableCapture", True, stated="defaults to enabled"),),
    "DescribeTransformJobResponse": (
        Default(
            "Environment",
            {},
            ("CreateTransformJobRequest", "Environment"),
            answered="AWS answers an empty map for a job created without environment variables",
        ),
        Default(
            "MaxPayloadInMB", 6, ("CreateTransformJobRequest", "MaxPayloadInMB"), stated="The default value is 6 MB."
        ),
        Default(
            "DataProcessing",
            {},
            ("CreateTransformJobRequest", "DataProcessing"),
            answered="AWS answers the DataProcessing it applies (filters $, no join) for every job",
        ),
    ),
    "TransformInput": (
        Default("CompressionType", "None", stated="The default value is None."),
        Default("SplitType", "None", stated="The default value for SplitType is None"),
    ),
    "TransformOutput": (
        Default("AssembleWith", "None", answered="AWS answers None (results concatenated in binary) when left out"),
    ),
    "DataProcessing": (
        Default("InputFilter", "$", stated="accept the default value $"),
        Default("OutputFilter", "$", stated="leave the default value, $"),
        Default("JoinSource", "None", stated="The default value is None"),
    ),
    "ModelClientConfig": (
        Default("InvocationsTimeoutInSeconds", 600, stated="The default value is 600."),
        Default("InvocationsMaxRetries", 3, stated="The default value is 3."),
    ),
}


def documentation_source(shape_name: str, default: Default) -> tuple[str, str]:
    """(shape, member) whose documentation states or describes the default."""
    return default.documented_at or (shape_name, default.member)


def default_value(shape_name: str, member: str) -> Any:
    """A constant default, for the emulator's own logic (a job's runtime limit)."""
    for default in DEFAULTS.get(shape_name, ()):
        if default.member == member and not callable(default.value):
            return copy.deepcopy(default.value)
    raise KeyError(f"{shape_name}.{member} has no constant default")


def fill_defaults(shape: Shape | None, value: Any, answer: Any = None) -> Any:
    """`value` (an answer of `shape`) with the defaults of every structure in it filled in, as new
    objects: the emulator's own state is left as it is."""
    if shape is None or not _reaches_defaults(shape):
        return value
    answer = value if answer is None else answer
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        filled = {
            name: fill_defaults(shape.members[name], item, answer) if name in shape.members else item
            for name, item in value.items()
        }
        for default in DEFAULTS.get(shape.name, ()):
            if filled.get(default.member) is None:
                item = default.value_for(filled, answer)
                if item is not None:
                    filled[default.member] = fill_defaults(shape.members[default.member], item, answer)
        return filled
    if kind == "list" and isinstance(value, list):
        return [fill_defaults(shape.member, item, answer) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: fill_defaults(shape.value, item, answer) for key, item in value.items()}
    return value


def warm_up() -> None:
    """Finds the shapes defaults reach now, not during the first answer."""
    _shapes_reaching_defaults()


def _reaches_defaults(shape: Shape) -> bool:
    return shape.name in _shapes_reaching_defaults()


@lru_cache(maxsize=1)
def _shapes_reaching_defaults() -> frozenset[str]:
    """The SageMaker shapes from which some default can be reached: the others are passed as they are."""
    model = load_service_model("sagemaker")
    children: dict[str, set[str]] = {}
    for name in model.shape_names:
        shape = model.shape_for(name)
        if shape.type_name == "structure":
            children[name] = {member.name for member in shape.members.values()}
        elif shape.type_name == "list":
            children[name] = {shape.member.name}
        elif shape.type_name == "map":
            children[name] = {shape.value.name}
    reaching = set(DEFAULTS)
    grown = True
    while grown:
        grown = False
        for name, below in children.items():
            if name not in reaching and below & reaching:
                reaching.add(name)
                grown = True
    return frozenset(reaching)
