"""The Helm chart's pieces the e2e tests install with admin: its manifests (server-side applied, as Helm
does), or only the operator's RBAC, and a kubeconfig that authenticates as its ServiceAccount, so the
operator runs with exactly what the chart grants it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.unit.test_chart import one, render

# kopf's and the API server's words when RBAC lacks something the operator uses (case matters: an
# object or namespace may be named "forbidden-...").
PERMISSION_COMPLAINTS = re.compile(r"[Nn]ot enough permissions|\bForbidden\b|is forbidden:")
# What the operator's identity is made of: its ServiceAccount, its roles and their bindings.
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


@dataclass(frozen=True)
class ServiceAccountLogin:
    namespace: str
    name: str
    kubeconfig: Path

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"


def server_side_apply(kubectl, objects: list[dict]) -> None:
    kubectl("apply", "--server-side", "--field-manager=helm", "-f", "-", input=yaml.safe_dump_all(objects))


def install_rbac(kubectl, helm: Path, values: dict, namespace: str) -> str:
    """Applies the chart's RBAC for `values` (its Deployment and configuration left out; its user roles
    too, which the operator does not hold) in `namespace`, created if missing; returns the ServiceAccount's
    name."""
    values = {**values, "aggregateRoles": {"enabled": False}}
    objects = [o for o in render(helm, values, namespace=namespace) if o["kind"] in RBAC_KINDS]
    kubectl("create", "namespace", namespace, check=False)
    server_side_apply(kubectl, objects)
    return one(objects, "ServiceAccount")["metadata"]["name"]


def service_account_kubeconfig(kubectl, account: str, namespace: str, path: Path) -> ServiceAccountLogin:
    """A kubeconfig for the cluster of `kubectl`'s current context that authenticates with a TokenRequest
    token of the ServiceAccount, long enough for a whole session."""
    token = kubectl("create", "token", account, "-n", namespace, "--duration=12h").stdout.strip()
    config = json.loads(kubectl("config", "view", "--minify", "--flatten", "-o", "json").stdout)
    config["users"] = [{"name": account, "user": {"token": token}}]
    config["contexts"][0]["context"]["user"] = account
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config))
    return ServiceAccountLogin(namespace, account, path)


def permission_complaints(log: str) -> list[str]:
    return [line for line in log.splitlines() if PERMISSION_COMPLAINTS.search(line)]


class LogScan:
    """The permission complaints a log gained since the last look."""

    def __init__(self, log_path: Path):
        self.log_path = log_path
        self.offset = 0

    def new_complaints(self) -> list[str]:
        with open(self.log_path, "rb") as log:
            log.seek(self.offset)
            text = log.read()
        self.offset += len(text)
        return permission_complaints(text.decode(errors="replace"))
