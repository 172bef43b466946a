"""The `kubemaker` command: the operator and the tools users run (`kubemaker-dev` has the local test world)."""

from __future__ import annotations

import argparse
import sys


def run_operator(args: argparse.Namespace) -> int:
    # kopf imports the official Kubernetes client whenever it is installed, only to recognise its
    # model classes, which the operator never hands it: 55 MiB of the operator's memory.
    sys.modules.setdefault("kubernetes", None)  # type: ignore[arg-type]  # None: refused on import
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
        "leaderElection": {"leaseName": args.lease_name, "leaseNamespace": args.lease_namespace},
    }
    run(load_config(args.config, overrides), verbose=args.verbose)
    return 0


def show_logs(args: argparse.Namespace) -> int:
    from .logs import print_logs

    return print_logs(args.target, args.namespace, args.follow, args.all_hosts)


def run_in_training_pod(args: argparse.Namespace) -> int:
    from .cluster.pod import run

    return run(args.step)


def add_logs_parser(commands) -> None:
    logs = commands.add_parser("logs", help="print a training or processing job's CloudWatch logs")
    logs.add_argument("target", help="trainingjob/NAME, hyperparametertuningjob/NAME for its best training "
                      "job, or processingjob/NAME")
    logs.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig context's)")
    logs.add_argument("-f", "--follow", action="store_true", help="follow until the job ends")
    logs.add_argument("--all-hosts", action="store_true", help="every instance's stream, prefixed with the host")
    logs.set_defaults(handler=show_logs)


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
    run.add_argument("--lease-name", help="the leader election Lease (default kubemaker)")
    run.add_argument("--lease-namespace", help="its namespace (default: the pod's, else the kubeconfig context's)")
    run.add_argument("--verbose", action="store_true")
    run.set_defaults(handler=run_operator)

    add_logs_parser(commands)

    cluster = commands.add_parser(
        "cluster", help="a step of a training pod of placement: Cluster (the operator's pods run these)")
    cluster.add_argument("step", choices=["stage", "checkpoints", "upload"],
                         help="stage the input, sync the checkpoints, or upload the model and output")
    cluster.set_defaults(handler=run_in_training_pod)

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
