"""What runs inside each training pod of `placement: Cluster`, in the operator's own image:

- `kubemaker cluster stage` (before training): the config files, the channels and checkpoints from
  S3, and with several hosts the peers' addresses under their SageMaker names;
- `kubemaker cluster checkpoints` (beside training): the checkpoint directory synced to S3;
- `kubemaker cluster upload` (after training succeeded): model.tar.gz and output.tar.gz where
  SageMaker puts them. With several hosts SageMaker merges every host's /opt/ml/model into one
  archive: each other host leaves its part beside the output, and algo-1 merges them.

S3 is reached with the pod's own credentials (its service account's IRSA or Pod Identity, or what
the operator's clusterPlacement.env gives), never the operator's. A failure is written to the
container's termination message, which the operator reports as the job's failure reason.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import contract

TERMINATION_LOG = Path("/dev/termination-log")
PART_POLL_SECONDS = 2.0
PEER_POLL_SECONDS = 2.0
CHECKPOINT_SYNC_SECONDS = 10.0
# Where the other hosts leave their parts for algo-1, under the job's output prefix.
PARTS_FOLDER = ".kubemaker-parts"


class StageError(RuntimeError):
    """What the job's failure reason says, in the user's terms."""


def load_document() -> dict[str, Any]:
    return json.loads(os.environ[contract.DOCUMENT_VARIABLE])


def completion_index() -> int:
    return int(os.environ.get("JOB_COMPLETION_INDEX", "0"))


def s3_client(document: dict) -> Any:
    import boto3

    return boto3.client("s3", region_name=document["region"])


def split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise StageError(f"{uri}: only s3:// URIs can be staged on the cluster")
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


def list_sizes(s3: Any, bucket: str, prefix: str) -> dict[str, int]:
    sizes = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        sizes.update({item["Key"]: item["Size"] for item in page.get("Contents", []) if not item["Key"].endswith("/")})
    return sizes


def list_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    return sorted(list_sizes(s3, bucket, prefix))


def relative_key(key: str, prefix: str) -> str:
    """A key's path under the channel's directory, as SageMaker lays it out: relative to the prefix (an
    S3Uri naming one object gives that object's name)."""
    relative = key[len(prefix):].lstrip("/")
    return relative or key.rsplit("/", 1)[-1]


def download_prefix(s3: Any, uri: str, directory: Path, keep: Callable[[list[str]], list[str]] = list) -> int:
    bucket, prefix = split_uri(uri)
    keys = keep(list_keys(s3, bucket, prefix))
    for key in keys:
        target = directory / relative_key(key, prefix)
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(target))
    return len(keys)


def shard(distribution: str, index: int, count: int) -> Callable[[list[str]], list[str]]:
    """ShardedByS3Key: the index-th host takes every count-th object (of the sorted keys)."""
    if distribution == "ShardedByS3Key":
        return lambda keys: keys[index::count]
    return list


def writable_directory(path: str | Path) -> Path:
    """A directory the training container writes, whatever user its image runs as."""
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o777)
    return directory


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value))
    path.chmod(0o644)


def stage() -> None:
    document, index = load_document(), completion_index()
    count = document["instanceCount"]
    config = Path(contract.CONFIG_DIR)
    config.mkdir(parents=True, exist_ok=True)
    write_json(config / "hyperparameters.json", document["hyperParameters"])
    write_json(config / "inputdataconfig.json", contract.input_data_config(document))
    write_json(config / "resourceconfig.json", contract.resource_config(document, index))
    for written in (contract.MODEL_DIR, contract.OUTPUT_DIR, contract.OUTPUT_DATA_DIR):
        writable_directory(written)
    s3 = s3_client(document)
    for channel in document["channels"]:
        directory = writable_directory(f"{contract.DATA_DIR}/{channel['name']}")
        try:
            staged = download_prefix(s3, channel["s3Uri"], directory, shard(channel["distribution"], index, count))
        except StageError:
            raise
        except Exception as error:
            raise StageError(f"Data download failed for channel {channel['name']} from {channel['s3Uri']}: "
                             f"{error}") from error
        print(f"staged {staged} object(s) of channel {channel['name']} from {channel['s3Uri']}", flush=True)
    checkpoint = document["checkpoint"]
    if checkpoint:
        try:
            restored = download_prefix(s3, checkpoint["s3Uri"], writable_directory(checkpoint["localPath"]))
        except Exception as error:
            raise StageError(f"Checkpoint download from {checkpoint['s3Uri']} failed: {error}") from error
        print(f"restored {restored} checkpoint file(s) from {checkpoint['s3Uri']}", flush=True)
    if count > 1:
        write_env_file(Path(document["envFile"]), contract.host_environment(document, index))
        write_hosts_file(Path(document["hostsFile"]), resolve_peers(document, index))


def peer_address(document: dict, peer: int) -> str:
    peers = document["peers"]
    return f"{peers['job']}-{peer}.{peers['service']}.{peers['namespace']}.svc.{peers['clusterDomain']}"


def resolve_peers(document: dict, index: int) -> dict[str, tuple[str, str]]:
    """SageMaker host name -> (address, DNS name) for every host, once each one's name resolves (the
    pods start at different times; the headless Service lists each as soon as it has an address)."""
    deadline = time.monotonic() + document["peers"]["timeoutSeconds"]
    found = {contract.host_name(index): (os.environ["POD_IP"], peer_address(document, index))}
    while True:
        for peer in range(document["instanceCount"]):
            host = contract.host_name(peer)
            if host in found:
                continue
            name = peer_address(document, peer)
            try:
                found[host] = (str(socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)[0][4][0]), name)
            except socket.gaierror:
                pass
        if len(found) == document["instanceCount"]:
            return found
        if time.monotonic() > deadline:
            missing = sorted(set(contract.hosts(document["instanceCount"])) - set(found))
            raise StageError(f"hosts {', '.join(missing)} did not come up within "
                             f"{document['peers']['timeoutSeconds']} s")
        time.sleep(PEER_POLL_SECONDS)


def write_hosts_file(path: Path, peers: dict[str, tuple[str, str]]) -> None:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{address}\t{host} {name}" for host, (address, name) in sorted(peers.items())]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o644)


def write_env_file(path: Path, variables: dict[str, str]) -> None:
    """The kubelet's env file format: KEY='value' (a value holds no single quote)."""
    assert not any("'" in value for value in variables.values())
    path.write_text("".join(f"{name}='{value}'\n" for name, value in variables.items()))


def archive(directory: Path, target: Path, compressed: bool = True) -> Path:
    with tarfile.open(target, "w:gz" if compressed else "w") as packed:
        for entry in sorted(directory.rglob("*")):
            packed.add(entry, arcname=str(entry.relative_to(directory)), recursive=False)
    return target


def upload() -> None:
    document, index = load_document(), completion_index()
    count = document["instanceCount"]
    output = document["output"]
    bucket, prefix = split_uri(contract.output_prefix(output["s3OutputPath"], document["name"]))
    extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": output["kmsKeyId"]} if output["kmsKeyId"] else {}
    s3 = s3_client(document)
    work = Path(tempfile.mkdtemp())
    model, data = Path(contract.MODEL_DIR), Path(contract.OUTPUT_DATA_DIR)
    try:
        if output["compressionType"] == "NONE":
            # Uncompressed, every host's files go straight to output/model/ (names must not clash).
            for path in sorted(p for p in model.rglob("*") if p.is_file()):
                s3.upload_file(str(path), bucket, f"{prefix}/model/{path.relative_to(model)}", ExtraArgs=extra)
        elif count == 1:
            s3.upload_file(str(archive(model, work / contract.MODEL_ARCHIVE)), bucket,
                           f"{prefix}/{contract.MODEL_ARCHIVE}", ExtraArgs=extra)
        if count == 1:
            if any(data.iterdir()):
                s3.upload_file(str(archive(data, work / contract.OUTPUT_ARCHIVE)), bucket,
                               f"{prefix}/{contract.OUTPUT_ARCHIVE}", ExtraArgs=extra)
            return
        merged = [(data, contract.OUTPUT_ARCHIVE)]
        if output["compressionType"] != "NONE":
            merged.insert(0, (model, contract.MODEL_ARCHIVE))
        for directory, name in merged:
            if index == 0:
                merge_parts(s3, bucket, prefix, directory, name, count, work, extra)
            else:
                part = archive(directory, work / f"{name}.part", compressed=False)
                s3.upload_file(str(part), bucket, part_key(prefix, index, name), ExtraArgs=extra)
    except Exception as error:
        raise StageError(f"Uploading to s3://{bucket}/{prefix} failed: {error}") from error


def part_key(prefix: str, index: int, name: str) -> str:
    return f"{prefix}/{PARTS_FOLDER}/{contract.host_name(index)}/{name}.part"


def merge_parts(s3: Any, bucket: str, prefix: str, directory: Path, name: str, count: int, work: Path,
                extra: dict) -> None:
    """algo-1: its own files and every other host's part in one archive, once all parts are there."""
    target = work / name
    with tarfile.open(target, "w:gz") as merged:
        entries = sorted(directory.rglob("*"))
        for entry in entries:
            merged.add(entry, arcname=str(entry.relative_to(directory)), recursive=False)
        added = len(entries)
        for peer in range(1, count):
            key = part_key(prefix, peer, name)
            while not list_keys(s3, bucket, key):
                time.sleep(PART_POLL_SECONDS)  # the Job's deadline bounds the wait
            local = work / f"{contract.host_name(peer)}-{name}.part"
            s3.download_file(bucket, key, str(local))
            with tarfile.open(local) as part:
                for member in part.getmembers():
                    merged.addfile(member, part.extractfile(member) if member.isfile() else None)
                    added += 1
            s3.delete_object(Bucket=bucket, Key=key)
    if name == contract.OUTPUT_ARCHIVE and not added:
        return  # no host wrote output data
    s3.upload_file(str(target), bucket, f"{prefix}/{name}", ExtraArgs=extra)


def checkpoints() -> None:
    """The sidecar: syncs until the kubelet stops it (after training and upload, or on a failure)."""
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    sync_checkpoints(load_document(), stopping)


def sync_checkpoints(document: dict, stopping: threading.Event) -> None:
    """Uploads what changed in the checkpoint directory every CHECKPOINT_SYNC_SECONDS, and once more
    when `stopping` is set."""
    checkpoint = document["checkpoint"]
    bucket, prefix = split_uri(checkpoint["s3Uri"])
    local = Path(checkpoint["localPath"])
    s3 = s3_client(document)
    # What S3 holds already (what the stage restored) is not uploaded again.
    remote = {relative_key(key, prefix): size for key, size in list_sizes(s3, bucket, prefix).items()}
    seen = {path: version for path, version in snapshot(local).items() if remote.get(path) == version[0]}

    def sync() -> None:
        for path, version in snapshot(local).items():
            if seen.get(path) != version:
                s3.upload_file(str(local / path), bucket, f"{prefix.rstrip('/')}/{path}".lstrip("/"))
                seen[path] = version

    while not stopping.wait(CHECKPOINT_SYNC_SECONDS):
        sync()
    sync()


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {str(path.relative_to(directory)): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in directory.rglob("*") if path.is_file()}


COMMANDS: dict[str, Callable[[], None]] = {"stage": stage, "upload": upload, "checkpoints": checkpoints}


def run(command: str) -> int:
    """Runs one helper; a failure becomes the container's termination message."""
    try:
        COMMANDS[command]()
    except Exception as error:
        message = str(error) if isinstance(error, StageError) else f"{type(error).__name__}: {error}"
        print(f"kubemaker cluster {command}: {message}", file=sys.stderr, flush=True)
        try:
            TERMINATION_LOG.write_text(message)
        except OSError:
            pass  # outside a pod
        return 1
    return 0
