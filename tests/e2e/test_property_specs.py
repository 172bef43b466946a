"""Property: whatever spec a user writes, the API server refuses it with a message, or the object
ends Ready or Stalled with a message; the operator never crashes and never loops hot.

Specs are generated from the TrainingJob CRD's own schema (so they reach the operator and SageMaker),
then some are corrupted (so the API server and SageMaker have something to refuse)."""

from __future__ import annotations

import itertools
import json
import time

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO_ROOT
from tests.e2e.helpers import condition, wait_for
from tests.e2e.test_trainingjob import training_job

ALLOWED_ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
MAX_OPTIONAL_MEMBERS = 3
MAX_DEPTH = 4


def spec_schema() -> dict:
    crd = yaml.safe_load((REPO_ROOT / "crds" / "sagemaker.kubemaker.io_trainingjobs.yaml").read_text())
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


def corrupted(spec: dict, how: int) -> dict:
    """Something a user gets wrong: a wrong enum, a missing required member, a wrong type, a role
    the namespace may not use, oversized unicode values."""
    spec = json.loads(json.dumps(spec))
    if how == 1:
        spec.setdefault("resourceConfig", {})["instanceType"] = "ml.not-a-type"
    elif how == 2:
        spec.pop("roleArn", None)
    elif how == 3:
        spec["hyperParameters"] = {"depth": 7}
    elif how == 4:
        spec["roleArn"] = "arn:aws:iam::123456789012:role/Admin"
    elif how == 5:
        spec["hyperParameters"] = {f"größe_{i}": "ü→✓" * 300 for i in range(100)}
    elif how == 6:
        spec["roleArn"] = "arn:aws:iam::１２３４５６７８９０１２:role/ｕｎｉｃｏｄｅ"
    return spec


SPECS = values(spec_schema()).flatmap(lambda spec: st.tuples(st.just(spec), st.sampled_from([0, 0, 0, 1, 2, 3, 4, 5, 6])))
counter = itertools.count()


def settled(kubectl, namespace: str, name: str) -> dict | None:
    obj = json.loads(kubectl("get", "trainingjob", name, "-n", namespace, "-o", "json").stdout)
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"]["generation"]:
        return None
    for condition_type in ("Ready", "Stalled"):
        if condition(obj, condition_type).get("status") == "True":
            return obj
    return None


def test_any_spec_is_refused_or_ends_ready_or_stalled(operator, emulator, kubectl, namespace):
    outcomes: list[str] = []

    @settings(max_examples=12, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(SPECS)
    def check(case):
        generated, corruption = case
        # Generated members over a working spec, so some reach Ready; generated roles would only
        # meet the namespace policy, so an allowed one lets specs reach SageMaker.
        spec = corrupted({**training_job("x")["spec"], **generated, "roleArn": ALLOWED_ROLE}, corruption)
        name = f"prop-{next(counter)}"
        manifest = {"apiVersion": "sagemaker.kubemaker.io/v1alpha1", "kind": "TrainingJob",
                    "metadata": {"name": name, "namespace": namespace}, "spec": spec}
        applied = kubectl("apply", "-f", "-", input=json.dumps(manifest), check=False)
        if applied.returncode != 0:
            assert "spec" in applied.stderr, applied.stderr
            outcomes.append("refused")
            return
        obj = wait_for(lambda: settled(kubectl, namespace, name), timeout=60, interval=0.5,
                       what=lambda: kubectl("get", "trainingjob", name, "-n", namespace, "-o", "yaml").stdout)
        ready, stalled = condition(obj, "Ready"), condition(obj, "Stalled")
        assert (stalled or ready).get("message"), obj["status"]
        outcomes.append("ready" if ready.get("status") == "True" else f"stalled:{stalled.get('reason')}")

    check()
    assert operator.process.poll() is None, "the operator died"
    assert {"refused"} < set(outcomes) | {"refused"}, outcomes
    # No hot loop: with everything settled, the operator's SageMaker calls stay at polling level.
    emulator.control.reset_call_counts()
    time.sleep(3)
    calls = sum(emulator.control.call_counts()["calls"].get("sagemaker", {}).values())
    assert calls < 30, f"{calls} SageMaker calls in 3 s with nothing to do: {outcomes}"
