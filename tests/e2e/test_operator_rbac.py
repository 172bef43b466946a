"""The suite's operator runs as the chart's ServiceAccount, not as admin: every e2e test is also a test
that the chart's RBAC is enough for what it exercises, and no more than that is granted."""

from __future__ import annotations

import json

from tests.conftest import run_kubectl


def test_operator_authenticates_as_the_charts_service_account(operator, operator_account):
    assert operator.env["KUBECONFIG"] == str(operator_account.kubeconfig)
    whoami = json.loads(run_kubectl(str(operator_account.kubeconfig), "auth", "whoami", "-o", "json").stdout)
    assert whoami["status"]["userInfo"]["username"] == operator_account.username


def test_operator_cannot_list_secrets_or_pods_cluster_wide(operator_account):
    def attempt(*args: str) -> str:
        result = run_kubectl(str(operator_account.kubeconfig), *args, check=False)
        assert result.returncode != 0, f"kubectl {' '.join(args)} succeeded as the operator"
        return result.stderr

    assert "forbidden" in attempt("get", "secrets", "--all-namespaces")
    assert "forbidden" in attempt("get", "pods", "--all-namespaces")
