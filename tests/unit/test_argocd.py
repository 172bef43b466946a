"""The Argo CD health checks, run by a Lua 5.1 runtime (Argo CD's gopher-lua is 5.1) on the objects of
their health_test.yaml, in Argo CD's own layout, and the generated files kept in sync."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import lupa.lua51 as lupa
import pytest
import yaml

from kubemaker.api.registry import KINDS
from tests.conftest import REPO_ROOT

HEALTH_DIR = REPO_ROOT / "argocd" / "health" / "sagemaker.kubemaker.io"
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


def health(kind: str, obj: dict) -> dict:
    """Runs the kind's health.lua as Argo CD does: the object as the global `obj`, a table back."""
    runtime = lupa.LuaRuntime()
    runtime.globals().obj = to_lua(runtime, obj)
    result = runtime.execute((HEALTH_DIR / kind / "health.lua").read_text())
    return dict(result.items())


def cases() -> list[tuple[str, dict]]:
    found = []
    for kind in KINDS:
        test_file = HEALTH_DIR / kind.kind / "health_test.yaml"
        for case in yaml.safe_load(test_file.read_text())["tests"]:
            found.append(pytest.param(kind.kind, case, id=f"{kind.kind}-{Path(case['inputPath']).stem}"))
    return found


@pytest.mark.parametrize("kind, case", cases())
def test_health_check_gives_the_expected_status_and_message(kind, case):
    obj = yaml.safe_load((HEALTH_DIR / kind / case["inputPath"]).read_text())
    assert obj["kind"] == kind
    assert health(kind, obj) == case["healthStatus"]


@pytest.mark.parametrize("kind", [kind.kind for kind in KINDS])
def test_every_kind_covers_healthy_progressing_degraded_and_stale(kind):
    tests = yaml.safe_load((HEALTH_DIR / kind / "health_test.yaml").read_text())["tests"]
    by_case = {Path(case["inputPath"]).stem: case["healthStatus"]["status"] for case in tests}
    for case, status in REQUIRED_CASES.items():
        assert by_case.get(case) == status, f"{kind}: testdata/{case}.yaml should be {status}"
    stale = yaml.safe_load((HEALTH_DIR / kind / "testdata" / "stale-generation.yaml").read_text())
    assert stale["status"]["observedGeneration"] < stale["metadata"]["generation"]
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in stale["status"]["conditions"]), (
        "the stale case should be Ready for an older generation: Healthy only if the generation is checked"
    )


def test_new_object_without_status_is_progressing():
    obj = {"apiVersion": "sagemaker.kubemaker.io/v1alpha1", "kind": "TrainingJob",
           "metadata": {"name": "new", "generation": 1}, "spec": {}}
    assert health("TrainingJob", obj) == {"status": "Progressing",
                                          "message": "Waiting for the operator to reconcile generation 1"}


def test_stalled_wins_over_ready_and_conditions_of_older_generations_are_ignored():
    conditions = [
        {"type": "Ready", "status": "True", "reason": "Completed", "observedGeneration": 1},
        {"type": "Stalled", "status": "True", "reason": "Old", "message": "from generation 1", "observedGeneration": 1},
    ]
    obj = {"kind": "Model", "metadata": {"generation": 2},
           "status": {"observedGeneration": 2, "conditions": conditions}}
    assert health("Model", obj) == {"status": "Progressing", "message": "Reconciling"}
    conditions[1]["observedGeneration"] = 2
    assert health("Model", obj) == {"status": "Degraded", "message": "Old: from generation 1"}


def test_generated_files_are_up_to_date():
    for path, text in load_generator().rendered_files().items():
        assert path.exists() and path.read_text() == text, f"{path} is stale: run python argocd/generate.py"


def test_argocd_cm_snippet_has_every_kind_and_the_same_lua():
    configmap = yaml.safe_load((REPO_ROOT / "argocd" / "argocd-cm.yaml").read_text())
    values = yaml.safe_load((REPO_ROOT / "argocd" / "argo-cd-values.yaml").read_text())
    for kind in KINDS:
        key = f"resource.customizations.health.sagemaker.kubemaker.io_{kind.kind}"
        lua = (HEALTH_DIR / kind.kind / "health.lua").read_text()
        assert configmap["data"][key] == lua
        assert values["configs"]["cm"][key] == lua
