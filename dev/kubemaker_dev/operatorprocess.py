"""The operator as a child process (`kubemaker run`), for the demo and the e2e tests: the same entry
point and code path as in a cluster, pointed at a kubeconfig and an AWS endpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .controlplane import ControlPlaneError, terminate
from .ports import free_port

READY_TIMEOUT_SECONDS = 60


# The dev install's operator; the e2e suite passes the installed wheel's `kubemaker` instead.
DEV_ENTRY_POINT = (sys.executable, "-m", "kubemaker.cli")


class OperatorProcess:
    def __init__(self, env: dict[str, str], log_path: Path, config_path: Path | None = None, poll_interval: float = 1.0,
                 entry_point: tuple[str, ...] = DEV_ENTRY_POINT, extra_args: tuple[str, ...] = ()):
        # As the image runs it (Dockerfile): benchmarks measure what production runs.
        self.env = {**os.environ, "MALLOC_ARENA_MAX": "2", **env}
        self.log_path = log_path
        self.config_path = config_path
        self.poll_interval = poll_interval
        self.entry_point = entry_point
        self.extra_args = extra_args  # e.g. ("--verbose",)
        self.process: subprocess.Popen | None = None
        self.liveness_port = 0
        self.metrics_port = 0

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self) -> "OperatorProcess":
        self.liveness_port, self.metrics_port = free_port(), free_port()
        command = [
            *self.entry_point, "run",
            "--liveness-port", str(self.liveness_port),
            "--metrics-port", str(self.metrics_port),
            "--poll-interval", str(self.poll_interval),
        ]
        if self.config_path:
            command += ["--config", str(self.config_path)]
        command += self.extra_args
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ControlPlaneError(f"the operator exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        raise ControlPlaneError(f"the operator did not become live; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL: no cleanup, as when a node dies under the operator."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            terminate(self.process.pid, lambda: self.process.poll() is not None, grace_seconds=15)
            self.process.wait()

    def metrics(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            return response.read().decode()
