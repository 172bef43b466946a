"""The wheel as users install it: base dependencies only, no extras, no dev packages.

The rest of the e2e suite already runs its operator from this install (the `operator` fixture); these
tests check what the install holds and that the user commands start from it."""

from __future__ import annotations

import json
import subprocess

import pytest

from kubemaker.aws.models import DATA_DIR

# Modules the `kfp` SDK compiles into the components' YAML (docs/kubeflow.md): they need that SDK and
# nothing else, and the operator never imports them.
KFP_AUTHORING_MODULES = {"kubemaker.kfp.components", "kubemaker.kfp.example_pipeline"}

IMPORT_EVERY_MODULE = """
import importlib, json, pkgutil, kubemaker
failures = {}
for module in pkgutil.walk_packages(kubemaker.__path__, "kubemaker."):
    try:
        importlib.import_module(module.name)
    except Exception as error:
        failures[module.name] = f"{type(error).__name__}: {error}"
print(json.dumps(failures))
"""


def run(bin_dir, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(bin_dir / args[0]), *args[1:]], capture_output=True, text=True, timeout=120)


def test_every_product_module_imports_with_only_the_base_dependencies(installed_wheel):
    result = run(installed_wheel, "python", "-c", IMPORT_EVERY_MODULE)
    assert result.returncode == 0, result.stderr
    failures = json.loads(result.stdout)
    assert {name: error for name, error in failures.items() if name not in KFP_AUTHORING_MODULES} == {}
    assert failures == {name: "ModuleNotFoundError: No module named 'kfp'" for name in KFP_AUTHORING_MODULES}


@pytest.mark.parametrize("module", ["kubemaker_dev", "kubemaker_emulator", "moto"])
def test_the_install_holds_no_dev_package(installed_wheel, module):
    result = run(installed_wheel, "python", "-c", f"import {module}")
    assert result.returncode == 1 and f"No module named '{module}'" in result.stderr


def test_the_install_is_consistent(installed_wheel):
    result = run(installed_wheel, "pip", "check")
    assert result.returncode == 0, result.stdout + result.stderr


# What the installed operator's loader finds: botocore would quietly fall back to its whole data.
OPERATOR_DATA = """
import json, pathlib
from kubemaker.aws.models import DATA_DIR, LOADER
_, endpoints = LOADER.load_data_with_path("endpoints")
print(json.dumps({"files": sorted(p.relative_to(DATA_DIR).as_posix() for p in DATA_DIR.rglob("*.json")),
                  "endpoints": pathlib.Path(endpoints).relative_to(DATA_DIR).as_posix()}))
"""


def test_the_install_holds_the_operators_cut_service_models_and_endpoint_data(installed_wheel):
    result = run(installed_wheel, "python", "-c", OPERATOR_DATA)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["files"] == sorted(path.relative_to(DATA_DIR).as_posix() for path in DATA_DIR.rglob("*.json"))
    assert found["endpoints"] == "endpoints"  # the loader names a file without its extension


@pytest.mark.parametrize("command", [("kubemaker", "run", "--help"), ("kubemaker", "logs", "--help"),
                                     ("kubectl-sagemaker", "logs", "--help")])
def test_user_commands_start(installed_wheel, command):
    result = run(installed_wheel, *command)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:")


def test_the_suite_operator_is_the_installed_wheel(operator, installed_wheel):
    assert operator.entry_point == (str(installed_wheel / "kubemaker"),)
    assert operator.process.poll() is None
