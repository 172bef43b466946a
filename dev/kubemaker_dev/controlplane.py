"""A real Kubernetes control plane (etcd + kube-apiserver) as local processes, envtest style.

By default there is no controller-manager or scheduler: CRDs, custom objects, RBAC, Events and
watches work; pods never run and namespaces never finish deleting (tests use a fresh namespace
each). `start_controllers()` adds kube-controller-manager and kube-scheduler, which a node
(node.py) needs.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import binaries
from .certs import issue_certificate, write_control_plane_certs
from .ports import free_port

READY_TIMEOUT_SECONDS = 90
# What the test world needs from the controller-manager: Deployments down to pods, Jobs (training
# on the cluster), ServiceAccounts and the CA their tokens' volumes carry, cascading and namespace
# deletion, node health, PodDisruptionBudgets and Services' endpoints.
CONTROLLERS = (
    "deployment-controller",
    "replicaset-controller",
    "job-controller",
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


class ControlPlaneError(RuntimeError):
    pass


@dataclass
class LocalControlPlane:
    """Runs etcd and kube-apiserver under `workdir`; logs go to `workdir/logs`."""

    workdir: Path
    detach: bool = False
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    api_port: int = 0
    etcd_port: int = 0
    token: str = ""

    @property
    def log_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def pki_dir(self) -> Path:
        return self.workdir / "pki"

    @property
    def kubeconfig_path(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def server_url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    def start(self) -> "LocalControlPlane":
        paths = binaries.ensure_all_built()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        pki = self.pki_dir
        pki.mkdir(exist_ok=True)
        certs = write_control_plane_certs(pki)
        self.token = secrets.token_hex(24)
        token_file = pki / "tokens.csv"
        token_file.write_text(f"{self.token},kubemaker-admin,kubemaker-admin,system:masters\n")
        token_file.chmod(0o600)

        started = time.monotonic()
        self.etcd_port, etcd_peer_port = free_port(), free_port()
        etcd_url, peer_url = f"http://127.0.0.1:{self.etcd_port}", f"http://127.0.0.1:{etcd_peer_port}"
        self._spawn(
            "etcd",
            [
                str(paths["etcd"]),
                "--name=local",
                f"--data-dir={self.workdir / 'etcd-data'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=local={peer_url}",
                # A throwaway store: durability costs fsyncs the tests do not need.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        self._wait_for(f"{etcd_url}/health", ready=lambda body: json.loads(body).get("health") == "true")

        self.api_port = free_port()
        self._apiserver_command = (
            [
                str(paths["kube"]),
                "kube-apiserver",
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.api_port}",
                f"--tls-cert-file={certs['cert']}",
                f"--tls-private-key-file={certs['key']}",
                f"--cert-dir={pki}",
                f"--token-auth-file={token_file}",
                f"--client-ca-file={certs['ca']}",
                # Node + NodeRestriction: a kubelet's certificate lets it touch only its own node and pods.
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                f"--kubelet-client-certificate={certs['kubelet_client_cert']}",
                f"--kubelet-client-key={certs['kubelet_client_key']}",
                f"--kubelet-certificate-authority={certs['ca']}",
                # A node's name does not resolve here; its InternalIP is where its kubelet listens.
                "--kubelet-preferred-address-types=InternalIP",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={certs['sa_pub']}",
                f"--service-account-signing-key-file={certs['sa_key']}",
                # No controller-manager maintains the kubernetes Service endpoints here.
                "--endpoint-reconciler-type=none",
                "--allow-privileged=true",
                "--v=1",
            ]
        )
        self._ca = certs["ca"]
        self._spawn("kube-apiserver", self._apiserver_command)
        self._write_kubeconfig(certs["ca"])
        self._wait_for(f"{self.server_url}/readyz", ready=lambda body: body.strip() == "ok", ca=certs["ca"])
        self.startup_seconds = time.monotonic() - started
        return self

    def start_controllers(self) -> None:
        """Starts kube-controller-manager and kube-scheduler, each with its own client certificate
        (the users the bootstrap RBAC roles are bound to); returns once both answer /healthz."""
        if "kube-controller-manager" in self.processes:
            return
        kube = binaries.ensure_built(binaries.KUBE)
        manager_port, scheduler_port = free_port(), free_port()
        self._spawn(
            "kube-controller-manager",
            [
                str(kube),
                "kube-controller-manager",
                *self._component_flags("kube-controller-manager", manager_port),
                f"--controllers={','.join(CONTROLLERS)}",
                # Each controller acts as its own ServiceAccount, with the bootstrap RBAC roles.
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={self.pki_dir / 'sa.key'}",
                f"--root-ca-file={self._ca}",
            ],
        )
        self._spawn(
            "kube-scheduler", [str(kube), "kube-scheduler", *self._component_flags("kube-scheduler", scheduler_port)]
        )
        for port in (manager_port, scheduler_port):
            self._wait_for(f"https://127.0.0.1:{port}/healthz", ready=lambda body: body.strip() == "ok", ca=self._ca)

    def _component_flags(self, component: str, port: int) -> list[str]:
        user = f"system:{component}"  # system:kube-controller-manager, system:kube-scheduler
        client = issue_certificate(self.pki_dir, f"{component}-client", user)
        serving = issue_certificate(self.pki_dir, f"{component}-serving", component, hosts=("127.0.0.1", "localhost"))
        kubeconfig = self.write_kubeconfig(
            self.workdir / f"{component}.kubeconfig", user, client["cert"], client["key"]
        )
        return [
            f"--kubeconfig={kubeconfig}",
            # Delegated authentication and authorization of their own /metrics and /healthz.
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--tls-cert-file={serving['cert']}",
            f"--tls-private-key-file={serving['key']}",
            # One instance of each: electing a leader would only delay the start.
            "--leader-elect=false",
            "--v=1",
        ]

    def write_kubeconfig(self, path: Path, user: str, cert: Path, key: Path) -> Path:
        """A kubeconfig for a client-certificate identity (a component or a kubelet)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "kubemaker-local", "cluster": {"server": self.server_url, "certificate-authority": str(self._ca)}}
            ],
            "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
            "contexts": [{"name": "kubemaker-local", "context": {"cluster": "kubemaker-local", "user": user}}],
            "current-context": "kubemaker-local",
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def restart_apiserver(self, down_seconds: float = 0) -> None:
        """Stops kube-apiserver and starts it again on the same port, etcd untouched: what a
        control-plane upgrade does to the watches of everything running against it."""
        process = self.processes.pop("kube-apiserver")
        terminate(process.pid, lambda: process.poll() is not None)
        process.wait()
        time.sleep(down_seconds)
        self._spawn("kube-apiserver", self._apiserver_command)
        self._wait_for(f"{self.server_url}/readyz", ready=lambda body: body.strip() == "ok", ca=self._ca)

    def _spawn(self, name: str, command: list[str]) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=self.detach
        )
        log.close()

    def _wait_for(self, url: str, ready, ca: Path | None = None) -> None:
        context = ssl.create_default_context(cafile=str(ca)) if ca else None
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        last_error = ""
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    self.stop()
                    raise ControlPlaneError(
                        f"{name} exited with code {process.returncode}; see {self.log_dir / (name + '.log')}"
                    )
            try:
                with urllib.request.urlopen(request, timeout=5, context=context) as response:
                    body = response.read().decode()
                    if ready(body):
                        return
                    last_error = body[:200]
            except (urllib.error.URLError, ConnectionError, TimeoutError, ssl.SSLError, json.JSONDecodeError) as error:
                last_error = str(error)
            time.sleep(0.2)
        self.stop()
        raise ControlPlaneError(f"{url} not ready after {READY_TIMEOUT_SECONDS}s ({last_error}); logs in {self.log_dir}")

    def _write_kubeconfig(self, ca: Path) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "kubemaker-local",
                    "cluster": {
                        "server": self.server_url,
                        "certificate-authority-data": base64.b64encode(ca.read_bytes()).decode(),
                    },
                }
            ],
            "users": [{"name": "kubemaker-admin", "user": {"token": self.token}}],
            "contexts": [
                {"name": "kubemaker-local", "context": {"cluster": "kubemaker-local", "user": "kubemaker-admin"}}
            ],
            "current-context": "kubemaker-local",
        }
        self.kubeconfig_path.write_text(yaml.safe_dump(config))
        self.kubeconfig_path.chmod(0o600)

    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.processes.items()}

    def stop(self) -> None:
        # The controllers, then the API server, so neither logs a storm of connection errors.
        for name in ("kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
            process = self.processes.pop(name, None)
            if process is not None:
                terminate(process.pid, lambda p=process: p.poll() is not None)
                process.wait()


def terminate(pid: int, exited, grace_seconds: float = 10) -> None:
    """SIGTERM, then SIGKILL if the process is still there after the grace period."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if exited():
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass

