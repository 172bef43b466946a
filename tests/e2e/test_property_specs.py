"""Property: whatever spec a user writes, the API server refuses it with a message, or the object
ends Ready or Stalled with a message; the operator never crashes and never loops hot.

For TrainingJob, Model, Endpoint and Pipeline, specs are generated from the kind's CRD schema over a
working spec (so they reach the operator and SageMaker), then some are corrupted (so the API server
and SageMaker have something to refuse). References are pointed at objects that exist: waiting for
one that never comes is the documented behaviour, not an outcome to check here."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Callable

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO_ROOT
from tests.e2e.helpers import apply, assert_no_hot_loop, condition, wait_for
from tests.e2e.hosting import model, ready, variant
from tests.e2e.test_pipeline import definition
from tests.e2e.test_trainingjob import training_job

ALLOWED_ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
MAX_OPTIONAL_MEMBERS = 3
MAX_DEPTH = 4
# Objects that generated references point at, created before the examples of the kinds that need them.
SOURCE_JOB, SOURCE_MODEL = "prop-source-job", "prop-source-model"
REFERENCES = {"trainingJobRef": SOURCE_JOB}


def spec_schema(plural: str) -> dict:
    crd = yaml.safe_load((REPO_ROOT / "crds" / f"sagemaker.kubemaker.io_{plural}.yaml").read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def strings(schema: dict) -> st.SearchStrategy:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    low, high = schema.get("minLength", 0), min(schema.get("maxLength", 40), 40)
    if "pattern" in schema and "\\p{" not in schema["pattern"]:  # Python's re has no \p{...} classes
        return st.from_regex(schema["pattern"], fullmatch=True, alphabet=st.characters(codec="ascii", exclude_categories=("Cc",))).filter(lambda s: low <= len(s) <= schema.get("maxLength", 10**6))
    return st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=low, max_size=max(low, high))


def values(schema: dict, depth: int = 0) -> st.SearchStrategy:
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        if not properties:
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and depth < MAX_DEPTH:
                return st.dictionaries(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,10}", fullmatch=True),
                                       values(extra, depth + 1), max_size=3)
            return st.just({})
        required = [name for name in schema.get("required", []) if name in properties]
        optional = sorted(set(properties) - set(required)) if depth < MAX_DEPTH else []
        chosen = st.lists(st.sampled_from(optional), max_size=MAX_OPTIONAL_MEMBERS, unique=True) if optional \
            else st.just([])
        return st.fixed_dictionaries({name: values(properties[name], depth + 1) for name in required}).flatmap(
            lambda base: chosen.flatmap(
                lambda names: st.fixed_dictionaries({n: values(properties[n], depth + 1) for n in names}).map(
                    lambda more: {**base, **more})))
    if kind == "array":
        return st.lists(values(schema.get("items", {}), depth + 1), min_size=schema.get("minItems", 0),
                        max_size=min(schema.get("maxItems", 3), 3))
    if kind == "string":
        return strings(schema)
    if kind == "integer":
        return st.integers(schema.get("minimum", -10), min(schema.get("maximum", 10**6), 10**6))
    if kind == "number":
        return st.floats(schema.get("minimum", -10), min(schema.get("maximum", 10**6), 10**6), allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    return st.just("x")


def pointed_at_sources(value):
    """`value` with every generated reference naming an object that exists."""
    if isinstance(value, dict):
        return {key: {"name": REFERENCES[key]} if key in REFERENCES else pointed_at_sources(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [pointed_at_sources(item) for item in value]
    return value


Corruption = Callable[[dict], object]


def common_corruptions(role: str) -> list[Corruption]:
    """What a user gets wrong in any kind: a role the namespace may not use, unicode where SageMaker
    wants ASCII, as many unicode tags as the API server takes at their longest, tags of the wrong type."""
    return [
        lambda spec: spec.update({role: "arn:aws:iam::123456789012:role/Admin"}),
        lambda spec: spec.update({role: "arn:aws:iam::１２３４５６７８９０１２:role/ｕｎｉｃｏｄｅ"}),
        lambda spec: spec.update(tags=[{"key": f"größe-{i}", "value": "ü" * 256} for i in range(46)]),
        lambda spec: spec.update(tags={"größe": "ü→✓"}),
    ]


def variants_on_the_source_model(spec: dict) -> None:
    """A variant naming a SageMaker model that does not exist is Stalled by SageMaker's refusal:
    every generated variant serves the source Model instead."""
    for variant_spec in spec["productionVariants"] + spec.get("shadowProductionVariants", []):
        variant_spec.pop("modelName", None)
        variant_spec["modelRef"] = {"name": SOURCE_MODEL}


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    base: dict  # a working spec
    role: str  # the spec member naming the IAM role the namespace policy checks
    corruptions: list[Corruption]
    needs: tuple[dict, ...] = ()  # objects that must be Ready before the examples
    fix: Callable[[dict], None] = lambda spec: None  # applied to every generated spec


KINDS = [
    Kind("TrainingJob", "trainingjobs", training_job("x")["spec"], "roleArn", [
        lambda spec: spec["resourceConfig"].update(instanceType="ml.not-a-type"),
        lambda spec: spec.pop("roleArn"),
        lambda spec: spec.update(hyperParameters={"depth": 7}),
        lambda spec: spec.update(hyperParameters={f"größe_{i}": "ü→✓" * 300 for i in range(100)}),
    ]),
    Kind("Model", "models", model("x")["spec"], "executionRoleArn", [
        lambda spec: spec.update(inferenceExecutionConfig={"mode": "Sideways"}),
        lambda spec: spec.pop("primaryContainer", None),
        lambda spec: spec.update(primaryContainer={"image": "ｕｎｉｃｏｄｅ:→✓", "modelDataUrl": "s3://ü/→"}),
    ], needs=(training_job(SOURCE_JOB),)),
    Kind("Endpoint", "endpoints", {"productionVariants": [variant("main", SOURCE_MODEL)]}, "executionRoleArn", [
        lambda spec: spec["productionVariants"][0].update(instanceType="ml.not-a-type"),
        lambda spec: spec.update(productionVariants=[]),
        lambda spec: spec["productionVariants"][0].update(initialVariantWeight="heavy"),
        lambda spec: spec["productionVariants"][0].pop("modelRef"),
    ], needs=(model(SOURCE_MODEL),), fix=variants_on_the_source_model),
    Kind("Pipeline", "pipelines", {"roleArn": ALLOWED_ROLE, "pipelineDefinition": definition("Train")}, "roleArn", [
        lambda spec: spec.update(pipelineDefinition="{not json"),
        lambda spec: spec.update(pipelineDefinition=["Steps"]),
        lambda spec: spec.update(parallelismConfiguration={"maxParallelExecutionSteps": 0}),
    ]),
]


def corruptions(kind: Kind) -> list[Corruption | None]:
    """Each corruption once and two specs left alone, taken in turn: hypothesis' first examples are
    its simplest, so a sampled corruption would mostly be the first one."""
    return [None, *common_corruptions(kind.role), None, *kind.corruptions]


counter = itertools.count()


def settled(kubectl, resource: str, namespace: str, name: str) -> dict | None:
    obj = json.loads(kubectl("get", resource, name, "-n", namespace, "-o", "json").stdout)
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"]["generation"]:
        return None
    for condition_type in ("Ready", "Stalled"):
        if condition(obj, condition_type).get("status") == "True":
            return obj
    return None


@pytest.mark.parametrize("kind", KINDS, ids=[kind.kind for kind in KINDS])
def test_any_spec_is_refused_or_ends_ready_or_stalled(kind, operator, emulator, kubectl, namespace):
    resource = f"{kind.plural}.sagemaker.kubemaker.io"
    for needed in kind.needs:
        apply(kubectl, needed, namespace)
    for needed in kind.needs:
        wait_for(lambda: ready(kubectl, needed["kind"].lower(), namespace, needed["metadata"]["name"]),
                 timeout=60, what=f"{needed['kind']} {needed['metadata']['name']} Ready")
    outcomes: list[str] = []

    in_turn = itertools.cycle(corruptions(kind))

    # No shrinking: every step would wait out the timeout; a failure shows the whole object.
    @settings(max_examples=len(corruptions(kind)), deadline=None, database=None, derandomize=True,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(values(spec_schema(kind.plural)))
    def check(generated):
        corrupt = next(in_turn)
        # Generated members over a working spec, so some reach Ready; generated roles would only
        # meet the namespace policy, so an allowed one lets specs reach SageMaker.
        spec = json.loads(json.dumps({**kind.base, **pointed_at_sources(generated)}))
        if kind.role in spec:
            spec[kind.role] = ALLOWED_ROLE
        kind.fix(spec)
        if corrupt:
            corrupt(spec)
        name = f"prop-{next(counter)}"
        manifest = {"apiVersion": "sagemaker.kubemaker.io/v1alpha1", "kind": kind.kind,
                    "metadata": {"name": name, "namespace": namespace}, "spec": spec}
        applied = kubectl("apply", "-f", "-", input=json.dumps(manifest), check=False)
        if applied.returncode != 0:
            assert "spec" in applied.stderr, applied.stderr
            outcomes.append("refused")
            return
        obj = wait_for(lambda: settled(kubectl, resource, namespace, name), timeout=60, interval=0.5,
                       what=lambda: kubectl("get", resource, name, "-n", namespace, "-o", "yaml").stdout)
        ready_condition, stalled = condition(obj, "Ready"), condition(obj, "Stalled")
        assert (stalled or ready_condition).get("message"), obj["status"]
        outcomes.append("ready" if ready_condition.get("status") == "True" else f"stalled:{stalled.get('reason')}")

    check()
    assert operator.process.poll() is None, "the operator died"
    assert {"refused"} < set(outcomes) | {"refused"}, outcomes
    assert_no_hot_loop(emulator, outcomes)
