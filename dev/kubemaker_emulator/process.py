"""Starting the emulator as a subprocess, so callers talk to it over real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubemaker_emulator.control import EmulatorControl

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
DEFAULT_REGION = "us-east-1"


class EmulatorProcess:
    def __init__(self, process: subprocess.Popen[bytes], url: str, log_path: Path):
        self.process = process
        self.url = url
        self.log_path = log_path
        self.control = EmulatorControl(url)

    def aws_environment(self, region: str = DEFAULT_REGION) -> dict[str, str]:
        """Environment variables that point boto3 (and so the operator) at the emulator."""
        return {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": self.url, "AWS_DEFAULT_REGION": region, "AWS_REGION": region}

    def client(self, service: str, region: str = DEFAULT_REGION, **config: Any) -> Any:
        """A boto3 client for `service` on the emulator; `config` goes to botocore's Config."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(**config) if config else None,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> "EmulatorProcess":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def start_emulator(
    profile: str = "fast",
    port: int = 0,
    log_path: str | os.PathLike[str] | None = None,
    host: str = "127.0.0.1",
    ready_timeout: float = 60.0,
) -> EmulatorProcess:
    """Starts `python -m kubemaker_emulator` and returns once it answers.

    Its request log goes to `log_path` (default: a temporary file, see `.log_path`).
    """
    if log_path is None:
        log_path = Path(tempfile.mkdtemp(prefix="kubemaker-emulator-")) / "emulator.log"
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    ready_file = Path(tempfile.mkdtemp(prefix="kubemaker-emulator-ready-")) / "url"
    command = [
        sys.executable, "-m", "kubemaker_emulator",
        "--host", host, "--port", str(port), "--profile", profile, "--ready-file", str(ready_file),
    ]  # fmt: skip
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + ready_timeout
    while not ready_file.exists():
        if process.poll() is not None:
            raise RuntimeError(f"the emulator exited with code {process.returncode}; see {log_path}")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the emulator was not ready within {ready_timeout} s; see {log_path}")
        time.sleep(0.05)
    url = ready_file.read_text().strip()
    ready_file.unlink()
    ready_file.parent.rmdir()
    emulator = EmulatorProcess(process, url, log_path)
    emulator.control.health()
    return emulator
