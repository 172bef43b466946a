"""The release workflow (.github/workflows/release.yml) cannot run here, so what can be checked is checked:
one version for the package, the chart and its default image; the workflow's own version check, run for
real against this tree; and actionlint, built from its Go module, finding nothing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

GITHUB_DIR = REPO_ROOT / ".github"
RELEASE_WORKFLOW = GITHUB_DIR / "workflows" / "release.yml"
CHART = REPO_ROOT / "charts" / "kubemaker"
# `uses: owner/repo@<commit> # vX.Y.Z`: the tag in the comment is what actionlint and people read.
PINNED_ACTION = re.compile(r"^\s*(?:- )?uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v(\d+)\.\d+\.\d+$")


def package_version() -> str:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]


def chart_metadata() -> dict:
    return yaml.safe_load((CHART / "Chart.yaml").read_text())


def chart_values() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def release_workflow() -> dict:
    return yaml.safe_load(RELEASE_WORKFLOW.read_text())


def steps_using(job: dict, action: str) -> list[dict]:
    return [step for step in job["steps"] if step.get("uses", "").split("@")[0] == action]


def step_with_id(job: dict, step_id: str) -> dict:
    [step] = [step for step in job["steps"] if step.get("id") == step_id]
    return step


def test_package_chart_and_app_version_are_one_number():
    chart = chart_metadata()
    versions = {"pyproject.toml version": package_version(), "Chart.yaml version": chart["version"],
                "Chart.yaml appVersion": chart["appVersion"]}
    assert len(set(versions.values())) == 1, f"one release, one number: {versions}"
    # Unquoted, YAML would read an appVersion such as 1.10 as a float.
    assert isinstance(chart["appVersion"], str)


def test_default_install_runs_the_image_of_that_version(helm):
    assert chart_values()["image"]["tag"] == "", "image.tag must default to the chart's appVersion"
    rendered = subprocess.run(
        [str(helm), "template", "kubemaker", str(CHART), "--show-only", "templates/deployment.yaml"],
        capture_output=True, text=True, timeout=120, check=True).stdout
    [container] = yaml.safe_load(rendered)["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{chart_values()['image']['repository']}:{package_version()}"


def test_release_runs_on_version_tags_only():
    # YAML 1.1 reads the key `on` as true.
    assert release_workflow()[True] == {"push": {"tags": ["v*.*.*"]}}


def test_the_image_and_chart_are_pushed_where_the_chart_points():
    workflow = release_workflow()
    env, jobs = workflow["env"], workflow["jobs"]
    repository = chart_values()["image"]["repository"]
    registry, owner = repository.split("/")[:2]
    assert env["IMAGE_REPOSITORY"] == repository
    assert env["REGISTRY"] == registry
    assert env["CHART_REPOSITORY"] == f"oci://{registry}/{owner}/charts"

    version = "${{ needs.check.outputs.version }}"
    assert jobs["check"]["outputs"]["version"] == "${{ steps.version.outputs.version }}"
    assert jobs["image"]["needs"] == "check"
    [login] = steps_using(jobs["image"], "docker/login-action")
    assert login["with"]["registry"] == "${{ env.REGISTRY }}"
    assert login["with"]["password"] == "${{ secrets.GITHUB_TOKEN }}"
    [build] = steps_using(jobs["image"], "docker/build-push-action")
    assert build["with"]["push"] is True
    assert set(build["with"]["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    # The only tag is the checked version: the one the chart's appVersion makes the default.
    assert build["with"]["tags"] == "${{ env.IMAGE_REPOSITORY }}:" + version
    assert steps_using(jobs["image"], "docker/setup-qemu-action")
    assert steps_using(jobs["image"], "docker/setup-buildx-action")

    chart_job = jobs["chart"]
    assert chart_job["env"]["VERSION"] == version
    assert set(chart_job["needs"]) == {"check", "image"}, "the chart is published after its image"
    scripts = "\n".join(step.get("run", "") for step in chart_job["steps"])
    assert 'helm package charts/kubemaker --destination "$RUNNER_TEMP/chart"' in scripts
    assert 'helm push "$RUNNER_TEMP/chart/kubemaker-$VERSION.tgz" "$CHART_REPOSITORY"' in scripts
    assert 'gh release create "$GITHUB_REF_NAME" "$package"' in scripts


def test_permissions_are_the_least_each_job_needs():
    workflow = release_workflow()
    assert workflow["permissions"] == {}, "no job inherits the default token scopes"
    assert {name: job["permissions"] for name, job in workflow["jobs"].items()} == {
        "check": {"contents": "read"},
        "image": {"contents": "read", "packages": "write"},
        # contents: write creates the GitHub release; packages: write pushes the chart.
        "chart": {"contents": "write", "packages": "write"},
    }


def workflow_and_action_files(root: Path) -> list[Path]:
    github = root / ".github"
    return sorted([*github.glob("workflows/*.y*ml"), *github.glob("actions/*/action.y*ml")])


def test_every_action_is_pinned_to_a_commit_with_its_version_tag():
    for path in workflow_and_action_files(REPO_ROOT):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "uses:" in line and "uses: ./" not in line:
                where = f"{path.relative_to(REPO_ROOT)}:{number}"
                assert PINNED_ACTION.match(line), f"{where} is not pinned to a commit: {line.strip()}"


def run_version_check(helm: Path, tree: Path, tag: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess, str]:
    """The workflow's own version-check step, with the environment a tag push gives it."""
    workflow = release_workflow()
    script = step_with_id(workflow["jobs"]["check"], "version")["run"]
    output = tmp_path / f"github-output-{tag}"
    output.write_text("")
    # python3 with tomllib, as on the runner; helm built from tools/helm, as the workflow builds it.
    path = os.pathsep.join([str(helm.parent), str(Path(sys.executable).parent), os.environ["PATH"]])
    env = {**os.environ, **workflow["env"], "PATH": path, "GITHUB_REF_NAME": tag, "GITHUB_OUTPUT": str(output)}
    # The shell GitHub runs `run:` scripts with.
    result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=tree, env=env,
                            capture_output=True, text=True, timeout=120)
    return result, output.read_text()


def errors(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("::error::")]


def test_the_version_check_passes_for_the_version_tag(helm, tmp_path):
    version = package_version()
    result, output = run_version_check(helm, REPO_ROOT, f"v{version}", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert output == f"version={version}\n"


def test_the_version_check_refuses_a_tag_of_another_version(helm, tmp_path):
    result, output = run_version_check(helm, REPO_ROOT, "v999.0.0", tmp_path)
    assert result.returncode != 0
    assert output == "", "nothing may be published"
    version = package_version()
    image = f"{chart_values()['image']['repository']}:"
    assert errors(result) == [
        f"::error::tag v999.0.0: pyproject.toml version is {version}, not 999.0.0",
        f"::error::tag v999.0.0: Chart.yaml version is {version}, not 999.0.0",
        f"::error::tag v999.0.0: Chart.yaml appVersion is {version}, not 999.0.0",
        f"::error::tag v999.0.0: the chart's default image is {image}{version}, not {image}999.0.0",
    ], result.stdout


def chart_copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    (tree / "charts").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "pyproject.toml", tree)
    shutil.copytree(CHART, tree / "charts" / "kubemaker")
    return tree


def test_the_version_check_refuses_an_app_version_behind_the_package(helm, tmp_path):
    tree = chart_copy(tmp_path)
    chart_file = tree / "charts" / "kubemaker" / "Chart.yaml"
    chart_file.write_text(re.sub(r"(?m)^appVersion:.*$", 'appVersion: "0.0.1"', chart_file.read_text()))
    result, _ = run_version_check(helm, tree, f"v{package_version()}", tmp_path)
    assert result.returncode != 0
    # appVersion is also the default image tag, so both are reported.
    found = [error.partition(": ")[2].partition(" is ")[0] for error in errors(result)]
    assert found == ["Chart.yaml appVersion", "the chart's default image"], result.stdout


def test_the_version_check_refuses_a_pinned_default_image_tag(helm, tmp_path):
    tree = chart_copy(tmp_path)
    values_file = tree / "charts" / "kubemaker" / "values.yaml"
    values_file.write_text(re.sub(r'(?m)^  tag: ""', '  tag: "0.0.1"', values_file.read_text()))
    result, _ = run_version_check(helm, tree, f"v{package_version()}", tmp_path)
    assert result.returncode != 0
    image = chart_values()["image"]["repository"]
    assert errors(result) == [f"::error::tag v{package_version()}: the chart's default image is {image}:0.0.1, "
                              f"not {image}:{package_version()}"], result.stdout


def test_the_chart_is_packaged_under_the_name_the_push_and_release_steps_use(helm, tmp_path):
    workflow = release_workflow()
    [package_step] = [step for step in workflow["jobs"]["chart"]["steps"] if step.get("name") == "Package the chart"]
    version = package_version()
    env = {**os.environ, **workflow["env"], "PATH": os.pathsep.join([str(helm.parent), os.environ["PATH"]]),
           "VERSION": version, "RUNNER_TEMP": str(tmp_path)}
    subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", package_step["run"]], cwd=REPO_ROOT,
                   env=env, check=True, capture_output=True, timeout=120)
    package = tmp_path / "chart" / f"kubemaker-{version}.tgz"
    assert [path.name for path in (tmp_path / "chart").iterdir()] == [package.name]
    shown = yaml.safe_load(subprocess.run([str(helm), "show", "chart", str(package)], capture_output=True, text=True,
                                          check=True, timeout=120).stdout)
    assert (shown["version"], shown["appVersion"]) == (version, version)


@pytest.fixture(scope="module")
def actionlint() -> Path:
    from kubemaker_dev.binaries import ACTIONLINT, ensure_built

    return ensure_built(ACTIONLINT)


@pytest.fixture(scope="module")
def shellcheck() -> str:
    """shellcheck from Debian: actionlint checks every `run:` script with it, and silently skips that
    check when it is missing, so it is installed rather than left to chance."""
    from kubemaker_dev.hostpackages import HostPackageError, ensure_debian_packages

    try:
        ensure_debian_packages({"shellcheck": "shellcheck"}, "linting the workflows")
    except HostPackageError as error:
        pytest.fail(str(error), pytrace=False)
    return shutil.which("shellcheck")


def lint(actionlint: Path, shellcheck: str, root: Path) -> subprocess.CompletedProcess:
    # No step runs Python, so pyflakes stays off whether or not it happens to be installed.
    return subprocess.run([str(actionlint), "-no-color", f"-shellcheck={shellcheck}", "-pyflakes="], cwd=root,
                          capture_output=True, text=True, timeout=120)


def test_actionlint_finds_nothing(actionlint, shellcheck):
    result = lint(actionlint, shellcheck, REPO_ROOT)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def pins_as_version_tags(root: Path) -> None:
    """Rewrites `owner/repo@<commit> # vX.Y.Z` as `owner/repo@vX`, the form actionlint knows inputs by."""
    for path in workflow_and_action_files(root):
        lines = []
        for line in path.read_text().splitlines():
            match = PINNED_ACTION.match(line)
            lines.append(line[:line.index("uses:")] + f"uses: {match[1]}@v{match[3]}" if match else line)
        path.write_text("\n".join(lines) + "\n")


def linted_copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(GITHUB_DIR, root / ".github")
    # actionlint takes a directory with .github/workflows and .git as a repository.
    (root / ".git").mkdir()
    pins_as_version_tags(root)
    return root


def test_actionlint_checks_the_inputs_of_the_pinned_actions(actionlint, shellcheck, tmp_path):
    # actionlint knows popular actions' inputs by major tag, not by commit: lint the same workflows as tags.
    root = linted_copy(tmp_path)
    result = lint(actionlint, shellcheck, root)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")

    # And it does report what it is here for: a misspelt input and a script shellcheck warns about.
    workflow = root / ".github" / "workflows" / "release.yml"
    text = workflow.read_text()
    text = text.replace("          platforms: arm64\n", "          platform: arm64\n", 1)
    text = text.replace('echo "version=$version" >> "$GITHUB_OUTPUT"', "echo version=$version >> $GITHUB_OUTPUT", 1)
    workflow.write_text(text)
    result = lint(actionlint, shellcheck, root)
    assert result.returncode == 1
    assert 'input "platform" is not defined in action "docker/setup-qemu-action@v3"' in result.stdout
    assert "SC2086" in result.stdout and "[shellcheck]" in result.stdout
