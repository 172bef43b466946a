"""The components and the example pipeline compiled by the real kfp SDK.

kfp pins kubernetes<31 and the operator needs a newer client, so the SDK lives in a virtualenv of its
own, made once in the kubemaker cache (a minute or two the first time, from PyPI); the authoring
modules import only kfp and each other.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubemaker_dev.binaries import cache_root
from tests.conftest import REPO_ROOT

KFP_VERSION = "2.17.0"
COMPONENT_YAML_DIR = REPO_ROOT / "operator" / "kubemaker" / "kfp" / "yaml"


@pytest.fixture(scope="module")
def kfp_python() -> Path:
    venv = cache_root().parent / f"kfp-{KFP_VERSION}"
    python = venv / "bin" / "python"
    if not python.exists():
        partial = venv.with_name(f"{venv.name}.partial-{os.getpid()}")
        subprocess.run([sys.executable, "-m", "venv", str(partial)], check=True, timeout=120)
        subprocess.run([str(partial / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                        f"kfp=={KFP_VERSION}"], check=True, timeout=900)
        try:
            partial.rename(venv)
        except OSError:  # another run made it first
            shutil.rmtree(partial, ignore_errors=True)
    return python


def run_with_kfp(kfp_python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "operator")}
    env.pop("KUBEMAKER_KFP_IMAGE", None)
    result = subprocess.run([str(kfp_python), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


def test_example_pipeline_compiles_to_train_register_serve(kfp_python, tmp_path):
    run_with_kfp(kfp_python, "-m", "kubemaker.kfp.example_pipeline", str(tmp_path / "pipeline.yaml"), cwd=tmp_path)
    pipeline = yaml.safe_load((tmp_path / "pipeline.yaml").read_text())
    tasks = pipeline["root"]["dag"]["tasks"]
    assert set(tasks) == {"training-job", "model", "endpoint"}
    assert tasks["model"]["inputs"]["parameters"]["model_data_url"]["taskOutputParameter"] == {
        "outputParameterKey": "model_artifact_uri", "producerTask": "training-job"}
    assert tasks["endpoint"]["dependentTasks"] == ["model"]
    kinds = {name: yaml.safe_load(task["inputs"]["parameters"]["manifest"]["runtimeValue"]["constant"])["kind"]
             for name, task in tasks.items()}
    assert kinds == {"training-job": "TrainingJob", "model": "Model", "endpoint": "Endpoint"}
    for executor in pipeline["deploymentSpec"]["executors"].values():
        assert executor["container"]["command"] == ["python", "-m", "kubemaker.kfp"]
        assert executor["container"]["image"] == "ghcr.io/kubemaker/kubemaker:0.1.0"


def test_component_yaml_is_what_the_python_api_compiles_to(kfp_python, tmp_path):
    # The generator writes next to the module; compile a copy of the package so the tree stays as it is.
    package = tmp_path / "operator"
    shutil.copytree(REPO_ROOT / "operator" / "kubemaker", package / "kubemaker",
                    ignore=shutil.ignore_patterns("__pycache__", "yaml"))
    env = {**os.environ, "PYTHONPATH": str(package)}
    env.pop("KUBEMAKER_KFP_IMAGE", None)
    result = subprocess.run([str(kfp_python), "-m", "kubemaker.kfp.components"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    compiled = {path.name: path.read_text() for path in (package / "kubemaker" / "kfp" / "yaml").glob("*.yaml")}
    committed = {path.name: path.read_text() for path in COMPONENT_YAML_DIR.glob("*.yaml")}
    assert compiled == committed, "run `python -m kubemaker.kfp.components` (with kfp installed) and commit yaml/"


def test_component_arguments_are_ones_the_entrypoint_accepts():
    from kubemaker.kfp.__main__ import build_parser

    known = {option for action in build_parser()._actions for option in action.option_strings}
    for path in COMPONENT_YAML_DIR.glob("*.yaml"):
        component = yaml.safe_load(path.read_text())
        for executor in component["deploymentSpec"]["executors"].values():
            flags = [arg for arg in executor["container"]["args"] if isinstance(arg, str) and arg.startswith("--")]
            assert flags and set(flags) <= known, (path.name, set(flags) - known)
