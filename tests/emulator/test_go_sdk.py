"""The emulator driven by a client that shares no code with botocore: the AWS SDK for Go v2.

`dev/sdkcheck` is a Go program on github.com/aws/aws-sdk-go-v2/service/sagemaker (pinned in its
go.mod, from the Go module proxy). It creates, describes, lists and pages every kind the emulator
implements and waits with the SDK's own waiters (training and transform jobs, endpoints in service
and deleted; the SDK has none for tuning jobs and pipeline executions, which it polls), checking
what the SDK's own parsers make of each answer, and prints a JSON report. It is built once, like
the Go tools of tools/, into ~/.cache/kubemaker/bin/sdkcheck-<hash of go.mod, go.sum, main.go>/.
A build that cannot happen fails this test: it never skips.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kubemaker_dev.binaries import BuildError, GoTool, ensure_built
from kubemaker_emulator.process import start_emulator

SDKCHECK_DIR = Path(__file__).resolve().parents[2] / "dev" / "sdkcheck"


@dataclass(frozen=True)
class RepositoryGoProgram(GoTool):
    """A Go program of this repository outside tools/, built and cached as binaries.py builds those."""

    directory: Path = field(default=SDKCHECK_DIR)

    @property
    def source_dir(self) -> Path:
        return self.directory


SDKCHECK = RepositoryGoProgram("sdkcheck")


@pytest.fixture(scope="module")
def sdkcheck(record_testsuite_property) -> Path:
    started = time.monotonic()
    cached = SDKCHECK.path.is_file()
    try:
        binary = ensure_built(SDKCHECK)
    except BuildError as error:
        pytest.fail(f"the AWS SDK for Go v2 client (dev/sdkcheck) could not be built: {error}", pytrace=False)
    record_testsuite_property(
        "sdkcheck_build_seconds", f"{time.monotonic() - started:.1f} ({'cached' if cached else 'built'})"
    )
    return binary


@pytest.fixture(scope="module")
def go_emulator(tmp_path_factory):
    with start_emulator(profile="fast", log_path=tmp_path_factory.mktemp("go-sdk") / "emulator.log") as emulator:
        yield emulator


@pytest.mark.parametrize(
    ("region", "partition"), [("us-east-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")]
)
def test_the_go_sdk_runs_every_kind_with_its_own_parsers_paginators_and_waiters(
    sdkcheck, go_emulator, region, partition, record_property
):
    command = [
        str(sdkcheck),
        "-endpoint",
        go_emulator.url,
        "-region",
        region,
        "-partition",
        partition,
        "-prefix",
        f"go{uuid.uuid4().hex[:8]}",
    ]
    started = time.monotonic()
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    try:
        report = json.loads(finished.stdout)
    except ValueError:
        pytest.fail(
            f"sdkcheck exited {finished.returncode} without a report:\n{finished.stdout}\n{finished.stderr}",
            pytrace=False,
        )
    failures = [f"{check['flow']}: {check['name']}: {check['detail']}" for check in report["checks"] if not check["ok"]]
    assert not failures, "\n".join(failures) + f"\n(emulator log: {go_emulator.log_path})"
    assert finished.returncode == 0, finished.stderr
    flows = {check["flow"] for check in report["checks"]}
    assert flows == {"training", "tuning", "hosting", "transform", "pipelines", "tags", "errors"}
    record_property("checks", len(report["checks"]))
    record_property("seconds", round(time.monotonic() - started, 1))
