"""`kubemaker-dev demo` (`make demo`): the whole product on one machine, with no cluster and no AWS.

Starts the local control plane and the SageMaker emulator (human-scale timings), installs the CRDs,
runs the operator, applies every manifest in examples/ and shows `kubectl get sagemaker` as it
changes, until every object is Ready or Stalled. What it shows is what the operator wrote: nothing
here sets a status.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from . import environment
from .kubectl import run_kubectl

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_NAMESPACE = "kubemaker-demo"
REFRESH_SECONDS = 3


def kubectl(state: environment.DevState, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run_kubectl(state.kubeconfig, *args, check=check)


def without_age(table: str) -> list[str]:
    return [line.rsplit(None, 1)[0] if line.strip() else "" for line in table.splitlines()]


def settled(item: dict) -> bool:
    conditions = {c.get("type"): c for c in (item.get("status") or {}).get("conditions") or []}
    current = (item.get("status") or {}).get("observedGeneration") == item["metadata"].get("generation")
    ready = conditions.get("Ready", {}).get("status") == "True"
    stalled = conditions.get("Stalled", {}).get("status") == "True"
    return current and (ready or stalled)


def run_demo(timeout_seconds: float, kubeconfig: str | None = None, profile: str = "demo", out=sys.stdout) -> int:
    """Returns 0 once everything settled, 1 when the timeout came first."""
    where = f"the cluster of {kubeconfig}" if kubeconfig else "the local control plane"
    print(f"Starting the SageMaker emulator ({profile} timings) and using {where}...", file=out, flush=True)
    state = environment.up(profile=profile, kubeconfig=kubeconfig)
    kubectl(state, "apply", "--server-side", "--force-conflicts", "-f", str(REPO_ROOT / "crds"))
    kubectl(state, "wait", "--for=condition=Established", "--timeout=60s", "crd", "-l", "app.kubernetes.io/part-of=kubemaker",
            check=False)
    kubectl(state, "create", "namespace", DEMO_NAMESPACE, check=False)
    state = environment.start_operator(state)
    print(f"Operator running (log: {state.log_dir}/operator.log). Applying examples/ ...", file=out, flush=True)
    applied = kubectl(state, "apply", "-n", DEMO_NAMESPACE, "-f", str(REPO_ROOT / "examples"), check=False)
    print(applied.stdout + applied.stderr, file=out, flush=True)

    deadline = time.monotonic() + timeout_seconds
    shown = ""
    settled_all = False
    while True:
        table = kubectl(state, "get", "sagemaker", "-n", DEMO_NAMESPACE, check=False).stdout
        # The AGE column changes every second: only a change of anything else is news.
        if without_age(table) != without_age(shown):
            print(f"\n$ kubectl get sagemaker -n {DEMO_NAMESPACE}   ({time.strftime('%H:%M:%S')})", file=out)
            print(table, file=out, flush=True)
            shown = table
        items = json.loads(kubectl(state, "get", "sagemaker", "-n", DEMO_NAMESPACE, "-o", "json").stdout)["items"]
        if items and all(settled(item) for item in items):
            settled_all = True
            break
        if time.monotonic() > deadline:
            print(f"Not everything settled within {timeout_seconds:.0f}s; see the operator log.", file=out)
            break
        time.sleep(REFRESH_SECONDS)

    print("\nEverything is still running, so you can look around:", file=out)
    print('  eval "$(kubemaker-dev env)"', file=out)
    print(f"  kubectl describe sagemaker -n {DEMO_NAMESPACE}", file=out)
    print(f"  kubemaker logs trainingjob/<name> -n {DEMO_NAMESPACE}", file=out)
    print("Stop it all with: kubemaker-dev down", file=out)
    return 0 if settled_all else 1
