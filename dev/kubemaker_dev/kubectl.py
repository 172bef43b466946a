"""kubectl against a given kubeconfig: how the demo, benchmarks and tests act as a user would."""

from __future__ import annotations

import subprocess


class KubectlError(RuntimeError):
    pass


def run_kubectl(kubeconfig: str, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", *args], input=input, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise KubectlError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}{result.stdout}")
    return result
