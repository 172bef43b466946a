"""What can be checked of the Dockerfile without a Docker engine: a base pinned by digest and passed as
a build argument, a non-root user the chart agrees with, the entrypoint, and that what it copies exists
and stays the product only. tests/image builds the image and runs it."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys

import yaml

from tests.conftest import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    lines = []
    for line in DOCKERFILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            lines.append((keyword.upper(), rest.strip()))
    return lines


def values(keyword: str) -> list[str]:
    return [rest for found, rest in instructions() if found == keyword]


def build_arguments() -> dict[str, str]:
    return dict(rest.partition("=")[::2] for rest in values("ARG"))


def test_the_public_base_is_pinned_by_digest_with_its_tag_alongside():
    """The default base is immutable (a digest), and the comment just above it names the tag it was,
    a full Python 3.11 patch version, never a moving tag such as 3.11-slim or latest."""
    default = build_arguments()["BASE_IMAGE"]
    assert re.fullmatch(r"python@sha256:[0-9a-f]{64}", default), f"{default} is not pinned by digest"
    lines = DOCKERFILE.read_text().splitlines()
    (index,) = [i for i, line in enumerate(lines) if line.startswith("ARG BASE_IMAGE=")]
    assert re.fullmatch(r"# python:3\.11\.\d+-slim-[a-z]+", lines[index - 1]), "the pinned tag is not named above it"


def test_both_stages_start_from_the_base_given_as_build_argument():
    # A local build passes BASE_IMAGE (and a build-stage variant of it); by default both are the public base.
    assert build_arguments()["BUILD_BASE_IMAGE"] == "${BASE_IMAGE}"
    assert [rest.split()[0] for rest in values("FROM")] == ["${BUILD_BASE_IMAGE}", "${BASE_IMAGE}"]


def test_runs_as_the_non_root_uid_the_chart_expects():
    users = values("USER")
    assert users, "no USER: the image would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "USER must be a numeric non-root uid (runAsNonRoot checks it)"
    chart_values = yaml.safe_load((REPO_ROOT / "charts/kubemaker/values.yaml").read_text())
    assert chart_values["podSecurityContext"]["runAsUser"] == int(uid)
    assert chart_values["podSecurityContext"]["runAsNonRoot"] is True


def test_entrypoint_is_the_kubemaker_command_and_runs_the_operator_by_default():
    assert json.loads(values("ENTRYPOINT")[-1]) == ["kubemaker"]
    assert json.loads(values("CMD")[-1]) == ["run"]


def test_copied_files_exist_and_are_not_excluded_from_the_context():
    ignored = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    for rest in values("COPY"):
        if rest.startswith("--from="):
            continue
        *sources, _destination = rest.split()
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
            assert f"!{source}" in ignored, f".dockerignore leaves {source} out of the build context"


def test_the_build_context_holds_only_the_product():
    # Everything is ignored first, then only the product's files are let back in: never dev/.
    ignored = [line for line in (REPO_ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert ignored[0] == "*"
    assert {line for line in ignored if line.startswith("!")} == {"!pyproject.toml", "!README.md", "!operator/"}


def test_exposed_ports_are_the_chart_defaults():
    chart_values = yaml.safe_load((REPO_ROOT / "charts/kubemaker/values.yaml").read_text())
    exposed = {int(port) for rest in values("EXPOSE") for port in rest.split()}
    assert exposed == {chart_values["livenessPort"], chart_values["metrics"]["port"]}


def test_the_console_script_resolves_and_knows_run():
    (entry_point,) = importlib.metadata.entry_points(group="console_scripts", name="kubemaker")
    assert entry_point.value == "kubemaker.cli:main"
    assert callable(entry_point.load())
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from kubemaker.cli import main; sys.exit(main())", "run", "--help"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "--config" in result.stdout
