"""The local node's sandbox (pause) image, built here: no registry is reachable to pull one.

`tools/pause` is a tiny static Go program (holds the pod's namespaces, reaps zombies, exits on
SIGTERM/SIGINT). It is packed as an OCI image layout tar (one layer, a config, a manifest and an
index naming the image) that `ctr images import` reads. The reference carries the program's cache
key, so a changed program is a new image, never a stale one under the same name.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import tarfile
from pathlib import Path

from .binaries import GoTool, ensure_built

PAUSE = GoTool("pause")
# Go's names for the machine architectures a dev VM or CI runner has.
GO_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def pause_image_ref() -> str:
    return f"kubemaker.local/pause:{PAUSE.cache_key()}"


def _tar_member(archive: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    archive.addfile(info, io.BytesIO(data))


def _tar_bytes(members: dict[str, tuple[bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, (data, mode) in members.items():
            _tar_member(archive, name, data, mode)
    return buffer.getvalue()


def _blob(data: bytes, media_type: str) -> tuple[dict, bytes]:
    return {"mediaType": media_type, "digest": f"sha256:{hashlib.sha256(data).hexdigest()}", "size": len(data)}, data


def write_oci_archive(binary: Path, ref: str, path: Path) -> Path:
    """Writes an OCI image layout tar holding `binary` as `/pause`, named `ref`."""
    architecture = GO_ARCHITECTURES[platform.machine()]
    layer, layer_data = _blob(
        _tar_bytes({"pause": (binary.read_bytes(), 0o755)}), "application/vnd.oci.image.layer.v1.tar"
    )
    config, config_data = _blob(
        json.dumps(
            {
                "architecture": architecture,
                "os": "linux",
                # The user upstream's pause image runs as: it needs no privilege at all.
                "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
                "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
            },
            sort_keys=True,
        ).encode(),
        "application/vnd.oci.image.config.v1+json",
    )
    manifest, manifest_data = _blob(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config,
                "layers": [layer],
            },
            sort_keys=True,
        ).encode(),
        "application/vnd.oci.image.manifest.v1+json",
    )
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                **manifest,
                "platform": {"architecture": architecture, "os": "linux"},
                # containerd names the imported image after the first; the second is the OCI tag.
                "annotations": {
                    "io.containerd.image.name": ref,
                    "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1],
                },
            }
        ],
    }
    members = {
        "oci-layout": (json.dumps({"imageLayoutVersion": "1.0.0"}).encode(), 0o644),
        "index.json": (json.dumps(index, sort_keys=True).encode(), 0o644),
    }
    for descriptor, data in ((layer, layer_data), (config, config_data), (manifest, manifest_data)):
        members[f"blobs/sha256/{descriptor['digest'].removeprefix('sha256:')}"] = (data, 0o644)
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
    partial.write_bytes(_tar_bytes(members))
    partial.rename(path)
    return path


def ensure_pause_archive() -> Path:
    """Returns the cached OCI archive of the pause image, building the program first if needed."""
    binary = ensure_built(PAUSE)
    archive = binary.with_name("pause-image.tar")
    if not archive.is_file():
        write_oci_archive(binary, pause_image_ref(), archive)
    return archive
