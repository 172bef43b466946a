"""The `kubemaker` command: the operator, the local test world and the tools users run."""

from __future__ import annotations

import argparse
import sys

from .devenv import binaries, environment
from .devenv.controlplane import ControlPlaneError


def dev_build(_args: argparse.Namespace) -> int:
    for name, path in binaries.ensure_all_built().items():
        print(f"{name}: {path}")
    return 0


def print_usage_hint(state: environment.DevState) -> None:
    print("Local control plane and SageMaker emulator are running.")
    print(f"  kube-apiserver kubeconfig: {state.kubeconfig}")
    print(f"  SageMaker emulator:        {state.emulator_url}")
    print(f"  logs:                      {state.log_dir}")
    print("Use them from this shell with:")
    print("  eval \"$(kubemaker dev env)\"")
    print(f"  kubectl --kubeconfig {state.kubeconfig} get ns")
    print("Stop them with: kubemaker dev down")


def dev_up(args: argparse.Namespace) -> int:
    try:
        state = environment.up(profile=args.profile, kubeconfig=args.kubeconfig)
    except ControlPlaneError as error:
        print(f"kubemaker dev up: {error}", file=sys.stderr)
        return 1
    print_usage_hint(state)
    return 0


def dev_down(_args: argparse.Namespace) -> int:
    print("stopped" if environment.down() else "nothing was running")
    return 0


def dev_env(_args: argparse.Namespace) -> int:
    state = environment.DevState.load()
    if state is None or not state.running():
        print("kubemaker dev env: nothing is running; start it with `kubemaker dev up`", file=sys.stderr)
        return 1
    for key, value in state.env().items():
        print(f"export {key}={value}")
    return 0


def run_operator(args: argparse.Namespace) -> int:
    from .config import load_config
    from .operator_main import run

    overrides = {
        "region": args.region,
        "endpointUrl": args.endpoint_url,
        "namespaces": args.namespace or None,
        "pollIntervalSeconds": args.poll_interval,
        "logFormat": args.log_format,
        "livenessPort": args.liveness_port,
        "metricsPort": args.metrics_port,
        "peering": args.peering,
    }
    run(load_config(args.config, overrides), verbose=args.verbose)
    return 0


def show_logs(args: argparse.Namespace) -> int:
    from .logs import print_logs

    return print_logs(args.target, args.namespace, args.follow, args.all_hosts)


def add_logs_parser(commands) -> None:
    logs = commands.add_parser("logs", help="print a training job's CloudWatch logs")
    logs.add_argument("target", help="trainingjob/NAME, or hyperparametertuningjob/NAME for its best training job")
    logs.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig context's)")
    logs.add_argument("-f", "--follow", action="store_true", help="follow until the job ends")
    logs.add_argument("--all-hosts", action="store_true", help="every instance's stream, prefixed with the host")
    logs.set_defaults(handler=show_logs)


def demo(args: argparse.Namespace) -> int:
    from .devenv.demo import run_demo

    try:
        return run_demo(args.timeout, args.kubeconfig, args.profile)
    except ControlPlaneError as error:
        print(f"kubemaker demo: {error}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubemaker", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the operator (configuration: file, then env, then flags)")
    run.add_argument("--config", help="operator configuration YAML (default $KUBEMAKER_CONFIG)")
    run.add_argument("--region", help="default AWS region")
    run.add_argument("--endpoint-url", help="AWS endpoint URL (e.g. the emulator); default $AWS_ENDPOINT_URL")
    run.add_argument("--namespace", action="append", help="watch only this namespace (repeatable); default all")
    run.add_argument("--poll-interval", type=float, help="seconds between SageMaker change polls")
    run.add_argument("--log-format", choices=["text", "json"])
    run.add_argument("--liveness-port", type=int)
    run.add_argument("--metrics-port", type=int)
    run.add_argument("--peering", help="kopf peering name, for standby replicas")
    run.add_argument("--verbose", action="store_true")
    run.set_defaults(handler=run_operator)

    add_logs_parser(commands)

    demo_parser = commands.add_parser("demo", help="run everything locally and apply examples/ (no cluster, no AWS)")
    demo_parser.add_argument("--timeout", type=float, default=900, help="seconds to watch before giving up")
    demo_parser.add_argument("--kubeconfig", help="use this existing cluster (kind, k3d, EKS) instead of a local one")
    demo_parser.add_argument("--profile", choices=["fast", "demo"], default="demo", help="emulator timings")
    demo_parser.set_defaults(handler=demo)

    dev = commands.add_parser("dev", help="the local control plane and SageMaker emulator")
    dev_commands = dev.add_subparsers(dest="dev_command", required=True)
    dev_commands.add_parser("build", help="build (once) kube-apiserver and etcd from Go modules").set_defaults(
        handler=dev_build
    )
    up = dev_commands.add_parser("up", help="start kube-apiserver, etcd and the SageMaker emulator")
    up.add_argument("--profile", choices=["fast", "demo"], default="demo", help="emulator timings")
    up.add_argument("--kubeconfig", help="use this existing cluster instead of starting a local control plane")
    up.set_defaults(handler=dev_up)
    dev_commands.add_parser("down", help="stop what `dev up` started").set_defaults(handler=dev_down)
    dev_commands.add_parser("env", help="print shell exports for KUBECONFIG and the AWS endpoint").set_defaults(
        handler=dev_env
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


def kubectl_plugin_main(argv: list[str] | None = None) -> int:
    """`kubectl sagemaker ...`: kubectl finds `kubectl-sagemaker` on PATH; it offers the user commands."""
    parser = argparse.ArgumentParser(prog="kubectl sagemaker")
    add_logs_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
