"""The emulator as a process: entry points, controls that touch all state, other services, concurrency."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from kubemaker_emulator.control import ControlApiError
from kubemaker_emulator.process import start_emulator
from tests.emulator.helpers import training_request, wait_until


@pytest.fixture(scope="module")
def own_emulator(tmp_path_factory):
    """A private emulator, for controls that would disturb the shared one (reset, timings)."""
    with start_emulator(profile="fast", log_path=tmp_path_factory.mktemp("own") / "emulator.log") as emulator:
        yield emulator


def test_module_entry_point_writes_the_ready_file(tmp_path):
    ready = tmp_path / "url"
    process = subprocess.Popen(
        [sys.executable, "-m", "kubemaker_emulator", "--port", "0", "--profile", "demo", "--ready-file", str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        announced = process.stdout.readline()
        url = ready.read_text().strip()
        assert url.startswith("http://127.0.0.1:") and url in announced
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_timings_override_and_reset(own_emulator):
    control = own_emulator.control
    sagemaker = own_emulator.client("sagemaker")
    assert control.timings()["training_training"] == 2.0
    control.set_timings(training_starting=0.1, training_downloading=0.1, training_training=0.2, training_uploading=0.1)
    sagemaker.create_training_job(**training_request("quick"))
    wait_until(lambda: sagemaker.describe_training_job(TrainingJobName="quick")["TrainingJobStatus"], lambda s: s == "Completed", timeout=2)
    with pytest.raises(ControlApiError) as unknown:
        control.set_timings(coffee_break=5)
    assert unknown.value.status == 400

    control.reset()

    assert control.call_counts()["calls"] == {}
    assert control.timings()["training_training"] == 2.0
    assert sagemaker.list_training_jobs()["TrainingJobSummaries"] == []


def test_sts_and_operations_the_emulator_does_not_model_go_to_moto(own_emulator):
    sts = own_emulator.client("sts")
    assumed = sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/team-a", RoleSessionName="kubemaker")
    assert assumed["Credentials"]["AccessKeyId"]
    assert sts.get_caller_identity()["Account"] == "123456789012"
    sagemaker = own_emulator.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName="group")
    assert sagemaker.describe_model_package_group(ModelPackageGroupName="group")["ModelPackageGroupName"] == "group"


def test_unknown_controls_and_resources(own_emulator):
    control = own_emulator.control
    with pytest.raises(ControlApiError) as missing:
        control.interrupt_spot("no-such-job")
    assert missing.value.status == 404
    with pytest.raises(ControlApiError) as unknown:
        control._call("GET", "/no-such-control")
    assert unknown.value.status == 404


def test_concurrent_clients(own_emulator):
    sagemaker = own_emulator.client("sagemaker")

    def create_and_list(index):
        sagemaker.create_training_job(**training_request(f"parallel-{index}"))
        return len(sagemaker.list_training_jobs(NameContains="parallel-", MaxResults=100)["TrainingJobSummaries"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = list(pool.map(create_and_list, range(40)))

    assert max(counts) == 40
    with pytest.raises(ClientError):
        sagemaker.create_training_job(**training_request("parallel-0"))
