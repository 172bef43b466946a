"""The Helm chart's pieces the e2e tests install with admin: its manifests (server-side applied, as Helm
does), or only the operator's RBAC, and a kubeconfig that authenticates as its ServiceAccount, so the
operator runs with exactly what the chart grants it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.unit.test_chart import one, render

# kopf's and the API server's words when RBAC lacks something the operator uses.
PERMISSION_COMPLAINTS = ("not enough permissions", "forbidden")
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
    return [line for line in log.splitlines() if any(c in line.lower() for c in PERMISSION_COMPLAINTS)]
