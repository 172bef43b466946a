"""The chart's clusterPlacement values: the operator's rights on Jobs, Services and pods only when
enabled, and a configuration the operator accepts, naming the chart's own image for the pods."""

from __future__ import annotations

from kubemaker.config import OperatorConfig
from tests.unit.test_chart import GROUP, PLURALS, one, render, rendered_config, rules_by_resource

CLUSTER_RULES = {"batch/jobs": {"get", "create", "delete"}, "/services": {"get", "create", "delete"},
                 "/pods": {"list"}}


def test_rights_on_jobs_services_and_pods_only_when_cluster_placement_is_enabled(helm):
    disabled = rules_by_resource(one(render(helm), "ClusterRole", "kubemaker-manager"))
    assert not set(CLUSTER_RULES) & set(disabled)
    enabled = rules_by_resource(one(render(helm, {"clusterPlacement": {"enabled": True}}), "ClusterRole",
                                    "kubemaker-manager"))
    assert {resource: enabled[resource] for resource in CLUSTER_RULES} == CLUSTER_RULES
    # Nothing else changed: no secrets, no pod logs, no writes to pods.
    assert set(enabled) - set(disabled) == set(CLUSTER_RULES)
    assert all(f"{GROUP}/{plural}" in enabled for plural in PLURALS)


def test_the_rights_follow_the_watched_namespaces(helm):
    objects = render(helm, {"clusterPlacement": {"enabled": True}, "watchNamespaces": ["team-a"]})
    binding = one(objects, "RoleBinding", "kubemaker-manager")
    assert binding["metadata"]["namespace"] == "team-a" and binding["roleRef"]["name"] == "kubemaker-manager"


def test_rendered_cluster_placement_is_accepted_and_runs_the_charts_image(helm):
    values = {
        "image": {"repository": "registry.example/kubemaker", "tag": "1.2.3", "pullPolicy": "Always"},
        "clusterPlacement": {
            "enabled": True, "hostNetwork": True, "dnsConfig": {"nameservers": ["10.0.0.10"]},
            "instanceTypes": {"ml.m5.xlarge": {"cpu": "3", "memory": "12Gi"}},
            "env": [{"name": "AWS_ENDPOINT_URL_S3", "value": "https://s3.example"}],
        },
    }
    settings = OperatorConfig.model_validate(rendered_config(render(helm, values))).cluster_placement
    assert settings.enabled and settings.image == "registry.example/kubemaker:1.2.3"
    assert settings.image_pull_policy == "Always" and settings.host_network
    assert settings.dns_config == {"nameservers": ["10.0.0.10"]}
    assert settings.resources_for("ml.m5.xlarge").memory == "12Gi"
    assert settings.resources_for("ml.g5.xlarge").gpu == 1  # the defaults stay
    assert settings.env == [{"name": "AWS_ENDPOINT_URL_S3", "value": "https://s3.example"}]
    defaults = OperatorConfig.model_validate(rendered_config(render(helm))).cluster_placement
    assert not defaults.enabled and defaults.dns_config is None
