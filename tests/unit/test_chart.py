"""The Helm chart, rendered and linted by the real Helm (built from its Go module): its CRDs are the
generated ones, its configuration is one the operator accepts, its RBAC is what the operator uses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from kubemaker.api.registry import KINDS
from kubemaker.config import OperatorConfig
from tests.conftest import REPO_ROOT

CHART = REPO_ROOT / "charts" / "kubemaker"
GROUP = "sagemaker.kubemaker.io"
PLURALS = {kind.plural for kind in KINDS}


def run_helm(helm: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}{result.stdout}")
    return result


def render(helm: Path, values: dict | None = None, namespace: str = "kubemaker-system", release: str = "kubemaker",
           include_crds: bool = False) -> list[dict]:
    """`helm template` with `values` (as a values file), as a list of objects."""
    args = ["template", release, str(CHART), "--namespace", namespace, "--values", "-"]
    if include_crds:
        args.append("--include-crds")
    result = subprocess.run([str(helm), *args], input=yaml.safe_dump(values or {}), capture_output=True, text=True,
                            timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"helm template failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def find(objects: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects: list[dict], kind: str, name: str | None = None) -> dict:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[o['metadata']['name'] for o in found]}"
    return found[0]


def rendered_config(objects: list[dict]) -> dict:
    return yaml.safe_load(one(objects, "ConfigMap")["data"]["config.yaml"])


def rules_by_resource(role: dict) -> dict[str, set[str]]:
    """{"group/resource": verbs} over every rule of a role."""
    granted: dict[str, set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault(f"{group}/{resource}", set()).update(rule["verbs"])
    return granted


def test_chart_crds_are_the_generated_crds():
    generated = sorted(path.name for path in (REPO_ROOT / "crds").glob("*.yaml"))
    copied = sorted(path.name for path in (CHART / "crds").glob(f"{GROUP}_*.yaml"))
    assert copied == generated, "run charts/sync-crds.sh"
    for name in generated:
        assert (CHART / "crds" / name).read_bytes() == (REPO_ROOT / "crds" / name).read_bytes(), (
            f"charts/kubemaker/crds/{name} differs from crds/{name}: run charts/sync-crds.sh"
        )


def test_lint_is_clean(helm):
    result = run_helm(helm, "lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in result.stdout
    namespaced = run_helm(helm, "lint", "--strict", str(CHART), "--set", "watchNamespaces={team-a,team-b}",
                          "--set", "peering.enabled=true", "--set", "metrics.serviceMonitor.enabled=true")
    assert "0 chart(s) failed" in namespaced.stdout


def test_default_install_is_one_recreated_non_root_read_only_operator(helm):
    objects = render(helm)
    deployment = one(objects, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["run", "--config=/etc/kubemaker/config.yaml"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    config = rendered_config(objects)
    assert ports == {"healthz": config["livenessPort"], "metrics": config["metricsPort"]}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    assert mounts["/etc/kubemaker"] == "config"
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == one(objects, "ConfigMap")["metadata"]["name"]
    assert pod["serviceAccountName"] == one(objects, "ServiceAccount")["metadata"]["name"]
    assert "checksum/config" in spec["template"]["metadata"]["annotations"]


def test_rendered_configuration_is_accepted_by_the_operator(helm):
    values = {
        "aws": {"region": "eu-west-1", "endpointUrl": "https://sagemaker.eu-west-1.vpce.example"},
        "watchNamespaces": ["team-a", "team-b"],
        "defaultNamespacePolicy": {"allowedRoleArns": ["arn:aws:iam::111122223333:role/sagemaker-*"]},
        "namespacePolicies": {
            "team-a": {
                "allowedRoleArns": ["arn:aws:iam::444455556666:role/team-a-*"],
                "assumeRoleArn": "arn:aws:iam::444455556666:role/kubemaker-team-a",
                "allowAdoption": True,
            }
        },
        "logFormat": "text",
        "pollIntervalSeconds": 2.5,
        "peering": {"enabled": True, "name": "kubemaker-peers"},
    }
    config = OperatorConfig.model_validate(rendered_config(render(helm, values)))
    assert config.region == "eu-west-1"
    assert config.endpoint_url == "https://sagemaker.eu-west-1.vpce.example"
    assert config.namespaces == ["team-a", "team-b"]
    assert config.poll_interval_seconds == 2.5 and config.log_format == "text"
    assert config.peering == "kubemaker-peers"
    team_a = config.policy_for("team-a")
    assert team_a.assume_role_arn == "arn:aws:iam::444455556666:role/kubemaker-team-a" and team_a.allow_adoption
    assert team_a.allows_role("arn:aws:iam::444455556666:role/team-a-training")
    other = config.policy_for("team-b")
    assert other.assume_role_arn is None and not other.allow_adoption
    assert not other.allows_role("arn:aws:iam::444455556666:role/team-a-training")

    defaults = OperatorConfig.model_validate(rendered_config(render(helm)))
    assert defaults.namespaces == [] and defaults.endpoint_url is None and defaults.peering is None


# Operator settings the chart deliberately does not offer.
NOT_IN_CHART = {"strictStatus": "a development check of the operator's own status writes"}


def test_chart_offers_every_operator_setting(helm):
    values = {"aws": {"endpointUrl": "https://example.com"}, "peering": {"enabled": True}}
    rendered = set(rendered_config(render(helm, values)))
    settings = {field.alias or name for name, field in OperatorConfig.model_fields.items()}
    assert rendered == settings - set(NOT_IN_CHART), "a setting of kubemaker.config is missing from the chart"


def test_cluster_wide_rbac_is_exactly_what_the_operator_uses(helm):
    objects = render(helm)
    manager = rules_by_resource(one(objects, "ClusterRole", "kubemaker-manager"))
    expected = {f"{GROUP}/{plural}": {"get", "list", "watch", "patch"} for plural in PLURALS}
    expected |= {f"{GROUP}/{plural}/status": {"get", "patch"} for plural in PLURALS}
    expected |= {f"{GROUP}/{plural}/finalizers": {"update", "patch"} for plural in PLURALS}
    expected |= {"/events": {"create", "patch"}, "/configmaps": {"get"}}
    assert manager == expected
    discovery = rules_by_resource(one(objects, "ClusterRole", "kubemaker-discovery"))
    assert discovery == {"apiextensions.k8s.io/customresourcedefinitions": {"list", "watch"}}
    for role in (manager, discovery):
        assert not any("*" in verbs or resource.endswith("/*") for resource, verbs in role.items())
        assert not any(resource in ("/secrets", "coordination.k8s.io/leases") for resource in role)
    account = one(objects, "ServiceAccount")["metadata"]["name"]
    for name in ("kubemaker-manager", "kubemaker-discovery"):
        binding = one(objects, "ClusterRoleBinding", name)
        assert binding["roleRef"]["name"] == name
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "kubemaker-system"}]
    assert not find(objects, "RoleBinding")


def test_namespace_scoped_install_binds_the_manager_role_per_namespace(helm):
    objects = render(helm, {"watchNamespaces": ["team-a", "team-b"], "peering": {"enabled": True}})
    bindings = find(objects, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    assert {b["roleRef"]["name"] for b in bindings} == {"kubemaker-manager"}
    assert [b["metadata"]["name"] for b in find(objects, "ClusterRoleBinding")] == ["kubemaker-discovery"]
    discovery = rules_by_resource(one(objects, "ClusterRole", "kubemaker-discovery"))
    assert discovery["/namespaces"] == {"list", "watch"}  # kopf lists namespaces when not cluster-wide
    manager = rules_by_resource(one(objects, "ClusterRole", "kubemaker-manager"))
    assert manager["kopf.dev/kopfpeerings"] == {"get", "list", "watch", "patch"}
    peerings = find(objects, "KopfPeering")
    assert sorted(p["metadata"]["namespace"] for p in peerings) == ["team-a", "team-b"]
    assert not find(objects, "ClusterKopfPeering")


def test_cluster_wide_peering_allows_standby_replicas(helm):
    objects = render(helm, {"peering": {"enabled": True, "name": "peers"}, "replicaCount": 2})
    assert one(objects, "Deployment")["spec"]["replicas"] == 2
    assert one(objects, "ClusterKopfPeering")["metadata"]["name"] == "peers"
    discovery = rules_by_resource(one(objects, "ClusterRole", "kubemaker-discovery"))
    assert discovery["kopf.dev/clusterkopfpeerings"] == {"get", "list", "watch", "patch"}
    assert rendered_config(objects)["peering"] == "peers"


def test_user_roles_are_aggregated_to_the_standard_and_kubeflow_roles(helm):
    objects = render(helm)
    edit = one(objects, "ClusterRole", "kubemaker-edit")
    view = one(objects, "ClusterRole", "kubemaker-view")
    for label in ("rbac.authorization.k8s.io/aggregate-to-edit", "rbac.authorization.k8s.io/aggregate-to-admin",
                  "rbac.authorization.kubeflow.org/aggregate-to-kubeflow-edit",
                  "rbac.authorization.kubeflow.org/aggregate-to-kubeflow-admin"):
        assert edit["metadata"]["labels"][label] == "true"
    for label in ("rbac.authorization.k8s.io/aggregate-to-view",
                  "rbac.authorization.kubeflow.org/aggregate-to-kubeflow-view"):
        assert view["metadata"]["labels"][label] == "true"
    edit_rules = rules_by_resource(edit)
    for plural in PLURALS:
        assert {"create", "delete", "patch", "watch"} <= edit_rules[f"{GROUP}/{plural}"]
        assert edit_rules[f"{GROUP}/{plural}/status"] == {"get"}
        assert rules_by_resource(view)[f"{GROUP}/{plural}"] == {"get", "list", "watch"}
    without_kubeflow = render(helm, {"aggregateRoles": {"kubeflow": False}})
    assert not any("kubeflow" in label for label in one(without_kubeflow, "ClusterRole", "kubemaker-edit")["metadata"]["labels"])


def test_irsa_role_annotates_the_service_account(helm):
    role = "arn:aws:iam::111122223333:role/kubemaker-operator"
    account = one(render(helm, {"serviceAccount": {"irsaRoleArn": role}}), "ServiceAccount")
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": role}
    assert "annotations" not in one(render(helm), "ServiceAccount")["metadata"]


def test_metrics_service_and_optional_service_monitor(helm):
    objects = render(helm)
    service = one(objects, "Service")
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]
    assert service["spec"]["selector"].items() <= one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"].items()
    assert not find(objects, "ServiceMonitor")
    monitor = one(render(helm, {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}}),
                  "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"


@pytest.mark.parametrize(
    "values, complaint",
    [
        ({"aws": {"region": "the-moon"}}, "region"),
        ({"logFormat": "xml"}, "logFormat"),
        ({"replicaCount": 2}, "peering.enabled"),
        ({"namespacePolicies": {"team-a": {"assumeRoleArn": "admin"}}}, "assumeRoleArn"),
        ({"serviceAccount": {"irsaRoleArn": "kubemaker-operator"}}, "irsaRoleArn"),
        ({"watchNamespace": ["typo"]}, "watchNamespace"),
    ],
)
def test_bad_values_are_refused_with_the_field_named(helm, values, complaint):
    result = subprocess.run([str(helm), "template", "kubemaker", str(CHART), "--values", "-"],
                            input=yaml.safe_dump(values), capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert complaint in result.stderr


def test_schema_is_valid_json_and_documents_every_top_level_value():
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) == set(schema["properties"]) - {"global"}  # global: from a parent chart


def test_notes_tell_how_to_give_the_operator_aws_credentials(helm):
    def notes(*args: str) -> str:
        result = run_helm(helm, "install", "kubemaker", str(CHART), "--namespace", "ml-platform", "--dry-run=client",
                          *args)
        return result.stdout.split("NOTES:", 1)[1]

    without_role = notes()
    assert "create-pod-identity-association" in without_role
    assert "--namespace ml-platform --service-account kubemaker" in without_role
    assert "serviceAccount.irsaRoleArn" in without_role
    with_role = notes("--set", "serviceAccount.irsaRoleArn=arn:aws:iam::111122223333:role/kubemaker")
    assert "IRSA: its pods get the IAM role arn:aws:iam::111122223333:role/kubemaker" in with_role
    assert "create-pod-identity-association" not in with_role
