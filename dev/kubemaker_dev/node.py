"""A real node for the local control plane: containerd with runc, and a kubelet, as local processes
beside etcd, kube-apiserver, kube-controller-manager and kube-scheduler (which it starts).

Every pod runs with host networking (no CNI plugin sets up a pod network, no kube-proxy), on
cgroup v1 with the cgroupfs driver. The kubelet refuses a loopback node IP, so the node's address
is an address of its own on the loopback interface (from `NODE_NETWORK`, added while the node runs): the
kubelet, the API server's calls to it, probes and hostNetwork pods all stay on `lo`. The kubelet
registers as `system:node:<name>` with a client certificate from the control plane's CA; the Node
authorizer and NodeRestriction hold it to its own node. Images cannot be pulled (no registry is
reachable): the sandbox image is built here (pauseimage.py) and others are imported with
`import_image`. Several nodes may run on one machine, each with its own name, address, containerd
and cgroup root (`/kubemaker-<name>` in every hierarchy); a lock per name and per address keeps
two from claiming the same.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
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
from .hostpackages import HostPackageError, ensure_debian_packages
from .controlplane import LocalControlPlane, terminate
from .pauseimage import ensure_pause_archive, pause_image_ref
from .ports import free_port

CONTAINERD = GoTool("containerd")
CONTAINERD_SHIM = GoTool("containerd-shim-runc-v2")
CNI_BIN_DIR = Path("/usr/lib/cni")
# Node addresses from 198.18.0.0/15, reserved for network tests: no real network routes it.
NODE_NETWORK = "198.18.0."
LOCK_DIR = Path("/run/kubemaker-node")
CGROUP_MOUNTS = Path("/sys/fs/cgroup")
# What the node takes from Debian: runc, and the loopback CNI plugin (see _write_cni_config).
DEBIAN_PACKAGES = {"runc": "runc", str(CNI_BIN_DIR / "loopback"): "containernetworking-plugins"}
COMPONENT_READY_TIMEOUT_SECONDS = 60
NODE_READY_TIMEOUT_SECONDS = 120
# Another session's node of the same name (a second test run on this machine) is waited for, this
# long, rather than failing both: they share the names and addresses on `lo`.
MACHINE_CLAIM_TIMEOUT_SECONDS = 540  # within the tests' own 600 s timeout
CAP_SYS_RESOURCE = 24
# Where every kubelet links its containers' logs (fixed in the kubelet, unlike podLogsDir).
CONTAINER_LOG_LINKS = Path("/var/log/containers")
# The namespace in containerd where the CRI plugin keeps Kubernetes' images and containers.
CRI_NAMESPACE = "k8s.io"
# Unix sockets live at paths of at most 108 bytes; containerd appends to its socket's path.
MAX_SOCKET_PATH = 90


class NodeError(RuntimeError):
    pass


def ensure_node_built(out=sys.stderr) -> dict[str, Path]:
    """containerd, its runc shim and the pause image, built once from their Go modules (`kubemaker-dev
    build` calls this too, so a node's first start need not wait for them)."""
    return {
        CONTAINERD.name: binaries.ensure_built(CONTAINERD, out),
        CONTAINERD_SHIM.name: binaries.ensure_built(CONTAINERD_SHIM, out),
        "pause image": ensure_pause_archive(),
    }


def can_lower_oom_scores() -> bool:
    """Whether this process has CAP_SYS_RESOURCE, which lowering an OOM score takes. Root in some
    VM sandboxes lacks it, and runc then fails every container the kubelet asks to protect."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) & (1 << CAP_SYS_RESOURCE))
    return False


def nth_node(index: int) -> tuple[str, str]:
    """The name and address of the index-th node (from 0) of a test world."""
    return ("kubemaker-node" if index == 0 else f"kubemaker-node-{index + 1}"), f"{NODE_NETWORK}{index + 1}"


def serve(node_count: int, workdir: Path) -> None:
    """`kubemaker-dev node`: a control plane with its controllers and `node_count` nodes, in the
    foreground until interrupted (Ctrl-C or SIGTERM), then all of it stopped."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # What a killed run left: its mounts first, so removing it cannot reach through them.
    unmount_under(workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    control_plane = LocalControlPlane(workdir / "controlplane").start()
    nodes: list[LocalNode] = []
    try:
        for index in range(node_count):
            name, ip = nth_node(index)
            nodes.append(LocalNode(control_plane, workdir / name, name=name, ip=ip).start())
        print(f"{node_count} node(s) Ready; the control plane's controllers and the nodes run until Ctrl-C.")
        print(f"  kubectl --kubeconfig {control_plane.kubeconfig_path} get nodes -o wide")
        print(f"  logs: {control_plane.log_dir} and {workdir}/<node>/logs", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for node in reversed(nodes):
            node.stop()
        control_plane.stop()


def unmount_under(directory: Path) -> None:
    """Containers' root filesystems, sandboxes' /dev/shm and pods' volumes are mounts under a node's
    workdir; removing the workdir with any of them still mounted would reach into them."""
    prefix = str(directory.resolve()) + "/"
    mount_points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = line.split()[4].encode().decode("unicode_escape")
        if mount_point.startswith(prefix):
            mount_points.append(mount_point)
    for mount_point in sorted(mount_points, key=len, reverse=True):
        subprocess.run(["umount", "--lazy", mount_point], capture_output=True)


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class LocalNode:
    """One node for `control_plane` (whose controllers it starts); state and logs under `workdir`."""

    control_plane: LocalControlPlane
    workdir: Path
    name: str = "kubemaker-node"
    ip: str = f"{NODE_NETWORK}1"
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    startup_seconds: dict[str, float] = field(default_factory=dict)
    _locks: list = field(default_factory=list, init=False, repr=False)
    _added_address: bool = field(default=False, init=False, repr=False)

    @property
    def log_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def pki(self) -> Path:
        return self.control_plane.pki_dir

    @property
    def containerd_dir(self) -> Path:
        return self.workdir / "containerd"

    @property
    def containerd_socket(self) -> Path:
        return self.containerd_dir / "containerd.sock"

    @property
    def cgroup_root(self) -> str:
        return f"/kubemaker-{self.name}"

    @property
    def ctr_path(self) -> Path:
        # containerd's client is the daemon's binary under the name `ctr`.
        return self.workdir / "bin" / "ctr"

    def start(self) -> "LocalNode":
        started = time.monotonic()
        try:
            ensure_debian_packages(DEBIAN_PACKAGES, "the node")
        except HostPackageError as error:
            raise NodeError(str(error)) from None
        kube = binaries.ensure_built(binaries.KUBE)
        built = ensure_node_built()
        containerd, shim, pause_archive = built[CONTAINERD.name], built[CONTAINERD_SHIM.name], built["pause image"]
        self.startup_seconds["binaries"] = time.monotonic() - started
        if len(str(self.containerd_socket)) > MAX_SOCKET_PATH:
            raise NodeError(f"{self.containerd_socket} is too long for a unix socket: use a shorter workdir")
        for directory in (self.log_dir, self.containerd_dir, self.ctr_path.parent):
            directory.mkdir(parents=True, exist_ok=True)
        self.ctr_path.unlink(missing_ok=True)
        self.ctr_path.symlink_to(containerd)
        try:
            self._claim_machine()
            step = time.monotonic()
            self.control_plane.start_controllers()
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

    def _claim_machine(self) -> None:
        """Takes this node's name and address for as long as it runs, adds the address to `lo`
        and creates the cgroup root its pods go under."""
        LOCK_DIR.mkdir(exist_ok=True)
        deadline = time.monotonic() + MACHINE_CLAIM_TIMEOUT_SECONDS
        for claim in (f"name-{self.name}", f"address-{self.ip}"):
            lock = open(LOCK_DIR / f"{claim}.lock", "w")
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        lock.close()
                        raise NodeError(f"another local node on this machine has held the "
                                        f"{claim.replace('-', ' ')} for {MACHINE_CLAIM_TIMEOUT_SECONDS} s") from None
                    time.sleep(1)
            self._locks.append(lock)
        addresses = subprocess.run(["ip", "-o", "address", "show", "dev", "lo"], capture_output=True, text=True)
        if f" {self.ip}/" not in addresses.stdout:
            added = subprocess.run(
                ["ip", "address", "add", f"{self.ip}/32", "dev", "lo"], capture_output=True, text=True
            )
            if added.returncode != 0:
                raise NodeError(f"could not add the node's address {self.ip} to lo: {added.stderr.strip()}")
            self._added_address = True
        for hierarchy in self._cgroup_hierarchies():
            root = hierarchy / self.cgroup_root.lstrip("/")
            root.mkdir(exist_ok=True)
            # A new cpuset cgroup has no CPUs or memory nodes until given its parent's.
            for setting in ("cpuset.cpus", "cpuset.mems"):
                if (hierarchy / setting).exists():
                    (root / setting).write_text((hierarchy / setting).read_text())

    @staticmethod
    def _cgroup_hierarchies() -> list[Path]:
        return [mount for mount in CGROUP_MOUNTS.iterdir() if (mount / "cgroup.procs").exists()]

    def _release_machine(self) -> None:
        if self._added_address:
            subprocess.run(["ip", "address", "del", f"{self.ip}/32", "dev", "lo"], capture_output=True)
            self._added_address = False
        for lock in self._locks:
            lock.close()
        self._locks.clear()

    # containerd.

    def _start_containerd(self, containerd: Path, shim: Path) -> None:
        config = self.containerd_dir / "config.toml"
        config.write_text(self._containerd_config(shim))
        self._spawn("containerd", [str(containerd), f"--config={config}"])
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
  # Without CAP_SYS_RESOURCE, sandboxes (-998) and Guaranteed pods (-997) keep containerd's score.
  restrict_oom_score_adj = {str(not can_lower_oom_scores()).lower()}
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
            [str(self.ctr_path), f"--address={self.containerd_socket}", f"--namespace={CRI_NAMESPACE}", *args],
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
        user = f"system:node:{self.name}"
        client = issue_certificate(self.pki, f"kubelet-{self.name}-client", user, ("system:nodes",))
        serving = issue_certificate(self.pki, f"kubelet-{self.name}-serving", self.name, hosts=(self.ip, self.name))
        kubeconfig = self.control_plane.write_kubeconfig(
            self.workdir / "kubelet.kubeconfig", user, client["cert"], client["key"]
        )
        self.kubelet_port, self.kubelet_healthz_port = free_port(), free_port()
        config = self.workdir / "kubelet-config.yaml"
        config.write_text(yaml.safe_dump(self._kubelet_config(serving, kubelet_dir)))
        self._spawn(
            "kubelet",
            [
                str(kube),
                "kubelet",
                f"--config={config}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={kubelet_dir / 'root'}",
                f"--hostname-override={self.name}",
                f"--node-ip={self.ip}",
                "--v=1",
            ],
        )
        self._wait_until(
            self.is_ready, f"node {self.name} Ready", NODE_READY_TIMEOUT_SECONDS, logs=("kubelet", "containerd")
        )

    def _kubelet_config(self, serving: dict[str, Path], kubelet_dir: Path) -> dict:
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            # This machine has cgroup v1, which current kubelets refuse unless told otherwise.
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            # The node's own cgroups: its pods' `kubepods` tree never meets another node's.
            "cgroupRoot": self.cgroup_root,
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "address": self.ip,
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
            "volumePluginDir": str(kubelet_dir / "volume-plugins"),
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
            # The kubelet's own default (-999) needs CAP_SYS_RESOURCE as well.
            **({} if can_lower_oom_scores() else {"oomScoreAdj": 0}),
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
            except (urllib.error.URLError, ConnectionError, TimeoutError, ssl.SSLError,
                    subprocess.TimeoutExpired) as error:
                last_error = str(error)
            time.sleep(0.5)
        logs_text = "\n".join(f"--- {self.log_dir / f'{name}.log'} ends:\n{tail(self.log_dir / f'{name}.log')}"
                              for name in logs)
        raise NodeError(f"{what}: not after {timeout:.0f}s ({last_error or 'condition never met'})\n{logs_text}")

    def _spawn(self, name: str, command: list[str]) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()

    # Stopping.

    def stop(self) -> None:
        """Stops the kubelet, removes every pod's containers through containerd, stops containerd,
        then clears what a crash may have left: shims, container processes, mounts under the
        workdir, pod cgroups, the node's address. The control plane's controllers stay."""
        self._stop_process("kubelet")
        if self.processes.get("containerd") is not None and self.processes["containerd"].poll() is None:
            self._remove_containers()
        self._stop_process("containerd")
        self._kill_leftover_shims()
        unmount_under(self.workdir)
        self._remove_pod_cgroups()
        self._remove_container_log_links()
        self._release_machine()

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

    def _remove_pod_cgroups(self) -> None:
        """The node's cgroup root, with any container process still in it, so a node of the same
        name starts from nothing."""
        trees = [hierarchy / self.cgroup_root.lstrip("/") for hierarchy in self._cgroup_hierarchies()]
        trees = [tree for tree in trees if tree.is_dir()]
        for tree in trees:
            for procs in tree.rglob("cgroup.procs"):
                for pid in procs.read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
        # A killed process leaves its cgroup a moment later; until then rmdir says EBUSY.
        deadline = time.monotonic() + 10
        while trees and time.monotonic() < deadline:
            for tree in trees:
                # Children before parents.
                for directory in sorted((d for d in tree.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts)):
                    with contextlib.suppress(OSError):
                        directory.rmdir()
                with contextlib.suppress(OSError):
                    tree.rmdir()
            trees = [tree for tree in trees if tree.exists()]
            time.sleep(0.1)

    def _remove_container_log_links(self) -> None:
        pod_logs = str(self.workdir / "pod-logs") + "/"
        for link in CONTAINER_LOG_LINKS.glob("*.log"):
            if link.is_symlink() and os.readlink(link).startswith(pod_logs):
                link.unlink()
