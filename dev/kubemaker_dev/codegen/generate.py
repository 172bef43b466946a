"""Generates the API from the service models botocore ships: `python -m kubemaker_dev.codegen.generate`.

Writes, in this order:
  operator/kubemaker/api/shapes.py   pydantic models of the SageMaker request shapes we use (and a few
                                      response shapes reported in status)
  crds/*.yaml                        one CRD per kind, from the kind models (kubemaker_dev.codegen.crdgen)
  charts/kubemaker/crds/*.yaml       the same CRDs, for the Helm chart (Helm installs a chart's crds/ as is)
  docs/api-reference.md              the user reference, from the same models
  operator/kubemaker/aws/data/       the service models the operator's clients load: botocore's, with
                                      only the operations it calls (kubemaker_dev.codegen.servicemodels)

`--check` writes nothing and exits 1 when a committed file differs from a fresh run.
"""

from __future__ import annotations

import argparse
import html
import importlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore
import botocore.loaders
import pydantic

from kubemaker_dev.codegen import servicemodels

REPO_ROOT = Path(__file__).resolve().parents[3]
SHAPES_PATH = REPO_ROOT / "operator" / "kubemaker" / "api" / "shapes.py"
CRDS_DIR = REPO_ROOT / "crds"
CHART_CRDS_DIR = REPO_ROOT / "charts" / "kubemaker" / "crds"
REFERENCE_PATH = REPO_ROOT / "docs" / "api-reference.md"


@dataclass(frozen=True)
class SpecFields:
    """The members of one kind's spec, taken from the input shapes of its SageMaker create calls."""

    class_name: str
    operations: tuple[str, ...]
    # Members the operator supplies itself (EndpointConfigName, ClientRequestToken).
    excluded: frozenset[str] = frozenset()
    # Required by SageMaker but optional in the spec: derived names and members with a reference
    # alternative; the kind models say which rule replaces the requirement.
    optional: frozenset[str] = frozenset()


SPEC_FIELDS = (
    SpecFields("TrainingJobSpecFields", ("CreateTrainingJob",), optional=frozenset({"TrainingJobName"})),
    SpecFields(
        "HyperParameterTuningJobSpecFields",
        ("CreateHyperParameterTuningJob",),
        optional=frozenset({"HyperParameterTuningJobName"}),
    ),
    SpecFields("ModelSpecFields", ("CreateModel",), optional=frozenset({"ModelName"})),
    SpecFields(
        "EndpointSpecFields",
        ("CreateEndpointConfig", "CreateEndpoint"),
        excluded=frozenset({"EndpointConfigName"}),
        optional=frozenset({"EndpointName"}),
    ),
    SpecFields(
        "TransformJobSpecFields", ("CreateTransformJob",), optional=frozenset({"TransformJobName", "ModelName"})
    ),
    # UpdateInferenceComponent adds deploymentConfig: how a specification change rolls out.
    SpecFields(
        "InferenceComponentSpecFields",
        ("CreateInferenceComponent", "UpdateInferenceComponent"),
        optional=frozenset({"InferenceComponentName", "EndpointName"}),
    ),
    SpecFields("ProcessingJobSpecFields", ("CreateProcessingJob",), optional=frozenset({"ProcessingJobName"})),
    SpecFields(
        "ModelPackageGroupSpecFields", ("CreateModelPackageGroup",), optional=frozenset({"ModelPackageGroupName"})
    ),
    # A version in a group: SageMaker names it after the group and refuses tags on it (the group's apply).
    SpecFields(
        "ModelPackageSpecFields", ("CreateModelPackage",),
        excluded=frozenset({"ModelPackageName", "Tags", "ClientToken"}),
    ),
    SpecFields(
        "PipelineSpecFields",
        ("CreatePipeline",),
        excluded=frozenset({"ClientRequestToken"}),
        optional=frozenset({"PipelineName"}),
    ),
    SpecFields(
        "PipelineExecutionSpecFields",
        ("StartPipelineExecution",),
        excluded=frozenset({"ClientRequestToken"}),
        optional=frozenset({"PipelineName"}),
    ),
    SpecFields(
        "MonitoringScheduleSpecFields", ("CreateMonitoringSchedule",), optional=frozenset({"MonitoringScheduleName"})
    ),
    # A MonitoringSchedule's job definition: the operator names it, and tags it with the schedule's tags.
    *(
        SpecFields(f"{monitoring_type}JobDefinitionFields", (f"Create{monitoring_type}JobDefinition",),
                   excluded=frozenset({"JobDefinitionName", "Tags"}))
        for monitoring_type in ("DataQuality", "ModelQuality", "ModelBias", "ModelExplainability")
    ),
)

# Input shapes generated whole, for the in-place updates the controllers make.
UPDATE_OPERATIONS = ("UpdateTrainingJob", "UpdatePipeline", "UpdatePipelineExecution")

# Shapes of Describe* responses that status reports as they are: generated without enums, patterns
# or bounds, so a value SageMaker adds later never makes a status write fail.
STATUS_SHAPES = (
    "SecondaryStatusTransition",
    "MetricData",
    "DebugRuleEvaluationStatus",
    "ProfilerRuleEvaluationStatus",
    "ModelArtifacts",
    "TrainingJobStatusCounters",
    "ObjectiveStatusCounters",
    "HyperParameterTrainingJobSummary",
    "PipelineExecutionSummary",
    "MonitoringExecutionSummary",
)

# Application Auto Scaling shapes used by Endpoint autoScaling; prefixed to keep class names apart.
AUTOSCALING_SHAPES = ("CustomizedMetricSpecification",)
AUTOSCALING_PREFIX = "AutoScaling"

DESCRIPTION_MAX_CHARS = 200

# Regex features Go's RE2 (the API server's `pattern`) and Rust's regex (pydantic) lack: \uXXXX
# escapes, lookaround, backreferences, possessive quantifiers, POSIX-named \p{..} classes.
_UNSUPPORTED_REGEX = re.compile(r"\\u[0-9A-Fa-f]{4}|\(\?[=!<>]|\\[1-9]|[*+?}][+]|\\p\{(?!(?:L|Lu|Ll|Lt|Lm|Lo|N|Nd|Nl|No|Z|Zs|P|S)\})")
_TRIVIAL_REGEX_SAMPLES = ("x", "hello world", "Ünïcödé ✓", "a/b:c=d@e", "!#$%^&*()_+")


def lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def short_description(documentation: str | None) -> str:
    """The first sentence of a service model documentation string, without HTML, capped in length."""
    if not documentation:
        return ""
    text = re.sub(r"</?(?:p|li|ul|ol|br|note|important|dl|dt|dd|div|h\d)\b[^>]*>", " ", documentation)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    text = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(\s+[A-Z(]|$)", text)
    sentence = match.group(1) if match else text
    if len(sentence) > DESCRIPTION_MAX_CHARS:
        sentence = sentence[: DESCRIPTION_MAX_CHARS - 3].rsplit(" ", 1)[0].rstrip(",;:") + "..."
    return sentence


# RE2 refuses repeat counts above 1000.
_REPEAT_COUNT = re.compile(r"\{(\d+)(?:,(\d*))?\}")
RE2_MAX_REPEAT = 1000


def anchored_pattern(pattern: str | None) -> str | None:
    """The service model's pattern as a whole-value match, or None when it constrains nothing or uses a
    construct the API server's RE2 (or pydantic's regex engine) cannot compile."""
    if not pattern or _UNSUPPORTED_REGEX.search(pattern):
        return None
    counts = [int(count) for match in _REPEAT_COUNT.finditer(pattern) for count in match.groups() if count]
    if any(count > RE2_MAX_REPEAT for count in counts):
        return None
    try:
        compiled = re.compile(f"^(?:{pattern})$")
    except re.error:
        compiled = None  # \p{..} classes: Python's re lacks them, RE2 and Rust have them.
    if compiled and all(compiled.match(sample) for sample in _TRIVIAL_REGEX_SAMPLES):
        return None
    return f"^(?:{pattern})$" if not (pattern.startswith("^") and pattern.endswith("$")) else pattern


@dataclass
class ServiceShapes:
    """One service model's shapes, rendered as Python source on demand."""

    shapes: dict[str, Any]
    prefix: str = ""
    # Rendered source per emitted name, in dependency order.
    emitted: dict[str, str] = field(default_factory=dict)
    in_progress: set[str] = field(default_factory=set)
    # Whether each emitted class carries the service's constraints (request) or not (status).
    constrained_classes: dict[str, bool] = field(default_factory=dict)

    def type_of(self, shape_name: str, *, constrained: bool) -> str:
        """The annotation for a member of this shape, emitting the definitions it needs."""
        shape = self.shapes[shape_name]
        kind = shape["type"]
        if kind == "structure":
            return self.structure(shape_name, constrained=constrained)
        if kind == "list":
            item = self.type_of(shape["member"]["shape"], constrained=constrained)
            return self._sized(f"list[{item}]", shape, constrained)
        if kind == "map":
            key = self.type_of(shape["key"]["shape"], constrained=constrained)
            value = self.type_of(shape["value"]["shape"], constrained=constrained)
            return self._sized(f"dict[{key}, {value}]", shape, constrained)
        if kind == "string":
            return self._string(shape_name, shape, constrained)
        if kind in ("integer", "long"):
            return self._number("int", shape_name, shape, constrained)
        if kind in ("float", "double"):
            return self._number("float", shape_name, shape, constrained)
        if kind == "boolean":
            return "bool"
        if kind == "timestamp":
            return "datetime.datetime"
        if kind == "blob":
            return "Base64Bytes"
        raise ValueError(f"shape {shape_name}: unsupported type {kind}")

    def _sized(self, annotation: str, shape: dict[str, Any], constrained: bool) -> str:
        if not constrained or ("min" not in shape and "max" not in shape):
            return annotation
        return f"Annotated[{annotation}, Len({shape.get('min', 0)}, {shape.get('max')})]"

    def _string(self, shape_name: str, shape: dict[str, Any], constrained: bool) -> str:
        if not constrained:
            return "str"
        alias = self.prefix + shape_name
        if alias in self.emitted:
            return alias
        if shape.get("enum"):
            values = ", ".join(repr(value) for value in shape["enum"])
            self.emitted[alias] = f"{alias} = Literal[{values}]\n"
            return alias
        constraints = []
        if shape.get("min"):
            constraints.append(f"min_length={shape['min']}")
        if "max" in shape:
            constraints.append(f"max_length={shape['max']}")
        pattern = anchored_pattern(shape.get("pattern"))
        if pattern:
            constraints.append(f"pattern={pattern!r}")
        if not constraints:
            return "str"
        self.emitted[alias] = f"{alias} = Annotated[str, StringConstraints({', '.join(constraints)})]\n"
        return alias

    def _number(self, python_type: str, shape_name: str, shape: dict[str, Any], constrained: bool) -> str:
        if not constrained or ("min" not in shape and "max" not in shape):
            return python_type
        alias = self.prefix + shape_name
        if alias not in self.emitted:
            bounds = [f"{bound}={shape[key]!r}" for bound, key in (("ge", "min"), ("le", "max")) if key in shape]
            self.emitted[alias] = f"{alias} = Annotated[{python_type}, Interval({', '.join(bounds)})]\n"
        return alias

    def structure(self, shape_name: str, *, constrained: bool) -> str:
        class_name = self.prefix + shape_name
        if class_name in self.emitted:
            if self.constrained_classes[class_name] != constrained:
                raise ValueError(f"shape {shape_name} is used both in requests and as reported in status")
            return class_name
        if class_name in self.in_progress:
            # A structural schema cannot recurse: the inner occurrence is kept as written (in
            # SageMaker's PascalCase, like any free-form object) under preserve-unknown-fields.
            return "dict[str, Any]"
        self.in_progress.add(class_name)
        shape = self.shapes[shape_name]
        source = self.class_source(
            class_name,
            shape_name,
            shape.get("documentation"),
            [(name, member, name in shape.get("required", ())) for name, member in shape["members"].items()],
            constrained=constrained,
        )
        self.in_progress.discard(class_name)
        self.emitted[class_name] = source
        self.constrained_classes[class_name] = constrained
        return class_name

    def class_source(
        self,
        class_name: str,
        shape_name: str,
        documentation: str | None,
        members: list[tuple[str, dict[str, Any], bool]],
        *,
        constrained: bool,
    ) -> str:
        lines = [
            # A member spelled like a pydantic method (MonitoringDatasetFormat's Json: BaseModel.json)
            # is a field all the same, as SageMaker names it; pydantic's warning about it says nothing.
            "warnings.filterwarnings('ignore', " + repr(f'Field name "{lower_first(name)}" in "{class_name}"') + ")"
            for name, _, _ in members if hasattr(pydantic.BaseModel, lower_first(name))
        ]
        lines += [f"class {class_name}(ApiShape):", f"    {_docstring(short_description(documentation) or shape_name)}"]
        lines.append(f"    shape_name: ClassVar[str] = {shape_name!r}")
        wire_names = ", ".join(f"{lower_first(name)!r}: {name!r}" for name, _, _ in members)
        lines.append(f"    wire_names: ClassVar[dict[str, str]] = {{{wire_names}}}")
        for name, member, required in members:
            annotation = self.type_of(member["shape"], constrained=constrained)
            description = short_description(member.get("documentation") or self.shapes[member["shape"]].get("documentation"))
            arguments = [f"description={description!r}"] if description else []
            shadowing = "  # type: ignore[assignment]" if hasattr(pydantic.BaseModel, lower_first(name)) else ""
            if required:
                lines.append(f"    {lower_first(name)}: {annotation} = Field({', '.join(arguments)}){shadowing}")
            else:
                lines.append(
                    f"    {lower_first(name)}: {annotation} | None = Field({', '.join(['None', *arguments])}){shadowing}"
                )
        return "\n".join(lines) + "\n"


def _docstring(text: str) -> str:
    return '"""' + text.replace("\\", "\\\\").replace('"""', "'''") + '"""'


def spec_fields_source(sagemaker: ServiceShapes, operations: dict[str, Any], spec: SpecFields) -> str:
    """A class holding the members of the spec's create calls, and which call each belongs to."""
    members: dict[str, tuple[dict[str, Any], bool]] = {}
    by_operation: dict[str, tuple[str, ...]] = {}
    for operation in spec.operations:
        input_shape = sagemaker.shapes[operations[operation]["input"]["shape"]]
        kept = [name for name in input_shape["members"] if name not in spec.excluded]
        by_operation[operation] = tuple(lower_first(name) for name in kept)
        for name in kept:
            required = name in input_shape.get("required", ()) and name not in spec.optional
            members.setdefault(name, (input_shape["members"][name], required))
    source = sagemaker.class_source(
        spec.class_name,
        spec.class_name,
        f"The members of {' and '.join(spec.operations)} that the spec holds.",
        [(name, member, required) for name, (member, required) in members.items()],
        constrained=True,
    )
    return source + f"    operation_members: ClassVar[dict[str, tuple[str, ...]]] = {by_operation!r}\n"


def render_shapes(loader: botocore.loaders.Loader) -> str:
    sagemaker_model = loader.load_service_model("sagemaker", "service-2")
    operations = sagemaker_model["operations"]
    sagemaker = ServiceShapes(sagemaker_model["shapes"])

    for spec in SPEC_FIELDS:
        sagemaker.emitted[spec.class_name] = spec_fields_source(sagemaker, operations, spec)
    for operation in UPDATE_OPERATIONS:
        sagemaker.structure(operations[operation]["input"]["shape"], constrained=True)

    for shape_name in STATUS_SHAPES:
        sagemaker.structure(shape_name, constrained=False)

    autoscaling = ServiceShapes(
        loader.load_service_model("application-autoscaling", "service-2")["shapes"], prefix=AUTOSCALING_PREFIX
    )
    for shape_name in AUTOSCALING_SHAPES:
        autoscaling.structure(shape_name, constrained=True)
    clashes = set(sagemaker.emitted) & set(autoscaling.emitted)
    if clashes:
        raise ValueError(f"generated names clash: {sorted(clashes)}")

    header = f'''"""SageMaker and Application Auto Scaling shapes as pydantic models. GENERATED: do not edit.

Generated by `python -m kubemaker_dev.codegen.generate` from the service models of botocore {botocore.__version__}.
Members are the service's, with the first letter lowered; `wire_names` maps them back.
"""

# ruff: noqa: E501, F401
from __future__ import annotations

import datetime
import warnings
from typing import Annotated, Any, ClassVar, Literal

from annotated_types import Interval, Len
from pydantic import Base64Bytes, Field, StringConstraints

from kubemaker.api.base import ApiShape

BOTOCORE_VERSION = {botocore.__version__!r}
'''
    definitions = list(sagemaker.emitted.values()) + list(autoscaling.emitted.values())
    return header + "".join("\n\n" + definition for definition in definitions)


def render_all() -> dict[Path, str]:
    """Every generated file and its content. Imports the kinds, so shapes.py must be current first."""
    crdgen = importlib.import_module("kubemaker_dev.codegen.crdgen")
    reference = importlib.import_module("kubemaker_dev.codegen.reference")
    crds = crdgen.render_crds()
    files = {directory / name: text for directory in (CRDS_DIR, CHART_CRDS_DIR) for name, text in crds.items()}
    files[REFERENCE_PATH] = reference.render_reference()
    files.update(servicemodels.render())
    return files


def managed_dirs() -> dict[Path, str]:
    """Directories and the pattern of the files in them that are all generated: a file matching it that is
    not generated (a kind's CRD no more) is stale, and `make generate` removes it."""
    # The chart's crds/ may hold other files; ours are named <group>_<plural>.yaml.
    return {CRDS_DIR: "*.yaml", CHART_CRDS_DIR: "sagemaker.kubemaker.io_*.yaml",
            servicemodels.DATA_DIR: "*/*/service-2.json"}


def stale_files(expected: dict[Path, str], *, managed: dict[Path, str] | None = None) -> list[Path]:
    stale = [path for path, text in expected.items() if not path.exists() or path.read_text() != text]
    for directory, pattern in (managed or {}).items():
        stale += [path for path in sorted(directory.glob(pattern)) if path not in expected]
    return stale


def committed_botocore_version() -> str | None:
    match = re.search(r"^BOTOCORE_VERSION = '([^']+)'", SHAPES_PATH.read_text(), re.M) if SHAPES_PATH.exists() else None
    return match.group(1) if match else None


def check() -> list[Path]:
    """The generated files that differ from a fresh run (empty when everything is current).

    shapes.py is compared only when the installed botocore is the one it was generated from: another
    botocore has another service model, and that is an upgrade to make on purpose, not drift. The
    CRDs and the reference are always compared, since they derive from the committed shapes."""
    if committed_botocore_version() == botocore.__version__:
        if SHAPES_PATH.read_text() != render_shapes(botocore.loaders.Loader()):
            # The kinds import the committed shapes; the other outputs cannot be checked against them.
            return [SHAPES_PATH]
    elif not SHAPES_PATH.exists():
        return [SHAPES_PATH]
    return stale_files(render_all(), managed=managed_dirs())


def write() -> list[Path]:
    shapes_source = render_shapes(botocore.loaders.Loader())
    written = []
    if not SHAPES_PATH.exists() or SHAPES_PATH.read_text() != shapes_source:
        SHAPES_PATH.write_text(shapes_source)
        written.append(SHAPES_PATH)
    files = render_all()
    for path in stale_files(files, managed=managed_dirs()):
        if path in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(files[path])
        else:
            path.unlink()
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kubemaker_dev.codegen.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if a generated file is not current")
    args = parser.parse_args(argv)
    if args.check:
        committed = committed_botocore_version()
        if committed and committed != botocore.__version__:
            print(
                f"note: shapes.py is from botocore {committed}, {botocore.__version__} is installed: shapes.py "
                "not compared (run `make generate` to move to the installed service model)",
                file=sys.stderr,
            )
        stale = check()
        for path in stale:
            print(f"stale: {path.relative_to(REPO_ROOT)}", file=sys.stderr)
        if stale:
            print(
                f"run `make generate` (botocore {botocore.__version__}) and commit the result", file=sys.stderr
            )
        return 1 if stale else 0
    for path in write():
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
