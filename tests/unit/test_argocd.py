"""The Argo CD health check, one script for every kind under Argo CD's wildcard, run by a Lua 5.1 runtime
(Argo CD's gopher-lua is 5.1) on the objects of its health_test.yaml, in Argo CD's own layout
(`<group>/_/`, with a testdata directory per kind), and the generated files kept in sync."""

from __future__ import annotations

import fnmatch
import importlib.util
from pathlib import Path

import lupa.lua51 as lupa
import pytest
import yaml

from kubemaker import API_GROUP
from kubemaker.api.registry import KINDS
from tests.conftest import REPO_ROOT

HEALTH_DIR = REPO_ROOT / "argocd" / "health" / API_GROUP / "_"
WILDCARD_KEY = f"{API_GROUP}/*"
# Every kind must show each of these, from objects captured in a real run (argocd/capture.py).
REQUIRED_CASES = {"healthy": "Healthy", "progressing": "Progressing", "degraded": "Degraded",
                  "stale-generation": "Progressing"}


def load_generator():
    spec = importlib.util.spec_from_file_location("argocd_generate", REPO_ROOT / "argocd" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def to_lua(runtime, value):
    if isinstance(value, dict):
        return runtime.table_from({key: to_lua(runtime, item) for key, item in value.items()})
    if isinstance(value, list):
        return runtime.table_from([to_lua(runtime, item) for item in value])
    return value


def health(obj: dict) -> dict:
    """Runs health.lua as Argo CD does: the object as the global `obj`, a table back."""
    runtime = lupa.LuaRuntime()
    runtime.globals().obj = to_lua(runtime, obj)
    result = runtime.execute((HEALTH_DIR / "health.lua").read_text())
    return dict(result.items())


def health_tests() -> list[dict]:
    return yaml.safe_load((HEALTH_DIR / "health_test.yaml").read_text())["tests"]


def case_kind(case: dict) -> str:
    """The kind a case is for: its testdata sits in testdata/<Kind>/."""
    return Path(case["inputPath"]).parent.name


def cases() -> list:
    return [pytest.param(case_kind(case), case, id=f"{case_kind(case)}-{Path(case['inputPath']).stem}")
            for case in health_tests()]


@pytest.mark.parametrize("kind, case", cases())
def test_health_check_gives_the_expected_status_and_message(kind, case):
    obj = yaml.safe_load((HEALTH_DIR / case["inputPath"]).read_text())
    assert obj["kind"] == kind
    assert health(obj) == case["healthStatus"]


@pytest.mark.parametrize("kind", [kind.kind for kind in KINDS])
def test_every_kind_covers_healthy_progressing_degraded_and_stale(kind):
    by_case = {Path(case["inputPath"]).stem: case["healthStatus"]["status"]
               for case in health_tests() if case_kind(case) == kind}
    for case, status in REQUIRED_CASES.items():
        assert by_case.get(case) == status, f"{kind}: testdata/{kind}/{case}.yaml should be {status}"
    stale = yaml.safe_load((HEALTH_DIR / "testdata" / kind / "stale-generation.yaml").read_text())
    assert stale["status"]["observedGeneration"] < stale["metadata"]["generation"]
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in stale["status"]["conditions"]), (
        "the stale case should be Ready for an older generation: Healthy only if the generation is checked"
    )


def test_every_captured_object_is_a_case():
    captured = {path.relative_to(HEALTH_DIR).as_posix() for path in (HEALTH_DIR / "testdata").rglob("*.yaml")}
    assert captured == {case["inputPath"] for case in health_tests()}


def test_new_object_without_status_is_progressing():
    obj = {"apiVersion": "sagemaker.kubemaker.io/v1alpha1", "kind": "TrainingJob",
           "metadata": {"name": "new", "generation": 1}, "spec": {}}
    assert health(obj) == {"status": "Progressing", "message": "Waiting for the operator to reconcile generation 1"}


def test_stalled_wins_over_ready_and_conditions_of_older_generations_are_ignored():
    conditions = [
        {"type": "Ready", "status": "True", "reason": "Completed", "observedGeneration": 1},
        {"type": "Stalled", "status": "True", "reason": "Old", "message": "from generation 1", "observedGeneration": 1},
    ]
    obj = {"kind": "Model", "metadata": {"generation": 2},
           "status": {"observedGeneration": 2, "conditions": conditions}}
    assert health(obj) == {"status": "Progressing", "message": "Reconciling"}
    conditions[1]["observedGeneration"] = 2
    assert health(obj) == {"status": "Degraded", "message": "Old: from generation 1"}


def test_a_kind_the_script_does_not_list_gets_the_kstatus_reading():
    """The wildcard also matches a kind added after the script was generated: no state word, but right."""
    ready = {"type": "Ready", "status": "True", "reason": "Completed", "message": "done", "observedGeneration": 1}
    obj = {"kind": "FeatureGroup", "metadata": {"generation": 1},
           "status": {"observedGeneration": 1, "featureGroupStatus": "Created", "conditions": [ready]}}
    assert health(obj) == {"status": "Healthy", "message": "Completed: done"}


def test_generated_files_are_up_to_date():
    for path, text in load_generator().rendered_files().items():
        assert path.exists() and path.read_text() == text, f"{path} is stale: run python argocd/generate.py"


def test_argocd_cm_and_helm_values_carry_the_script_under_the_wildcard_key_of_every_kind():
    configmap = yaml.safe_load((REPO_ROOT / "argocd" / "argocd-cm.yaml").read_text())
    values = yaml.safe_load((REPO_ROOT / "argocd" / "argo-cd-values.yaml").read_text())
    lua = (HEALTH_DIR / "health.lua").read_text()
    for data in (configmap["data"], values["configs"]["cm"]):
        assert list(data) == ["resource.customizations"], "no per-kind resource.customizations.health.* keys"
        assert yaml.safe_load(data["resource.customizations"]) == {WILDCARD_KEY: {"health.lua": lua}}
    for kind in KINDS:
        assert fnmatch.fnmatchcase(f"{API_GROUP}/{kind.kind}", WILDCARD_KEY)
