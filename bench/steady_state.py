"""Benchmark: SageMaker calls per minute the operator makes while N training jobs run and nothing
changes. Prints figures and writes a JSON record; it asserts nothing.

    .venv/bin/python bench/steady_state.py --jobs 200 --minutes 1
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import kubernetes
import yaml

from kubemaker.devenv.controlplane import LocalControlPlane
from kubemaker.devenv.kubectl import run_kubectl
from kubemaker.devenv.operatorprocess import OperatorProcess
from kubemaker.emulator.process import start_emulator

REPO = Path(__file__).resolve().parents[1]


def training_job(index: int) -> dict:
    return {
        "apiVersion": "sagemaker.kubemaker.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": f"bench-{index:05d}", "namespace": "default"},
        "spec": {
            "algorithmSpecification": {"trainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgb:1",
                                       "trainingInputMode": "File"},
            "roleArn": "arn:aws:iam::123456789012:role/SageMakerExecution",
            "outputDataConfig": {"s3OutputPath": "s3://bench/out"},
            "resourceConfig": {"instanceType": "ml.m5.xlarge", "instanceCount": 1, "volumeSizeInGB": 10},
            "stoppingCondition": {"maxRuntimeInSeconds": 86400},
        },
    }


def count_in_progress(custom_objects) -> int:
    items = custom_objects.list_namespaced_custom_object(
        "sagemaker.kubemaker.io", "v1alpha1", "default", "trainingjobs")["items"]
    return sum(1 for item in items if (item.get("status") or {}).get("secondaryStatus") == "Training")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--poll-interval", type=float, default=5.0)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="kubemaker-bench-"))
    control_plane = LocalControlPlane(workdir / "controlplane").start()
    emulator = start_emulator(profile="fast", log_path=workdir / "emulator.log")
    operator = None
    try:
        # Jobs reach Training quickly and then stay there for the whole measurement.
        emulator.control.set_timings(training_training=24 * 3600)
        kubeconfig = str(control_plane.kubeconfig_path)
        run_kubectl(kubeconfig, "apply", "--server-side", "-f", str(REPO / "crds"))
        run_kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
        operator = OperatorProcess({**emulator.aws_environment(), "KUBECONFIG": kubeconfig}, workdir / "operator.log",
                                   poll_interval=args.poll_interval).start()
        kubernetes.config.load_kube_config(kubeconfig)
        custom_objects = kubernetes.client.CustomObjectsApi()

        started = time.monotonic()
        manifest = yaml.safe_dump_all(training_job(i) for i in range(args.jobs))
        run_kubectl(kubeconfig, "apply", "-f", "-", input=manifest)
        applied = time.monotonic()
        while count_in_progress(custom_objects) < args.jobs:
            if time.monotonic() - started > 600:
                raise SystemExit("jobs did not all reach Training within 10 minutes")
            time.sleep(1)
        all_training = time.monotonic()
        lifecycle_calls = emulator.control.call_counts()["calls"].get("sagemaker", {})

        emulator.control.reset_call_counts()
        time.sleep(args.minutes * 60)
        steady = emulator.control.call_counts()["calls"].get("sagemaker", {})
        per_minute = {op: round(n / args.minutes, 1) for op, n in sorted(steady.items())}
        record = {
            "benchmark": "steady_state",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()} {platform.system()} python {platform.python_version()}",
            "jobs": args.jobs,
            "poll_interval_seconds": args.poll_interval,
            "apply_seconds": round(applied - started, 1),
            "seconds_until_all_training": round(all_training - started, 1),
            "calls_until_all_training": lifecycle_calls,
            "steady_calls_per_minute": per_minute,
            "steady_calls_per_minute_total": round(sum(per_minute.values()), 1),
        }
        print(json.dumps(record, indent=2))
        results = REPO / "bench" / "results"
        results.mkdir(exist_ok=True)
        (results / f"steady_state-{args.jobs}.json").write_text(json.dumps(record, indent=2))
        return 0
    finally:
        if operator:
            operator.stop()
        emulator.stop()
        control_plane.stop()


if __name__ == "__main__":
    sys.exit(main())
