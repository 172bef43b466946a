"""The product as users install it: the wheel built from this tree, installed with no extras into a
virtualenv of its own, so the tests run the artifact and not the editable dev install.

The virtualenv is kept in the cache, keyed by pyproject.toml (the dependencies): a new key installs the
wheel with its dependencies from the index; an unchanged one reinstalls only the freshly built wheel.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from .binaries import cache_root

REPO_ROOT = Path(__file__).resolve().parents[2]
PIP_TIMEOUT_SECONDS = 900


class WheelError(RuntimeError):
    pass


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise WheelError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-4000:]}")
    return result


def build_wheel(out_dir: Path) -> Path:
    """`pip wheel --no-deps .`: the same build the Dockerfile's first stage runs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    build_dir = out_dir / "src"
    # A copy of the tree, so setuptools' build/ and egg-info never land in the checkout.
    shutil.copytree(REPO_ROOT, build_dir, ignore=shutil.ignore_patterns(
        ".git", ".venv", "__pycache__", "build", "*.egg-info", "dev", "tests", "bench", "docs"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
          "--wheel-dir", str(out_dir), str(build_dir)], timeout=PIP_TIMEOUT_SECONDS)
    wheels = sorted(out_dir.glob("kubemaker-*.whl"))
    if len(wheels) != 1:
        raise WheelError(f"expected one kubemaker wheel in {out_dir}, found {wheels}")
    return wheels[0]


def install_wheel(wheel: Path) -> Path:
    """Installs `wheel` with only its base dependencies; returns the virtualenv's bin directory."""
    key = hashlib.sha256((REPO_ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]
    venv = cache_root().parent / f"wheel-venv-{key}"
    complete = venv / ".installed"  # a virtualenv cannot be moved into place, so mark it when whole
    if not complete.exists():
        shutil.rmtree(venv, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(venv)], timeout=120)
        _run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", str(wheel)],
             timeout=PIP_TIMEOUT_SECONDS)
        complete.touch()
    else:
        _run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "--no-deps",
              "--force-reinstall", str(wheel)], timeout=PIP_TIMEOUT_SECONDS)
    return venv / "bin"
