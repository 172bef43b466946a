"""The operator image, built on this machine without a registry.

No registry is reachable here, so the Dockerfile's public base cannot be pulled. Instead a minimal
Debian base with Debian's own Python is bootstrapped with debootstrap, cached outside the repository
and imported into a private dockerd as a local tag; the repository's Dockerfile is then built with
that tag as its BASE_IMAGE. The dockerd runs with host networking only: no bridge, no iptables rules.

`ensure_image()` returns the reference of an up-to-date image (building what is missing);
`save_image(ref, path)` writes a docker-archive tar that `ctr -n k8s.io images import` accepts.
`python -m kubemaker_dev.image` (`make image`) builds and prints the reference.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .controlplane import terminate
from .hostpackages import HostPackageError, ensure_debian_packages

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE_REPOSITORY = "kubemaker"
BASE_REPOSITORY = "kubemaker-base"

# What defines the base: a change here makes a new cache key, so a new base.
BASE_SUITE = "bookworm"  # its python3 is 3.11, the version the product pins
BASE_DEFINITION = {
    "suite": BASE_SUITE,
    "variant": "minbase",
    "packages": ["python3", "python3-venv", "ca-certificates"],
    "mirror": "http://deb.debian.org/debian",
    # The python image sets these; an imported root filesystem has no configuration at all.
    "env": {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
    # Package caches, lists and downloaded .debs: nothing in the image needs them.
    "removed": ["var/cache/apt", "var/cache/apt/archives", "var/lib/apt/lists"],
}

# The binaries this module runs, and the Debian packages that provide them.
REQUIRED_PACKAGES = {
    "debootstrap": "debootstrap",
    "dockerd": "docker.io",
    "docker": "docker.io",
    "containerd": "containerd",
    "containerd-shim-runc-v2": "containerd",
    "runc": "runc",
}

DAEMON_READY_TIMEOUT_SECONDS = 60

# Local additions to the host's trust store (Debian's place for them), such as the CA of a
# TLS-intercepting egress proxy: the build stage reaches PyPI through the same network, so it trusts
# them too. Only the build stage: the final image never carries them.
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")


class ImageError(RuntimeError):
    pass


def cache_dir() -> Path:
    configured = os.environ.get("KUBEMAKER_CACHE_DIR")
    return (Path(configured) if configured else Path.home() / ".cache" / "kubemaker") / "images"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class DockerDaemon:
    """A dockerd of our own, with its own containerd (so neither a system containerd nor the node's
    is touched), its image store in the cache (so a warm run reuses layers) and its sockets and
    runtime state under /run."""

    data_dir: Path
    run_dir: Path

    @property
    def socket(self) -> Path:
        return self.run_dir / "docker.sock"

    @property
    def containerd_socket(self) -> Path:
        return self.run_dir / "containerd" / "containerd.sock"

    @property
    def environment(self) -> dict[str, str]:
        # DOCKER_BUILDKIT=0: the classic builder is built into every dockerd; BuildKit would need the
        # buildx plugin with newer CLIs.
        return {**os.environ, "DOCKER_HOST": f"unix://{self.socket}", "DOCKER_BUILDKIT": "0"}

    def docker(self, *args: str, capture: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
        command = ["docker", *args]
        # Uncaptured output (a build's progress) goes to stderr: stdout stays the image reference alone.
        output = subprocess.PIPE if capture else sys.stderr
        result = subprocess.run(command, env=self.environment, stdout=output, stderr=output if capture else None,
                                text=True, timeout=timeout)
        if result.returncode != 0:
            details = (result.stderr or "")[-3000:] if capture else ""
            raise ImageError(f"{' '.join(command)} failed ({result.returncode}) {details}")
        return result

    def answers(self) -> bool:
        if not self.socket.exists():
            return False
        result = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                                env=self.environment, capture_output=True, text=True, timeout=30)
        return result.returncode == 0

    def image_exists(self, ref: str) -> bool:
        result = subprocess.run(["docker", "image", "inspect", ref], env=self.environment,
                                capture_output=True, text=True, timeout=60)
        return result.returncode == 0

    def _containerd_config(self) -> Path:
        state = self.run_dir / "containerd"
        state.mkdir(parents=True, exist_ok=True)
        config = state / "config.toml"
        # CRI is the kubelet's business (another containerd); dockerd needs only the core services.
        config.write_text("\n".join([
            "version = 2",
            f'root = "{self.data_dir / "containerd"}"',
            f'state = "{state / "state"}"',
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
            "[grpc]",
            f'  address = "{self.containerd_socket}"',
            "[ttrpc]",
            f'  address = "{self.containerd_socket}.ttrpc"',
            "",
        ]))
        return config

    def start(self) -> list[subprocess.Popen]:
        """Starts containerd and dockerd; returns their processes (containerd first)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        self.containerd_socket.unlink(missing_ok=True)
        logs = self.run_dir / "logs"
        logs.mkdir(exist_ok=True)
        containerd = self._spawn(["containerd", "--config", str(self._containerd_config())], logs / "containerd.log")
        self._wait(lambda: self.containerd_socket.exists(), containerd, logs / "containerd.log", "containerd")
        dockerd = self._spawn([
            "dockerd",
            f"--host=unix://{self.socket}",
            f"--containerd={self.containerd_socket}",
            f"--data-root={self.data_dir / 'docker'}",
            f"--exec-root={self.run_dir / 'exec'}",
            f"--pidfile={self.run_dir / 'dockerd.pid'}",
            # Host networking only: every connection stays on loopback, nothing touches the host's rules.
            "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
            "--userland-proxy=false",
        ], logs / "dockerd.log")
        try:
            self._wait(self.answers, dockerd, logs / "dockerd.log", "dockerd")
        except ImageError:
            for process in (dockerd, containerd):
                stop_process(process)
            raise
        return [containerd, dockerd]

    def unmount_network_namespace(self) -> None:
        # dockerd bind-mounts the host's network namespace under its exec-root and leaves it mounted.
        mount_point = self.run_dir / "exec" / "netns" / "default"
        if os.path.ismount(mount_point):
            subprocess.run(["umount", str(mount_point)], check=True)

    @staticmethod
    def _spawn(command: list[str], log_path: Path) -> subprocess.Popen:
        with open(log_path, "ab") as log_file:
            return subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)

    @staticmethod
    def _wait(ready, process: subprocess.Popen, log_path: Path, name: str) -> None:
        deadline = time.monotonic() + DAEMON_READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ImageError(f"{name} exited with {process.returncode}:\n{tail(log_path)}")
            if ready():
                return
            time.sleep(0.2)
        raise ImageError(f"{name} did not become ready in {DAEMON_READY_TIMEOUT_SECONDS}s:\n{tail(log_path)}")


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        terminate(process.pid, lambda: process.poll() is not None, grace_seconds=20)
        process.wait()


def default_daemon() -> DockerDaemon:
    data_dir = cache_dir().parent / "docker"
    # One daemon per image store: another KUBEMAKER_CACHE_DIR gets its own socket.
    store = hashlib.sha256(str(data_dir).encode()).hexdigest()[:8]
    return DockerDaemon(data_dir=data_dir, run_dir=Path(f"/run/kubemaker-docker-{store}"))


# The daemon this process holds: nested docker_daemon() calls (a test session, then save_image) share it.
_held: list[DockerDaemon] = []


@contextlib.contextmanager
def docker_daemon() -> Iterator[DockerDaemon]:
    """The private dockerd, started here and stopped on exit. One process at a time holds it (a file
    lock), so a daemon is never stopped under another user; one left running by a killed holder is
    reused and left running."""
    if _held:
        yield _held[-1]
        return
    try:
        ensure_debian_packages(REQUIRED_PACKAGES, "building the image")
    except HostPackageError as error:
        raise ImageError(str(error)) from None
    daemon = default_daemon()
    daemon.run_dir.mkdir(parents=True, exist_ok=True)
    with open(daemon.run_dir / "lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another user of the image daemon ({daemon.run_dir})")
            fcntl.flock(lock, fcntl.LOCK_EX)
        _held.append(daemon)
        try:
            if daemon.answers():
                yield daemon
                return
            processes = daemon.start()
            try:
                yield daemon
            finally:
                for process in reversed(processes):
                    stop_process(process)
                daemon.unmount_network_namespace()
        finally:
            _held.pop()


def base_key() -> str:
    return hashlib.sha256(json.dumps(BASE_DEFINITION, sort_keys=True).encode()).hexdigest()[:12]


def base_ref() -> str:
    return f"{BASE_REPOSITORY}:{BASE_SUITE}-{base_key()}"


def bootstrap_base_archive() -> Path:
    """The base's root filesystem as a tar in the cache, made with debootstrap the first time."""
    archive = cache_dir() / f"base-{BASE_SUITE}-{base_key()}.tar"
    if archive.is_file():
        return archive
    archive.parent.mkdir(parents=True, exist_ok=True)
    work = archive.with_name(f"{archive.stem}.partial-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    rootfs = work / "rootfs"
    log(f"bootstrapping Debian {BASE_SUITE} ({', '.join(BASE_DEFINITION['packages'])}) into {rootfs} (first time only)")
    started = time.monotonic()
    command = [
        "debootstrap", f"--variant={BASE_DEFINITION['variant']}",
        f"--include={','.join(BASE_DEFINITION['packages'])}",
        BASE_SUITE, str(rootfs), BASE_DEFINITION["mirror"],
    ]
    log_path = archive.with_name(f"{archive.stem}.debootstrap.log")
    try:
        with open(log_path, "w") as log_file:
            code = subprocess.run(command, stdout=log_file, stderr=subprocess.STDOUT).returncode
        if code != 0:
            raise ImageError(f"debootstrap failed ({code}):\n{tail(log_path)}")
        for removed in BASE_DEFINITION["removed"]:
            for entry in (rootfs / removed).iterdir():
                if entry.is_file():
                    entry.unlink()
        partial = work / "rootfs.tar"
        # The runtime mounts its own /dev, /proc, /sys and /run; their contents stay out.
        subprocess.run(
            ["tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-cf", str(partial),
             "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "--exclude=./run/*", "."],
            check=True,
        )
        partial.rename(archive)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"bootstrapped the base in {time.monotonic() - started:.0f}s: {archive}")
    return archive


def ensure_base(daemon: DockerDaemon) -> str:
    ref = base_ref()
    if daemon.image_exists(ref):
        return ref
    archive = bootstrap_base_archive()
    changes = [arg for name, value in BASE_DEFINITION["env"].items() for arg in ("--change", f"ENV {name}={value}")]
    daemon.docker("import", *changes, str(archive), ref)
    log(f"imported the base as {ref}")
    return ref


def ensure_build_base(daemon: DockerDaemon, base: str) -> str:
    """The base for the Dockerfile's build stage: `base`, plus the host's local CAs if it has any."""
    certificates = sorted(LOCAL_CA_DIR.glob("*.crt"))
    if not certificates:
        return base
    digest = hashlib.sha256(base.encode())
    for certificate in certificates:
        digest.update(certificate.name.encode() + b"\0" + certificate.read_bytes())
    ref = f"{base}-localca-{digest.hexdigest()[:12]}"
    if daemon.image_exists(ref):
        return ref
    with tempfile.TemporaryDirectory() as context:
        for certificate in certificates:
            shutil.copy(certificate, context)
        # pip trusts its own bundled CA list unless told to use the system's.
        Path(context, "Dockerfile").write_text(
            f"FROM {base}\n"
            "COPY *.crt /usr/local/share/ca-certificates/\n"
            "RUN update-ca-certificates\n"
            "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt\n"
        )
        daemon.docker("build", "--tag", ref, context)
    log(f"made the build stage's base {ref} (with {', '.join(c.name for c in certificates)})")
    return ref


def product_version() -> str:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]


def build_image(daemon: DockerDaemon) -> str:
    """Builds the Dockerfile on the local base. The tag carries the image's own id, so an unchanged
    context gives the same reference (every layer cached) and a changed one a new reference, which a
    node with `imagePullPolicy: IfNotPresent` will not confuse with an older build."""
    base = ensure_base(daemon)
    build_base = ensure_build_base(daemon, base)
    iid_file = daemon.run_dir / f"iid-{os.getpid()}"
    # --network host: the build stage fetches the product's dependencies from PyPI over the host's network.
    daemon.docker(
        "build", "--network", "host", "--build-arg", f"BASE_IMAGE={base}",
        "--build-arg", f"BUILD_BASE_IMAGE={build_base}", "--iidfile", str(iid_file),
        "--file", str(REPO_ROOT / "Dockerfile"), str(REPO_ROOT),
        capture=False,
    )
    image_id = iid_file.read_text().strip().removeprefix("sha256:")
    iid_file.unlink()
    ref = f"{IMAGE_REPOSITORY}:{product_version()}-{image_id[:12]}"
    daemon.docker("tag", image_id, ref)
    return ref


def ensure_image() -> str:
    """Builds the operator image if needed and returns its reference (e.g. kubemaker:0.1.0-3f2a...)."""
    with docker_daemon() as daemon:
        return build_image(daemon)


def save_image(ref: str, path: Path | str) -> Path:
    """Writes `ref` as a docker-archive tar (what `ctr -n k8s.io images import` reads)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
    with docker_daemon() as daemon:
        daemon.docker("save", "--output", str(partial), ref)
    partial.rename(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubemaker-dev image", description=__doc__.split("\n")[0])
    parser.add_argument("--save", type=Path, metavar="TAR", help="also write the image as a docker-archive tar")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        ref = ensure_image()
        log(f"image {ref} ready in {time.monotonic() - started:.1f}s")
        if args.save:
            save_image(ref, args.save)
            log(f"saved {ref} to {args.save}")
    except ImageError as error:
        print(f"kubemaker-dev image: {error}", file=sys.stderr)
        return 1
    print(ref)
    return 0


if __name__ == "__main__":
    sys.exit(main())
