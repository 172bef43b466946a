"""The steps inside a training pod (`kubemaker cluster stage|upload`), against moto's S3 in this
process, with /opt/ml under a temporary directory."""

from __future__ import annotations

import io
import json
import tarfile

import boto3
import pytest
from moto import mock_aws

from kubemaker.cluster import builders, contract, pod
from tests.unit.test_cluster_placement import NAME, SETTINGS, spec_model


@pytest.fixture
def opt_ml(tmp_path, monkeypatch):
    root = tmp_path / "opt" / "ml"
    for name in ("OPT_ML", "INPUT_DIR", "CONFIG_DIR", "DATA_DIR", "MODEL_DIR", "OUTPUT_DIR", "OUTPUT_DATA_DIR"):
        monkeypatch.setattr(contract, name, getattr(contract, name).replace("/opt/ml", str(root)))
    monkeypatch.setattr(pod, "TERMINATION_LOG", tmp_path / "termination-log")
    monkeypatch.setattr(pod, "PART_POLL_SECONDS", 0.01)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in ("data", "models", "ckpt"):
            s3.create_bucket(Bucket=bucket)
        yield root, s3


def use(monkeypatch, tmp_path, count: int = 1, index: int = 0, **changes) -> dict:
    spec = spec_model(resourceConfig={"instanceType": "ml.m5.xlarge", "instanceCount": count}, **changes)
    document = builders.training_document(spec, NAME, "job", "team", "us-east-1", SETTINGS)
    document["hostsFile"], document["envFile"] = str(tmp_path / "hosts"), str(tmp_path / "env")
    monkeypatch.setenv(contract.DOCUMENT_VARIABLE, json.dumps(document))
    monkeypatch.setenv("JOB_COMPLETION_INDEX", str(index))
    monkeypatch.setenv("POD_IP", f"10.0.0.{index + 1}")
    return document


def members(s3, bucket: str, key: str) -> dict[str, bytes]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}


def test_stage_writes_the_config_files_and_the_channels(opt_ml, monkeypatch, tmp_path):
    root, s3 = opt_ml
    s3.put_object(Bucket="data", Key="train/part-1.csv", Body=b"1,2\n")
    s3.put_object(Bucket="data", Key="train/sub/part-2.csv", Body=b"3,4\n")
    for shard in range(4):
        s3.put_object(Bucket="data", Key=f"validation/{shard}.csv", Body=b"x")
    use(monkeypatch, tmp_path, count=2, index=1)
    monkeypatch.setattr(pod.socket, "getaddrinfo", lambda name, *_, **__: [(0, 0, 0, "", ("10.0.0.1", 0))])
    assert pod.run("stage") == 0
    config = root / "input" / "config"
    assert json.loads((config / "hyperparameters.json").read_text())["epochs"] == "3"
    assert json.loads((config / "resourceconfig.json").read_text()) == {
        "current_host": "algo-2", "hosts": ["algo-1", "algo-2"], "network_interface_name": "eth0"}
    assert set(json.loads((config / "inputdataconfig.json").read_text())) == {"train", "validation"}
    assert (root / "input/data/train/part-1.csv").read_bytes() == b"1,2\n"
    assert (root / "input/data/train/sub/part-2.csv").read_bytes() == b"3,4\n"
    # ShardedByS3Key: the second of two hosts gets every second object.
    assert sorted(p.name for p in (root / "input/data/validation").iterdir()) == ["1.csv", "3.csv"]
    assert (root / "model").stat().st_mode & 0o777 == 0o777  # whatever user the training image runs as
    # The peers under their SageMaker names, and this host's own variables for the training container.
    hosts = (tmp_path / "hosts").read_text()
    assert "10.0.0.1\talgo-1 job-0.job.team.svc.cluster.local" in hosts
    assert "10.0.0.2\talgo-2 job-1.job.team.svc.cluster.local" in hosts
    assert "SM_CURRENT_HOST='algo-2'\n" in (tmp_path / "env").read_text()


def test_a_missing_channel_source_fails_with_the_reason_in_the_termination_message(opt_ml, monkeypatch, tmp_path):
    use(monkeypatch, tmp_path, inputDataConfig=[{"channelName": "train", "dataSource": {"s3DataSource": {
        "s3DataType": "S3Prefix", "s3Uri": "s3://no-such-bucket/train/"}}}])
    assert pod.run("stage") == 1
    assert (tmp_path / "termination-log").read_text().startswith("Data download failed for channel train")


def test_upload_packs_the_model_and_output_where_sagemaker_puts_them(opt_ml, monkeypatch, tmp_path):
    root, s3 = opt_ml
    use(monkeypatch, tmp_path)
    (root / "model").mkdir(parents=True)
    (root / "model" / "model.json").write_text("{}")
    (root / "output" / "data").mkdir(parents=True)
    (root / "output" / "data" / "metrics.json").write_text("[]")
    assert pod.run("upload") == 0
    prefix = f"out/{NAME}/output"
    assert members(s3, "models", f"{prefix}/model.tar.gz") == {"model.json": b"{}"}
    assert members(s3, "models", f"{prefix}/output.tar.gz") == {"metrics.json": b"[]"}


def test_several_hosts_models_are_merged_into_one_archive_by_algo_1(opt_ml, monkeypatch, tmp_path):
    root, s3 = opt_ml
    (root / "model").mkdir(parents=True)
    (root / "output" / "data").mkdir(parents=True)
    use(monkeypatch, tmp_path, count=2, index=1)
    (root / "model" / "rank-1.bin").write_bytes(b"1")
    assert pod.run("upload") == 0
    (root / "model" / "rank-1.bin").unlink()
    use(monkeypatch, tmp_path, count=2, index=0)
    (root / "model" / "rank-0.bin").write_bytes(b"0")
    assert pod.run("upload") == 0
    prefix = f"out/{NAME}/output"
    assert members(s3, "models", f"{prefix}/model.tar.gz") == {"rank-0.bin": b"0", "rank-1.bin": b"1"}
    # Nothing of the parts is left, and no output archive when no host wrote output data.
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="models")["Contents"]]
    assert keys == [f"{prefix}/model.tar.gz"]


def test_stage_restores_the_checkpoints(opt_ml, monkeypatch, tmp_path):
    root, s3 = opt_ml
    s3.put_object(Bucket="ckpt", Key="job/epoch-3.pt", Body=b"state")
    local = tmp_path / "checkpoints"
    use(monkeypatch, tmp_path, checkpointConfig={"s3Uri": "s3://ckpt/job", "localPath": str(local)})
    assert pod.run("stage") == 0
    assert (local / "epoch-3.pt").read_bytes() == b"state"


def test_the_sidecar_uploads_new_checkpoints_and_once_more_when_stopped(opt_ml, monkeypatch, tmp_path):
    import threading

    root, s3 = opt_ml
    local = tmp_path / "checkpoints"
    local.mkdir()
    (local / "restored.pt").write_bytes(b"old")  # what the stage restored: in S3 already
    s3.put_object(Bucket="ckpt", Key="job/restored.pt", Body=b"old")
    document = use(monkeypatch, tmp_path, checkpointConfig={"s3Uri": "s3://ckpt/job/", "localPath": str(local)})
    monkeypatch.setattr(pod, "CHECKPOINT_SYNC_SECONDS", 0.05)
    stopping = threading.Event()
    sidecar = threading.Thread(target=pod.sync_checkpoints, args=(document, stopping))
    sidecar.start()
    (local / "epoch-1.pt").write_bytes(b"1")

    def uploaded() -> list[str]:
        return [o["Key"] for o in s3.list_objects_v2(Bucket="ckpt").get("Contents", [])]

    deadline = 50
    while "job/epoch-1.pt" not in uploaded() and deadline:
        stopping.wait(0.1)
        deadline -= 1
    (local / "epoch-2.pt").write_bytes(b"2")  # written just before the pod stops
    stopping.set()
    sidecar.join(timeout=10)
    assert sorted(uploaded()) == ["job/epoch-1.pt", "job/epoch-2.pt", "job/restored.pt"]
    assert s3.get_object(Bucket="ckpt", Key="job/restored.pt")["Body"].read() == b"old"
