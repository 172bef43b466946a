"""What the test world takes from Debian (runc, dockerd, debootstrap, shellcheck...), installed with
apt when missing: a fresh CI machine has none of it, and a missing piece must fail loudly, never skip."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


class HostPackageError(RuntimeError):
    pass


def _present(binary: str) -> bool:
    return Path(binary).is_file() if binary.startswith("/") else shutil.which(binary) is not None


def ensure_debian_packages(packages_by_binary: dict[str, str], purpose: str) -> None:
    """Installs the Debian package of each missing binary (a name on PATH, or an absolute path)."""
    missing = sorted({package for binary, package in packages_by_binary.items() if not _present(binary)})
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise HostPackageError(f"{purpose} needs the Debian packages {', '.join(missing)}: install them as root")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Several tests may install at once: wait for dpkg's lock instead of failing on it.
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=300"]
    for command in ([*apt, "update"], [*apt, "install", "-y", "--no-install-recommends", *missing]):
        result = subprocess.run(command, env=environment, capture_output=True, text=True)
        if result.returncode != 0:
            raise HostPackageError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    still_missing = [binary for binary in packages_by_binary if not _present(binary)]
    if still_missing:
        raise HostPackageError(f"{', '.join(still_missing)} still missing after installing {', '.join(missing)}")
