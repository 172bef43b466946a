"""A real node for the local control plane: kube-controller-manager, kube-scheduler, containerd with
runc, and a kubelet, as local processes beside etcd and kube-apiserver.

Every pod runs with host networking (no CNI plugin sets up a pod network, no kube-proxy), on
cgroup v1 with the cgroupfs driver. The kubelet registers as `system:node:<name>` with a client
certificate from the control plane's CA; the Node authorizer and NodeRestriction hold it to its
own node. Images cannot be pulled (no registry is reachable): the sandbox image is built here
(pauseimage.py) and others are imported with `import_image`. One node per machine: kubelets share
the `kubepods` cgroups.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import binaries
from .binaries import GoTool
from .certs import issue_certificate
from .controlplane import LocalControlPlane, terminate
from .pauseimage import ensure_pause_archive, pause_image_ref
from .ports import free_port

CONTAINERD = GoTool("containerd")
CONTAINERD_SHIM = GoTool("containerd-shim-runc-v2")
CNI_BIN_DIR = Path("/usr/lib/cni")
# What the node takes from Debian: runc, and the loopback CNI plugin (see _write_cni_config).
DEBIAN_PACKAGES = {"runc": "runc", str(CNI_BIN_DIR / "loopback"): "containernetworking-plugins"}
COMPONENT_READY_TIMEOUT_SECONDS = 60
NODE_READY_TIMEOUT_SECONDS = 120
# The namespace in containerd where the CRI plugin keeps Kubernetes' images and containers.
CRI_NAMESPACE = "k8s.io"
# Unix sockets live at paths of at most 108 bytes; containerd appends to its socket's path.
MAX_SOCKET_PATH = 90
# The controllers the test world needs: Deployments down to pods, ServiceAccounts and their tokens'
# CA, cascading and namespace deletion, node health, and PodDisruptionBudgets.
CONTROLLERS = (
    "deployment-controller",
    "replicaset-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "node-lifecycle-controller",
    "pod-garbage-collector-controller",
    "disruption-controller",
    "endpointslice-controller",
)


class NodeError(RuntimeError):
    pass


def ensure_debian_packages() -> None:
    """Installs what the node takes from Debian when it is missing (a fresh CI machine has none)."""
    missing = sorted({package for binary, package in DEBIAN_PACKAGES.items() if not _installed(binary)})
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise NodeError(f"the node needs the Debian packages {', '.join(missing)}: install them as root")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *missing]):
        result = subprocess.run(command, env=environment, capture_output=True, text=True)
        if result.returncode != 0:
            raise NodeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-3000:]}")


def _installed(binary: str) -> bool:
    return Path(binary).is_file() if binary.startswith("/") else shutil.which(binary) is not None


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def write_kubeconfig(path: Path, server: str, ca: Path, user: str, cert: Path, key: Path) -> Path:
    """A kubeconfig for a client-certificate identity (a component or the kubelet)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": user}}],
        "current-context": "local",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@dataclass
class LocalNode:
    """The controllers and one node for `control_plane`; state and logs under `workdir`."""

    control_plane: LocalControlPlane
    workdir: Path
    name: str = "kubemaker-node"
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    startup_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def log_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def pki(self) -> Path:
        return self.control_plane.workdir / "pki"

    @property
    def containerd_dir(self) -> Path:
        return self.workdir / "containerd"

    @property
    def containerd_socket(self) -> Path:
        return self.containerd_dir / "containerd.sock"

    @property
    def bin_dir(self) -> Path:
        return self.workdir / "bin"

    def start(self) -> "LocalNode":
        started = time.monotonic()
        ensure_debian_packages()
        kube = binaries.ensure_built(binaries.KUBE)
        containerd = binaries.ensure_built(CONTAINERD)
        shim = binaries.ensure_built(CONTAINERD_SHIM)
        pause_archive = ensure_pause_archive()
        self.startup_seconds["binaries"] = time.monotonic() - started
        if len(str(self.containerd_socket)) > MAX_SOCKET_PATH:
            raise NodeError(f"{self.containerd_socket} is too long for a unix socket: use a shorter workdir")
        for directory in (self.log_dir, self.containerd_dir, self.bin_dir):
            directory.mkdir(parents=True, exist_ok=True)
        # containerd's client is the daemon's binary under the name `ctr`.
        ctr = self.bin_dir / "ctr"
        if not ctr.exists():
            ctr.symlink_to(containerd)
        self._ctr = ctr
        try:
            step = time.monotonic()
            self._start_controllers(kube)
            self.startup_seconds["controllers"] = time.monotonic() - step
            step = time.monotonic()
            self._start_containerd(containerd, shim)
            self.import_image(pause_archive)
            self.startup_seconds["containerd"] = time.monotonic() - step
            step = time.monotonic()
            self._start_kubelet(kube)
            self.startup_seconds["kubelet"] = time.monotonic() - step
        except BaseException:
            self.stop()
            raise
        self.startup_seconds["total"] = time.monotonic() - started
        return self

    # The controllers.

    def _component_identity(self, component: str, user: str, organizations: tuple[str, ...] = ()) -> dict[str, Path]:
        client = issue_certificate(self.pki, f"{component}-client", user, organizations)
        serving = issue_certificate(self.pki, f"{component}-serving", component, hosts=("127.0.0.1", "localhost"))
        kubeconfig = write_kubeconfig(
            self.workdir / f"{component}.kubeconfig",
            self.control_plane.server_url,
            self.pki / "ca.crt",
            user,
            client["cert"],
            client["key"],
        )
        return {"kubeconfig": kubeconfig, "cert": serving["cert"], "key": serving["key"]}

    def _secure_serving_flags(self, identity: dict[str, Path], port: int) -> list[str]:
        return [
            f"--kubeconfig={identity['kubeconfig']}",
            # Delegated authentication and authorization of their own /metrics and /healthz.
            f"--authentication-kubeconfig={identity['kubeconfig']}",
            f"--authorization-kubeconfig={identity['kubeconfig']}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--tls-cert-file={identity['cert']}",
            f"--tls-private-key-file={identity['key']}",
            # One instance of each: electing a leader would only delay the start.
            "--leader-elect=false",
            "--v=1",
        ]

    def _start_controllers(self, kube: Path) -> None:
        manager = self._component_identity("kube-controller-manager", "system:kube-controller-manager")
        manager_port = free_port()
        self._spawn(
            "kube-controller-manager",
            [
                str(kube),
                "kube-controller-manager",
                *self._secure_serving_flags(manager, manager_port),
                f"--controllers={','.join(CONTROLLERS)}",
                # Each controller acts as its own ServiceAccount, with the bootstrap RBAC roles.
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={self.pki / 'sa.key'}",
                f"--root-ca-file={self.pki / 'ca.crt'}",
            ],
        )
        scheduler = self._component_identity("kube-scheduler", "system:kube-scheduler")
        scheduler_port = free_port()
        self._spawn("kube-scheduler", [str(kube), "kube-scheduler", *self._secure_serving_flags(scheduler, scheduler_port)])
        for component, port in (("kube-controller-manager", manager_port), ("kube-scheduler", scheduler_port)):
            self._wait_until(
                lambda port=port: self._https_ok(f"https://127.0.0.1:{port}/healthz"),
                f"{component} /healthz",
                COMPONENT_READY_TIMEOUT_SECONDS,
                logs=(component,),
            )

    # containerd.

    def _start_containerd(self, containerd: Path, shim: Path) -> None:
        config = self.containerd_dir / "config.toml"
        config.write_text(self._containerd_config(shim))
        environment = dict(os.environ, PATH=f"{self.bin_dir}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}")
        self._spawn("containerd", [str(containerd), f"--config={config}"], env=environment)
        self._wait_until(
            lambda: self._ctr_ok("version"), "containerd answering on its socket", COMPONENT_READY_TIMEOUT_SECONDS,
            logs=("containerd",),
        )

    def _containerd_config(self, shim: Path) -> str:
        def quoted(value: object) -> str:
            return json.dumps(str(value))

        cni_conf_dir = self._write_cni_config()
        root, state = self.containerd_dir / "root", self.containerd_dir / "state"
        runc = shutil.which("runc")
        # containerd's own format (version 4 is what this release writes with `config default`).
        return f"""version = 4
root = {quoted(root)}
state = {quoted(state)}

[plugins.'io.containerd.server.v1.grpc']
  address = {quoted(self.containerd_socket)}
[plugins.'io.containerd.server.v1.ttrpc']
  address = {quoted(self.containerd_dir / 'containerd.sock.ttrpc')}
[plugins.'io.containerd.server.v1.debug']
  address = ''
[plugins.'io.containerd.internal.v1.opt']
  path = {quoted(self.containerd_dir / 'opt')}
# NRI would listen on a socket shared by every containerd on the machine.
[plugins.'io.containerd.nri.v1.nri']
  disable = true

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = {quoted(pause_image_ref())}

[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
[plugins.'io.containerd.cri.v1.runtime'.containerd]
  default_runtime_name = 'runc'
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = 'io.containerd.runc.v2'
  # The shim built beside this containerd, not Debian's (which is on PATH with its containerd 1.6).
  runtime_path = {quoted(shim)}
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  BinaryName = {quoted(runc)}
  SystemdCgroup = false
[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = [{quoted(CNI_BIN_DIR)}]
  conf_dir = {quoted(cni_conf_dir)}
  max_conf_num = 1

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
  stream_server_port = {quoted(free_port())}
"""

    def _write_cni_config(self) -> Path:
        """The kubelet reports the node Ready only once the runtime's network is ready, and the CRI
        plugin's network is ready once a CNI configuration is loaded. Pods here use the host's
        network; this configuration, loopback only, is what a pod without hostNetwork would get:
        a network namespace with no route anywhere (its sandbox then fails: it has no IP)."""
        conf_dir = self.workdir / "cni"
        conf_dir.mkdir(exist_ok=True)
        (conf_dir / "10-loopback-only.conflist").write_text(
            json.dumps({"cniVersion": "1.0.0", "name": "loopback-only", "plugins": [{"type": "loopback"}]}, indent=2)
        )
        return conf_dir

    def ctr(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self._ctr), f"--address={self.containerd_socket}", f"--namespace={CRI_NAMESPACE}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def _ctr_ok(self, *args: str) -> bool:
        return self.ctr(*args, timeout=10).returncode == 0

    def import_image(self, archive: Path) -> None:
        """Imports a docker-archive or OCI archive tar into the node's image store, unpacked for
        the CRI plugin: what a pod with `imagePullPolicy: Never` or `IfNotPresent` then runs."""
        result = self.ctr("images", "import", "--local", str(archive))
        if result.returncode != 0:
            raise NodeError(f"ctr images import {archive} failed ({result.returncode}): {result.stderr[-2000:]}")

    # The kubelet.

    def _start_kubelet(self, kube: Path) -> None:
        kubelet_dir = self.workdir / "kubelet"
        kubelet_dir.mkdir(exist_ok=True)
        client = issue_certificate(self.pki, f"kubelet-{self.name}-client", f"system:node:{self.name}", ("system:nodes",))
        serving = issue_certificate(self.pki, f"kubelet-{self.name}-serving", self.name, hosts=("127.0.0.1", self.name))
        kubeconfig = write_kubeconfig(
            self.workdir / "kubelet.kubeconfig",
            self.control_plane.server_url,
            self.pki / "ca.crt",
            f"system:node:{self.name}",
            client["cert"],
            client["key"],
        )
        self.kubelet_port, self.kubelet_healthz_port = free_port(), free_port()
        config = self.workdir / "kubelet-config.yaml"
        config.write_text(yaml.safe_dump(self._kubelet_config(serving)))
        self._spawn(
            "kubelet",
            [
                str(kube),
                "kubelet",
                f"--config={config}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={kubelet_dir / 'root'}",
                f"--hostname-override={self.name}",
                "--node-ip=127.0.0.1",
                "--v=1",
            ],
        )
        self._wait_until(self.is_ready, f"node {self.name} Ready", NODE_READY_TIMEOUT_SECONDS, logs=("kubelet", "containerd"))

    def _kubelet_config(self, serving: dict[str, Path]) -> dict:
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            # This machine has cgroup v1, which current kubelets refuse unless told otherwise.
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "address": "127.0.0.1",
            "port": self.kubelet_port,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": self.kubelet_healthz_port,
            "tlsCertFile": str(serving["cert"]),
            "tlsPrivateKeyFile": str(serving["key"]),
            # Only the API server (its client certificate from the same CA) and authorized users.
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.pki / "ca.crt")},
            },
            "authorization": {"mode": "Webhook"},
            "podLogsDir": str(self.workdir / "pod-logs"),
            # A dev VM may have swap and little free disk: neither may stop the node or evict pods.
            "failSwapOn": False,
            "evictionHard": {
                "memory.available": "50Mi",
                "nodefs.available": "1%",
                "nodefs.inodesFree": "1%",
                "imagefs.available": "1%",
                "imagefs.inodesFree": "1%",
            },
            # Images cannot be pulled again here, so none is garbage-collected.
            "imageGCHighThresholdPercent": 100,
            # No iptables rules: every connection stays on loopback.
            "makeIPTablesUtilChains": False,
            "registerNode": True,
            "rotateCertificates": False,
            "serializeImagePulls": False,
        }

    # Waiting and state.

    def node_object(self) -> dict | None:
        request = urllib.request.Request(
            f"{self.control_plane.server_url}/api/v1/nodes/{self.name}",
            headers={"Authorization": f"Bearer {self.control_plane.token}"},
        )
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise

    def is_ready(self) -> bool:
        node = self.node_object()
        conditions = (node or {}).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def _https_ok(self, url: str) -> bool:
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        try:
            with urllib.request.urlopen(url, timeout=5, context=context) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, ssl.SSLError):
            return False

    def _wait_until(self, condition: Callable[[], bool], what: str, timeout: float, logs: tuple[str, ...]) -> None:
        deadline = time.monotonic() + timeout
        last_error = ""
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise NodeError(
                        f"{name} exited with code {process.returncode} while waiting for {what}; "
                        f"its log ({self.log_dir / (name + '.log')}) ends:\n{tail(self.log_dir / (name + '.log'))}"
                    )
            try:
                if condition():
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, ssl.SSLError, subprocess.TimeoutExpired) as error:
                last_error = str(error)
            time.sleep(0.5)
        details = "\n".join(f"--- {name}.log ({self.log_dir / (name + '.log')}):\n{tail(self.log_dir / (name + '.log'))}" for name in logs)
        raise NodeError(f"{what}: not after {timeout:.0f}s ({last_error or 'condition never met'})\n{details}")

    def _spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        log.close()

    # Stopping.

    def stop(self) -> None:
        """Stops the kubelet, removes every pod's containers (their shims, mounts and cgroups), then
        stops containerd and the controllers, and unmounts whatever is left under the workdir."""
        self._stop_process("kubelet")
        if self.processes.get("containerd") is not None and self.processes["containerd"].poll() is None:
            self._remove_containers()
        for name in ("containerd", "kube-scheduler", "kube-controller-manager"):
            self._stop_process(name)
        self._kill_leftover_shims()
        self._unmount_under_workdir()

    def _stop_process(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            terminate(process.pid, lambda: process.poll() is not None)
            process.wait()

    def _remove_containers(self) -> None:
        tasks = self.ctr("tasks", "list", "--quiet", timeout=30).stdout.split()
        for task in tasks:
            self.ctr("tasks", "kill", "--signal=SIGKILL", task, timeout=30)
        for task in tasks:
            self.ctr("tasks", "delete", "--force", task, timeout=30)
        containers = self.ctr("containers", "list", "--quiet", timeout=30).stdout.split()
        if containers:
            self.ctr("containers", "delete", *containers, timeout=60)

    def _kill_leftover_shims(self) -> None:
        """A shim outlives a containerd that stopped before its task was deleted; ours are the ones
        started with this containerd's socket."""
        marker = str(self.containerd_socket).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                command_line = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"containerd-shim" in command_line and marker in command_line.split(b"\0"):
                terminate(int(entry.name), lambda entry=entry: not entry.exists(), grace_seconds=5)

    def _unmount_under_workdir(self) -> None:
        """Containers' root filesystems, sandboxes' /dev/shm and pods' volumes are mounts under the
        workdir; removing the workdir with any of them still mounted would reach into them."""
        prefix = str(self.workdir.resolve()) + "/"
        mount_points = []
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            mount_point = line.split()[4].encode().decode("unicode_escape")
            if mount_point.startswith(prefix):
                mount_points.append(mount_point)
        for mount_point in sorted(mount_points, key=len, reverse=True):
            subprocess.run(["umount", "--lazy", mount_point], capture_output=True)
