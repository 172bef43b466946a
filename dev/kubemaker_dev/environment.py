"""`kubemaker-dev up/down/env`: the local control plane and the emulator, kept running for a person.

Processes are detached and their pids recorded in a state file, so `dev down` from any shell stops
them. The state lives in ~/.cache/kubemaker/dev (or $KUBEMAKER_DEV_DIR).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .controlplane import ControlPlaneError, LocalControlPlane, terminate

EMULATOR_READY_TIMEOUT_SECONDS = 30


def dev_dir() -> Path:
    configured = os.environ.get("KUBEMAKER_DEV_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "kubemaker" / "dev"


@dataclass
class DevState:
    kubeconfig: str
    emulator_url: str
    region: str
    pids: dict[str, int]
    log_dir: str

    @classmethod
    def load(cls) -> "DevState | None":
        path = dev_dir() / "state.json"
        if not path.is_file():
            return None
        return cls(**json.loads(path.read_text()))

    def save(self) -> None:
        (dev_dir() / "state.json").write_text(json.dumps(asdict(self), indent=2))

    def running(self) -> bool:
        return all(pid_alive(pid) for pid in self.pids.values())

    def env(self) -> dict[str, str]:
        """What a shell, the operator or a test needs to use this environment."""
        return {
            "KUBECONFIG": self.kubeconfig,
            "AWS_ENDPOINT_URL": self.emulator_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "KUBEMAKER_EMULATOR_URL": self.emulator_url,
        }


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of ours still answers kill(0); /proc tells the truth.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def start_emulator_detached(log_dir: Path, profile: str) -> tuple[int, str]:
    ready_file = log_dir.parent / "emulator.url"
    ready_file.unlink(missing_ok=True)
    with open(log_dir / "emulator.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "kubemaker_emulator", "--host", "127.0.0.1", "--port", "0",
             "--profile", profile, "--ready-file", str(ready_file)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    deadline = time.monotonic() + EMULATOR_READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if ready_file.is_file() and ready_file.read_text().strip():
            return process.pid, ready_file.read_text().strip()
        if process.poll() is not None:
            break
        time.sleep(0.1)
    terminate(process.pid, lambda: process.poll() is not None)
    raise ControlPlaneError(f"the SageMaker emulator did not start; see {log_dir / 'emulator.log'}")


def up(profile: str = "demo", region: str = "us-east-1", kubeconfig: str | None = None) -> DevState:
    """Starts the emulator and, unless `kubeconfig` names an existing cluster (kind, k3d, EKS), the
    local control plane."""
    state = DevState.load()
    if state and state.running() and (kubeconfig is None or state.kubeconfig == kubeconfig):
        return state
    if state:
        down()
    workdir = dev_dir()
    shutil.rmtree(workdir, ignore_errors=True)
    log_dir = workdir / "logs"
    log_dir.mkdir(parents=True)
    pids: dict[str, int] = {}
    control_plane = None
    if kubeconfig is None:
        control_plane = LocalControlPlane(workdir, detach=True).start()
        kubeconfig = str(control_plane.kubeconfig_path)
        pids.update(control_plane.pids())
    try:
        pids["emulator"], emulator_url = start_emulator_detached(log_dir, profile)
    except ControlPlaneError:
        if control_plane:
            control_plane.stop()
        raise
    state = DevState(kubeconfig=kubeconfig, emulator_url=emulator_url, region=region, pids=pids, log_dir=str(log_dir))
    state.save()
    return state


def start_operator(state: DevState) -> DevState:
    """Runs `kubemaker run` detached against this environment (once); `down` stops it too."""
    running = state.pids.get("operator")
    if running and pid_alive(running):  # never pid 0: kill(0, 0) asks about our own process group
        return state
    log_dir = Path(state.log_dir)
    with open(log_dir / "operator.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "kubemaker.cli", "run", "--liveness-port", "0", "--metrics-port", "0"],
            env={**os.environ, **state.env()}, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    state.pids["operator"] = process.pid
    state.save()
    return state


def down() -> bool:
    """Stops what `up` started; returns False when nothing was recorded."""
    state = DevState.load()
    if state is None:
        return False
    for name in ("operator", "emulator", "kube-apiserver", "etcd"):
        pid = state.pids.get(name)
        if pid:
            terminate(pid, lambda pid=pid: not pid_alive(pid))
    (dev_dir() / "state.json").unlink(missing_ok=True)
    return True
