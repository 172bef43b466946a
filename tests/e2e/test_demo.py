"""`kubemaker-dev demo` and `kubemaker-dev`, as a newcomer runs them (with fast emulator timings)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

KUBEMAKER_DEV = str(Path(sys.executable).parent / "kubemaker-dev")


def test_demo_runs_every_example_to_settled_then_dev_down(tmp_path):
    env = {**os.environ, "KUBEMAKER_DEV_DIR": str(tmp_path / "dev")}
    try:
        demo = subprocess.run([KUBEMAKER_DEV, "demo", "--profile", "fast", "--timeout", "300"], env=env,
                              capture_output=True, text=True, timeout=420)
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-2000:]
        assert "Operator running" in demo.stdout and "Not everything settled" not in demo.stdout
        assert "trainingjob.sagemaker.kubemaker.io/xgboost-spot" in demo.stdout

        exports = subprocess.run([KUBEMAKER_DEV, "env"], env=env, capture_output=True, text=True, check=True).stdout
        assert "export KUBECONFIG=" in exports and "export AWS_ENDPOINT_URL=http://127.0.0.1:" in exports
    finally:
        down = subprocess.run([KUBEMAKER_DEV, "down"], env=env, capture_output=True, text=True, timeout=120)
    assert down.stdout.strip() == "stopped"
    assert subprocess.run([KUBEMAKER_DEV, "env"], env=env, capture_output=True, text=True).returncode == 1
