"""A small SageMaker-style training image for the test world: the operator image's debootstrapped
Debian base (its Python) with training_script.py as `train` on PATH and no entrypoint, so the
container runs `train` as SageMaker runs a training image. Built by the same private dockerd
(image.py); the tag carries the image id, so an unchanged script gives the same reference."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .image import docker_daemon, ensure_base

SCRIPT = Path(__file__).with_name("training_script.py")
REPOSITORY = "kubemaker-train"


def ensure_training_image() -> str:
    """Builds the image if needed and returns its reference (kubemaker-train:<id>)."""
    with docker_daemon() as daemon, tempfile.TemporaryDirectory() as context:
        base = ensure_base(daemon)
        shutil.copy(SCRIPT, Path(context, "train"))
        Path(context, "Dockerfile").write_text(
            f"FROM {base}\n"
            "COPY train /usr/local/bin/train\n"
            "RUN chmod 0755 /usr/local/bin/train\n"
            "WORKDIR /opt/ml\n"
        )
        iid_file = Path(context, "iid")
        daemon.docker("build", "--network", "host", "--iidfile", str(iid_file), "--file",
                      str(Path(context, "Dockerfile")), context)
        image_id = iid_file.read_text().strip().removeprefix("sha256:")
        ref = f"{REPOSITORY}:{image_id[:12]}"
        daemon.docker("tag", image_id, ref)
        return ref
