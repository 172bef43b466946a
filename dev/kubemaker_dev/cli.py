"""`kubemaker-dev`: the local test world (control plane, node, SageMaker emulator), the demo, the image
and the code generators. Not part of the product: `pip install ./dev` next to the product package."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import binaries, environment
from .controlplane import ControlPlaneError


def build(_args: argparse.Namespace) -> int:
    from .node import ensure_node_built

    try:
        built = {**binaries.ensure_all_built(), **ensure_node_built()}
    except binaries.BuildError as error:
        print(f"kubemaker-dev build: {error}", file=sys.stderr)
        return 1
    for name, path in built.items():
        print(f"{name}: {path}")
    return 0


def print_usage_hint(state: environment.DevState) -> None:
    print("Local control plane and SageMaker emulator are running.")
    print(f"  kube-apiserver kubeconfig: {state.kubeconfig}")
    print(f"  SageMaker emulator:        {state.emulator_url}")
    print(f"  logs:                      {state.log_dir}")
    print("Use them from this shell with:")
    print("  eval \"$(kubemaker-dev env)\"")
    print(f"  kubectl --kubeconfig {state.kubeconfig} get ns")
    print("Stop them with: kubemaker-dev down")


def up(args: argparse.Namespace) -> int:
    try:
        state = environment.up(profile=args.profile, kubeconfig=args.kubeconfig)
    except ControlPlaneError as error:
        print(f"kubemaker-dev up: {error}", file=sys.stderr)
        return 1
    print_usage_hint(state)
    return 0


def down(_args: argparse.Namespace) -> int:
    print("stopped" if environment.down() else "nothing was running")
    return 0


def env(_args: argparse.Namespace) -> int:
    state = environment.DevState.load()
    if state is None or not state.running():
        print("kubemaker-dev env: nothing is running; start it with `kubemaker-dev up`", file=sys.stderr)
        return 1
    for key, value in state.env().items():
        print(f"export {key}={value}")
    return 0


def demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    try:
        return run_demo(args.timeout, args.kubeconfig, args.profile)
    except ControlPlaneError as error:
        print(f"kubemaker-dev demo: {error}", file=sys.stderr)
        return 1


def node(args: argparse.Namespace) -> int:
    from .node import NodeError, serve

    try:
        serve(args.nodes, args.workdir)
    except (NodeError, ControlPlaneError, binaries.BuildError) as error:
        print(f"kubemaker-dev node: {error}", file=sys.stderr)
        return 1
    return 0


def build_image(args: argparse.Namespace) -> int:
    from . import image

    return image.main(["--save", args.save] if args.save else [])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubemaker-dev", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "build", help="build (once) from Go modules the Kubernetes binaries, etcd, and the nodes' containerd, "
                      "runc shim and pause image"
    ).set_defaults(handler=build)
    up_parser = commands.add_parser("up", help="start kube-apiserver, etcd and the SageMaker emulator")
    up_parser.add_argument("--profile", choices=["fast", "demo"], default="demo", help="emulator timings")
    up_parser.add_argument("--kubeconfig", help="use this existing cluster instead of starting a local control plane")
    up_parser.set_defaults(handler=up)
    commands.add_parser("down", help="stop what `up` started").set_defaults(handler=down)
    commands.add_parser("env", help="print shell exports for KUBECONFIG and the AWS endpoint").set_defaults(handler=env)

    demo_parser = commands.add_parser("demo", help="run everything locally and apply examples/ (no cluster, no AWS)")
    demo_parser.add_argument("--timeout", type=float, default=900, help="seconds to watch before giving up")
    demo_parser.add_argument("--kubeconfig", help="use this existing cluster (kind, k3d, EKS) instead of a local one")
    demo_parser.add_argument("--profile", choices=["fast", "demo"], default="demo", help="emulator timings")
    demo_parser.set_defaults(handler=demo)

    node_parser = commands.add_parser(
        "node", help="run a control plane with controllers and real nodes (kubelet, containerd) until Ctrl-C"
    )
    node_parser.add_argument("--nodes", type=int, default=1, help="how many nodes (each its own kubelet and containerd)")
    node_parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "kubemaker" / "node",
                             help="state and logs (emptied first)")
    node_parser.set_defaults(handler=node)

    image_parser = commands.add_parser("image", help="build the operator image on a locally bootstrapped Debian base")
    image_parser.add_argument("--save", help="also write it as a docker-archive tar to this path")
    image_parser.set_defaults(handler=build_image)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
