"""The local world a benchmark runs in: its own control plane, emulator (fast timings) and operator."""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import yaml

from kubemaker_dev.controlplane import LocalControlPlane
from kubemaker_dev.kubectl import run_kubectl
from kubemaker_dev.operatorprocess import OperatorProcess
from kubemaker_emulator.process import EmulatorProcess, start_emulator

REPO = Path(__file__).resolve().parents[1]


@dataclass
class World:
    workdir: Path
    control_plane: LocalControlPlane
    emulator: EmulatorProcess
    operator: OperatorProcess  # started by local_world, or by start_operator when asked to wait

    @property
    def kubeconfig(self) -> str:
        return str(self.control_plane.kubeconfig_path)

    def start_operator(self) -> OperatorProcess:
        return self.operator.start()


@contextlib.contextmanager
def local_world(prefix: str, poll_interval: float, config: dict | None = None,
                start_operator: bool = True) -> Iterator[World]:
    """The world, its operator running unless `start_operator` is False (a benchmark's baseline runs
    first, with the API server to itself)."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    control_plane = LocalControlPlane(workdir / "controlplane").start()
    emulator = start_emulator(profile="fast", log_path=workdir / "emulator.log")
    operator = None
    try:
        kubeconfig = str(control_plane.kubeconfig_path)
        run_kubectl(kubeconfig, "apply", "--server-side", "-f", str(REPO / "crds"))
        run_kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
        config_path = workdir / "operator.yaml"
        # One operator, killed and restarted at once by the soak: with an election each restart would
        # wait out its predecessor's Lease. Failover is measured on the node (tests/node/).
        config_path.write_text(yaml.safe_dump({"leaderElection": {"enabled": False}, **(config or {})}))
        operator = OperatorProcess({**emulator.aws_environment(), "KUBECONFIG": kubeconfig}, workdir / "operator.log",
                                   config_path, poll_interval=poll_interval)
        if start_operator:
            operator.start()
        yield World(workdir, control_plane, emulator, operator)
    finally:
        if operator:
            operator.stop()
        emulator.stop()
        control_plane.stop()
