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
from kubemaker_dev.codegen import generate
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
    assert copied == generated, "run make generate"
    for name in generated:
        assert (CHART / "crds" / name).read_bytes() == (REPO_ROOT / "crds" / name).read_bytes(), (
            f"charts/kubemaker/crds/{name} differs from crds/{name}: run make generate"
        )


def test_generator_writes_the_chart_crds_and_flags_one_that_differs_is_missing_or_is_left_over(
        tmp_path, monkeypatch):
    """`make generate` writes the chart's copies, so its check (test_api_generated) catches a stale one."""
    monkeypatch.setattr(generate, "CHART_CRDS_DIR", tmp_path)
    expected = generate.render_all()
    chart_files = {path: text for path, text in expected.items() if path.parent == tmp_path}
    assert sorted(path.name for path in chart_files) == sorted(f"{GROUP}_{plural}.yaml" for plural in PLURALS)
    for path, text in chart_files.items():
        path.write_text(text)

    def stale() -> list[str]:
        return sorted(path.name for path in generate.stale_files(expected, managed=generate.managed_dirs())
                      if path.parent == tmp_path)

    assert stale() == []
    edited, removed = tmp_path / f"{GROUP}_models.yaml", tmp_path / f"{GROUP}_endpoints.yaml"
    edited.write_text(edited.read_text() + "# edited by hand\n")
    removed.unlink()
    (tmp_path / f"{GROUP}_retired.yaml").write_text("kind: CustomResourceDefinition\n")
    (tmp_path / "not-ours.yaml").write_text("kind: CustomResourceDefinition\n")
    assert stale() == sorted([edited.name, removed.name, f"{GROUP}_retired.yaml"])


def test_lint_is_clean(helm):
    result = run_helm(helm, "lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in result.stdout
    namespaced = run_helm(helm, "lint", "--strict", str(CHART), "--set", "watchNamespaces={team-a,team-b}",
                          "--set", "replicaCount=1", "--set", "metrics.serviceMonitor.enabled=true")
    assert "0 chart(s) failed" in namespaced.stdout


def test_default_install_is_two_rolling_non_root_read_only_replicas(helm):
    objects = render(helm)
    deployment = one(objects, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    # New pods join as standbys before an old one goes; the leader hands over its Lease as it stops.
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["run", "--config=/etc/kubemaker/config.yaml"]
    env = {variable["name"]: variable for variable in container["env"]}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
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
        "leaderElection": {"leaseDurationSeconds": 30, "renewDeadlineSeconds": 20, "retryPeriodSeconds": 4},
    }
    config = OperatorConfig.model_validate(rendered_config(render(helm, values, namespace="ml-platform",
                                                                  release="sagemaker")))
    assert config.region == "eu-west-1"
    assert config.endpoint_url == "https://sagemaker.eu-west-1.vpce.example"
    assert config.namespaces == ["team-a", "team-b"]
    assert config.poll_interval_seconds == 2.5 and config.log_format == "text"
    election = config.leader_election
    assert election.enabled and (election.lease_name, election.lease_namespace) == ("sagemaker-kubemaker", "ml-platform")
    assert (election.lease_duration_seconds, election.renew_deadline_seconds, election.retry_period_seconds) == (30, 20, 4)
    team_a = config.policy_for("team-a")
    assert team_a.assume_role_arn == "arn:aws:iam::444455556666:role/kubemaker-team-a" and team_a.allow_adoption
    assert team_a.allows_role("arn:aws:iam::444455556666:role/team-a-training")
    other = config.policy_for("team-b")
    assert other.assume_role_arn is None and not other.allow_adoption
    assert not other.allows_role("arn:aws:iam::444455556666:role/team-a-training")

    defaults = OperatorConfig.model_validate(rendered_config(render(helm)))
    assert defaults.namespaces == [] and defaults.endpoint_url is None
    assert defaults.leader_election.model_dump() == {
        "enabled": True, "lease_name": "kubemaker", "lease_namespace": "kubemaker-system",
        "lease_duration_seconds": 15, "renew_deadline_seconds": 10, "retry_period_seconds": 2,
    }


# Operator settings the chart deliberately does not offer.
NOT_IN_CHART = {
    "strictStatus": "a development check of the operator's own status writes",
    "bindAddress": "with hostNetwork, each pod's own IP (KUBEMAKER_BIND_ADDRESS from status.podIP)",
}


def test_chart_offers_every_operator_setting(helm):
    values = {"aws": {"endpointUrl": "https://example.com"}}
    rendered = set(rendered_config(render(helm, values)))
    settings = {field.alias or name for name, field in OperatorConfig.model_fields.items()}
    assert rendered == settings - set(NOT_IN_CHART), "a setting of kubemaker.config is missing from the chart"


def test_host_network_listens_on_the_pod_ip_only(helm):
    pod = one(render(helm, {"hostNetwork": True}), "Deployment")["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    env = {variable["name"]: variable for variable in pod["containers"][0]["env"]}
    assert env["KUBEMAKER_BIND_ADDRESS"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    default = one(render(helm), "Deployment")["spec"]["template"]["spec"]
    assert "hostNetwork" not in default
    assert "KUBEMAKER_BIND_ADDRESS" not in {variable["name"] for variable in default["containers"][0]["env"]}


def test_host_network_rolls_one_pod_at_a_time_without_a_surge_pod(helm):
    # A surge pod would hold the same host ports as the replicas: with two replicas on two nodes it
    # could never be scheduled, and the rollout would wait for it forever.
    objects = render(helm, {"hostNetwork": True})
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    # Drains still evict one replica at a time.
    assert one(objects, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    pod_network = one(render(helm, {"hostNetwork": False}), "Deployment")["spec"]["strategy"]
    assert pod_network["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


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
    (lease_binding,) = find(objects, "RoleBinding")
    assert lease_binding["metadata"]["name"] == "kubemaker-leader-election"


def test_leader_election_may_use_only_its_own_lease_in_the_release_namespace(helm):
    objects = render(helm, {"watchNamespaces": ["team-a"]}, namespace="ml-platform", release="sm")
    role = one(objects, "Role", "sm-kubemaker-leader-election")
    assert role["metadata"]["namespace"] == "ml-platform"
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["sm-kubemaker"],
         "verbs": ["get", "update"]},
    ]
    binding = one(objects, "RoleBinding", "sm-kubemaker-leader-election")
    assert binding["metadata"]["namespace"] == "ml-platform"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    account = one(objects, "ServiceAccount")["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "ml-platform"}]
    config = rendered_config(objects)["leaderElection"]
    assert (config["leaseName"], config["leaseNamespace"]) == ("sm-kubemaker", "ml-platform")
    # Nothing of kopf's peering is left: no peering kinds, objects or rules.
    everything = yaml.safe_dump_all(render(helm, {"watchNamespaces": ["team-a"]}, include_crds=True))
    assert "peering" not in everything.lower()


def test_more_than_one_replica_gets_a_disruption_budget(helm):
    budget = one(render(helm), "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == one(render(helm), "Deployment")["spec"]["selector"]["matchLabels"]
    single = render(helm, {"replicaCount": 1})
    assert one(single, "Deployment")["spec"]["replicas"] == 1 and not find(single, "PodDisruptionBudget")


def test_namespace_scoped_install_binds_the_manager_role_per_namespace(helm):
    objects = render(helm, {"watchNamespaces": ["team-a", "team-b"]})
    bindings = [b for b in find(objects, "RoleBinding") if b["roleRef"]["kind"] == "ClusterRole"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    assert {b["roleRef"]["name"] for b in bindings} == {"kubemaker-manager"}
    assert [b["metadata"]["name"] for b in find(objects, "ClusterRoleBinding")] == ["kubemaker-discovery"]
    discovery = rules_by_resource(one(objects, "ClusterRole", "kubemaker-discovery"))
    assert discovery["/namespaces"] == {"list", "watch"}  # kopf lists namespaces when not cluster-wide


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
        ({"peering": {"enabled": True}}, "peering"),  # gone: replicas elect a leader through a Lease
        ({"leaderElection": {"leaseDurationSeconds": 10, "renewDeadlineSeconds": 10, "retryPeriodSeconds": 2}},
         "renewDeadlineSeconds must be less than"),
        ({"leaderElection": {"leaseDurationSeconds": 15, "renewDeadlineSeconds": 2, "retryPeriodSeconds": 2}},
         "more than 1.2 x"),
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


def test_namespace_policies_are_rendered_exactly_as_given(helm):
    """An empty list is "nothing", not "unset": it must never turn into the permissive ["*"]."""
    values = {
        "defaultNamespacePolicy": {"allowedRoleArns": [], "allowAdoption": False, "allowedSageMakerReferences": []},
        "namespacePolicies": {
            "team-a": {"allowedRoleArns": [], "allowedSageMakerReferences": []},
            "team-b": {"allowedRoleArns": ["arn:aws:iam::111122223333:role/team-b-*"], "allowAdoption": True,
                       "allowedSageMakerReferences": ["arn:aws:sagemaker:*:*:model/shared-*"]},
        },
    }
    rendered = rendered_config(render(helm, values))
    assert rendered["defaultNamespacePolicy"] == {"allowedRoleArns": [], "allowAdoption": False,
                                                  "allowedSageMakerReferences": []}
    assert rendered["namespacePolicies"]["team-a"] == {"allowedRoleArns": [], "allowedSageMakerReferences": []}
    config = OperatorConfig.model_validate(rendered)
    role = "arn:aws:iam::111122223333:role/team-b-training"
    assert not config.policy_for("team-a").allows_role(role) and not config.policy_for("team-c").allows_role(role)
    team_b = config.policy_for("team-b")
    assert team_b.allows_role(role) and team_b.allow_adoption
    assert team_b.allows_reference("arn:aws:sagemaker:us-east-1:111122223333:model/shared-scorer")
    assert not config.policy_for("team-a").allows_reference("arn:aws:sagemaker:us-east-1:111122223333:model/shared-scorer")


def test_the_default_policy_is_the_documented_permissive_demo_one(helm):
    policy = OperatorConfig.model_validate(rendered_config(render(helm))).default_namespace_policy
    assert policy.allowed_role_arns == ["*"] and not policy.allow_adoption
    assert policy.allowed_sagemaker_references == []


def test_the_hardened_values_allow_nothing_by_default(helm):
    values = yaml.safe_load((CHART / "values-hardened.yaml").read_text())
    config = OperatorConfig.model_validate(rendered_config(render(helm, values)))
    default = config.policy_for("some-namespace")
    assert default.allowed_role_arns == [] and default.allowed_sagemaker_references == [] and not default.allow_adoption
    for namespace, given in values["namespacePolicies"].items():
        assert set(given) == {"allowedRoleArns", "assumeRoleArn", "allowAdoption", "allowedSageMakerReferences"}, (
            f"{namespace}: every key given, so none falls back to the operator's permissive default")
        policy = config.policy_for(namespace)
        assert policy.allowed_role_arns == given["allowedRoleArns"] and policy.assume_role_arn == given["assumeRoleArn"]
    run_helm(helm, "lint", "--strict", str(CHART), "-f", str(CHART / "values-hardened.yaml"))
