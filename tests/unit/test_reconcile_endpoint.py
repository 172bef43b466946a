"""The Endpoint planner: given the spec, what SageMaker and Application Auto Scaling show and the
recorded status, the one next call and the health to report."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

import pytest

from kubemaker.api.endpoint import build_put_scaling_policy_request
from kubemaker.api.registry import parse_spec
from kubemaker.conditions import READY, RECONCILING, STALLED
from kubemaker.reconcile import endpoint as planner
from kubemaker.reconcile.common import model_in_another_region

NAME = "team-fraud-0a1b2c3d"
TAGS = {"kubemaker.io/uid": "u"}
NOW = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
SCALING = {"minCapacity": 1, "maxCapacity": 4, "targetInvocationsPerInstance": 100}


def variant(name: str = "blue", weight: float = 1, count: int = 1, instance_type: str = "ml.m5.large", **extra) -> dict:
    return {"variantName": name, "modelRef": {"name": name}, "instanceType": instance_type,
            "initialInstanceCount": count, "initialVariantWeight": weight, **extra}


def desired(*variants: dict, **spec) -> planner.Desired:
    model = parse_spec("Endpoint", {"productionVariants": list(variants) or [variant()], **spec})
    return planner.Desired(model, NAME, {v["variantName"]: f"model-{v['variantName']}" for v in variants or [variant()]}, TAGS)


def config_name(want: planner.Desired, endpoint: dict | None = None) -> str:
    return planner.desired_config(want, endpoint)["EndpointConfigName"]


def summary(name: str = "blue", weight: float = 1, count: int | None = 1, serverless: dict | None = None) -> dict:
    found = {"VariantName": name, "CurrentWeight": weight, "DesiredWeight": weight}
    if serverless is not None:
        found["CurrentServerlessConfig"] = found["DesiredServerlessConfig"] = serverless
    else:
        found["CurrentInstanceCount"] = found["DesiredInstanceCount"] = count
    return found


def endpoint(config: str, state: str = "InService", variants: list[dict] | None = None, failure: str | None = None) -> dict:
    described = {
        "EndpointName": NAME, "EndpointArn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{NAME}",
        "EndpointConfigName": config, "EndpointStatus": state, "CreationTime": NOW, "LastModifiedTime": NOW,
        "ProductionVariants": variants if variants is not None else [summary()],
    }
    if failure:
        described["FailureReason"] = failure
    return described


def target(variant_name: str = "blue", low: int = 1, high: int = 4) -> dict:
    return {"ServiceNamespace": "sagemaker", "ResourceId": f"endpoint/{NAME}/variant/{variant_name}",
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount", "MinCapacity": low, "MaxCapacity": high}


def policy(want: planner.Desired, variant_name: str = "blue") -> dict:
    variant_model = next(v for v in want.spec.productionVariants if v.variantName == variant_name)
    return build_put_scaling_policy_request(NAME, variant_model)


@dataclass
class Case:
    want: planner.Desired
    observed: planner.Observed
    status: dict = field(default_factory=dict)
    generation: int = 1

    def plan(self) -> planner.Step:
        return planner.plan_endpoint(self.want, self.observed, self.status, self.generation, "us-east-1")


PLAIN = desired()
CONFIG = config_name(PLAIN)
OLD = f"{NAME}-00000000"


# Creation ---------------------------------------------------------------------------------------------


def test_first_the_config_with_its_name_recorded_before_the_call():
    step = Case(PLAIN, planner.Observed()).plan()
    assert step.action == "create_endpoint_config"
    assert step.before == {"pendingEndpointConfigName": CONFIG}
    assert step.request["ProductionVariants"][0]["ModelName"] == "model-blue"
    assert {"Key": "kubemaker.io/uid", "Value": "u"} in step.request["Tags"]
    assert step.requeue_after == 0


def test_then_the_endpoint_with_a_create_marker():
    step = Case(PLAIN, planner.Observed(pending_config={"EndpointConfigName": CONFIG}),
                {"pendingEndpointConfigName": CONFIG}).plan()
    assert step.action == "create_endpoint"
    assert step.request == {"EndpointName": NAME, "EndpointConfigName": CONFIG,
                            "Tags": [{"Key": "kubemaker.io/uid", "Value": "u"}]}
    assert step.before["createPending"]["name"] == NAME


def test_a_recorded_config_that_never_got_made_is_made():
    step = Case(PLAIN, planner.Observed(), {"pendingEndpointConfigName": CONFIG}).plan()
    assert step.action == "create_endpoint_config"


@pytest.mark.parametrize("status", [
    {"endpointConfigName": OLD},
    {"pendingEndpointConfigName": OLD},
    {"failedEndpointConfigNames": [OLD]},
])
def test_configs_of_an_earlier_life_go_before_a_new_endpoint(status):
    step = Case(PLAIN, planner.Observed(), status).plan()
    assert (step.action, step.request) == ("delete_endpoint_config", {"EndpointConfigName": OLD})
    assert OLD not in (step.status.get("endpointConfigName"), step.status.get("pendingEndpointConfigName"))
    assert not step.status.get("failedEndpointConfigNames")


@pytest.mark.parametrize("state", ["Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"])
def test_work_in_progress_is_waited_for(state):
    step = Case(PLAIN, planner.Observed(endpoint(CONFIG, state)), {"pendingEndpointConfigName": CONFIG}).plan()
    assert step.action is None and step.health.state == RECONCILING and step.track
    assert step.status["endpointStatus"] == state


def test_in_service_with_the_spec_is_ready_with_status():
    step = Case(PLAIN, planner.Observed(endpoint(CONFIG)), {"pendingEndpointConfigName": CONFIG}).plan()
    assert step.action is None and step.health.state == READY
    assert step.status["endpointConfigName"] == CONFIG and step.status["pendingEndpointConfigName"] is None
    assert step.status["invocationUrl"] == f"https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/{NAME}/invocations"
    assert step.status["variantSummary"] == "blue=100%(1)"
    assert step.status["createPending"] is None


# Least disruptive changes -------------------------------------------------------------------------------


TWO = desired(variant("blue", weight=0), variant("green", weight=100))
TWO_CONFIG = config_name(TWO)


@pytest.mark.parametrize(
    "observed_variants, differing",
    [
        ([summary("blue", 90), summary("green", 10)], "blue, green"),
        ([summary("blue", 0), summary("green", 100, count=3)], "green"),
    ],
)
def test_weights_and_counts_change_in_place(observed_variants, differing):
    step = Case(TWO, planner.Observed(endpoint(TWO_CONFIG, variants=observed_variants)),
                {"endpointConfigName": TWO_CONFIG}).plan()
    assert step.action == "update_endpoint_weights_and_capacities"
    assert step.request == {"EndpointName": NAME, "DesiredWeightsAndCapacities": [
        {"VariantName": "blue", "DesiredWeight": 0, "DesiredInstanceCount": 1},
        {"VariantName": "green", "DesiredWeight": 100, "DesiredInstanceCount": 1},
    ]}
    assert step.health.message.endswith(differing)


def test_weights_and_counts_do_not_change_the_config_name():
    assert config_name(desired(variant(weight=5, count=3))) == CONFIG
    assert config_name(desired(variant(instance_type="ml.m5.xlarge"))) != CONFIG


def test_serverless_concurrency_changes_in_place():
    serverless = {"variantName": "blue", "modelRef": {"name": "blue"},
                  "serverlessConfig": {"memorySizeInMB": 2048, "maxConcurrency": 10}}
    want = desired(serverless)
    observed = endpoint(config_name(want), variants=[summary(serverless={"MemorySizeInMB": 2048, "MaxConcurrency": 5})])
    step = Case(want, planner.Observed(observed), {"endpointConfigName": config_name(want)}).plan()
    assert step.action == "update_endpoint_weights_and_capacities"
    assert step.request["DesiredWeightsAndCapacities"][0]["ServerlessUpdateConfig"] == {"MaxConcurrency": 10}


def test_anything_else_makes_a_new_config_then_updates_with_the_deployment_config():
    canary = {"blueGreenUpdatePolicy": {"trafficRoutingConfiguration": {
        "type": "CANARY", "waitIntervalInSeconds": 60, "canarySize": {"type": "CAPACITY_PERCENT", "value": 10}}}}
    want = desired(variant(instance_type="ml.m5.xlarge"), deploymentConfig=canary)
    new = config_name(want)
    running = endpoint(CONFIG)
    step = Case(want, planner.Observed(running, config_in_use={"ProductionVariants": [{"VariantName": "blue"}]}),
                {"endpointConfigName": CONFIG}).plan()
    assert step.action == "create_endpoint_config" and step.request["EndpointConfigName"] == new
    assert step.before == {"pendingEndpointConfigName": new}

    step = Case(want, planner.Observed(running, pending_config={"EndpointConfigName": new}),
                {"endpointConfigName": CONFIG, "pendingEndpointConfigName": new}).plan()
    assert step.action == "update_endpoint"
    assert step.request["EndpointConfigName"] == new
    assert step.request["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "CANARY"
    assert step.status["endpointConfigName"] == CONFIG, "the config in use stays until the update settles"


def test_a_settled_update_deletes_the_config_it_replaced():
    step = Case(PLAIN, planner.Observed(endpoint(CONFIG)),
                {"endpointConfigName": OLD, "pendingEndpointConfigName": CONFIG}).plan()
    assert (step.action, step.request) == ("delete_endpoint_config", {"EndpointConfigName": OLD})
    assert step.status["endpointConfigName"] == CONFIG and step.status["pendingEndpointConfigName"] is None


def test_a_config_superseded_before_its_update_started_is_deleted():
    step = Case(PLAIN, planner.Observed(endpoint(CONFIG), pending_config={"EndpointConfigName": OLD}),
                {"endpointConfigName": CONFIG, "pendingEndpointConfigName": OLD, "endpointStatus": "InService"}).plan()
    assert (step.action, step.request) == ("delete_endpoint_config", {"EndpointConfigName": OLD})
    assert step.status["pendingEndpointConfigName"] is None


# Failures ---------------------------------------------------------------------------------------------


NEW = desired(variant(instance_type="ml.c5.xlarge"))
NEW_CONFIG = config_name(NEW)


def test_a_rolled_back_update_is_stalled_for_the_generation_and_recorded():
    step = Case(NEW, planner.Observed(endpoint(CONFIG, failure="InsufficientCapacity"), pending_config={}),
                {"endpointConfigName": CONFIG, "pendingEndpointConfigName": NEW_CONFIG, "endpointStatus": "RollingBack"},
                generation=3).plan()
    assert step.action is None
    assert (step.health.state, step.health.reason) == (STALLED, "UpdateFailed")
    assert "InsufficientCapacity" in step.health.message and CONFIG in step.health.message
    assert step.status["failedEndpointConfigNames"] == [NEW_CONFIG]
    assert step.status["failedGeneration"] == 3 and step.status["pendingEndpointConfigName"] is None
    assert step.events[0].type == "Warning"


def test_a_failed_generation_is_not_retried():
    step = Case(NEW, planner.Observed(endpoint(CONFIG)),
                {"endpointConfigName": CONFIG, "failedEndpointConfigNames": [NEW_CONFIG], "failedGeneration": 3},
                generation=3).plan()
    assert step.action is None and step.health.state == STALLED


def test_an_update_recorded_but_never_sent_is_sent():
    step = Case(NEW, planner.Observed(endpoint(CONFIG), pending_config={"EndpointConfigName": NEW_CONFIG}),
                {"endpointConfigName": CONFIG, "pendingEndpointConfigName": NEW_CONFIG, "endpointStatus": "InService"}).plan()
    assert step.action == "update_endpoint"


def test_failed_configs_go_once_the_spec_moved_on():
    step = Case(PLAIN, planner.Observed(endpoint(CONFIG)),
                {"endpointConfigName": CONFIG, "failedEndpointConfigNames": [NEW_CONFIG], "failedGeneration": 3},
                generation=4).plan()
    assert (step.action, step.request) == ("delete_endpoint_config", {"EndpointConfigName": NEW_CONFIG})
    assert step.status["failedEndpointConfigNames"] is None


def test_a_failed_weights_update_is_stalled():
    step = Case(TWO, planner.Observed(endpoint(TWO_CONFIG, variants=[summary("blue", 90), summary("green", 10)],
                                               failure="capacity")),
                {"endpointConfigName": TWO_CONFIG, "endpointStatus": "Updating"}).plan()
    assert (step.health.state, step.action) == (STALLED, None)


@pytest.mark.parametrize(
    "status, generation, action, state",
    [
        ({}, 1, None, STALLED),  # first seen: Stalled with SageMaker's reason
        ({"failedGeneration": 1}, 1, None, STALLED),
        ({"failedGeneration": 1}, 2, "delete_endpoint", RECONCILING),  # the spec changed: re-create
    ],
)
def test_a_failed_endpoint_is_recreated_only_after_a_spec_change(status, generation, action, state):
    step = Case(PLAIN, planner.Observed(endpoint(CONFIG, "Failed", failure="ping failed")),
                {"endpointConfigName": CONFIG, **status}, generation).plan()
    assert (step.action, step.health.state) == (action, state)
    if state == STALLED:
        assert "ping failed" in step.health.message


# Autoscaling ------------------------------------------------------------------------------------------


SCALED = desired(variant(count=2, autoScaling=SCALING))


@pytest.mark.parametrize(
    "targets, policies, action, request_part",
    [
        ({}, {}, "register_scalable_target", {"MinCapacity": 1, "MaxCapacity": 4}),
        ({"blue": target(high=3)}, {}, "register_scalable_target", {"MaxCapacity": 4}),
        ({"blue": target()}, {}, "put_scaling_policy", {"PolicyType": "TargetTrackingScaling"}),
        ({"blue": target()}, {"blue": {**policy(desired(variant(autoScaling={**SCALING, "targetInvocationsPerInstance": 50}))),
                                       "PolicyARN": "arn"}}, "put_scaling_policy", {}),
        ({"blue": target()}, {"blue": {**policy(SCALED), "PolicyARN": "arn"}}, None, {}),
    ],
)
def test_autoscaling_is_registered_and_kept_as_the_spec_says(targets, policies, action, request_part):
    step = Case(SCALED, planner.Observed(endpoint(config_name(SCALED), variants=[summary(count=3)]), targets=targets,
                                         policies=policies),
                {"endpointConfigName": config_name(SCALED)}).plan()
    assert step.action == action
    if action:
        assert step.service == "application-autoscaling"
        assert request_part.items() <= step.request.items()
        assert step.request["ResourceId"] == f"endpoint/{NAME}/variant/blue"
    else:
        assert step.health.state == READY, "the scaler's count of 3 is not fought back to the spec's 2"


def test_dropped_autoscaling_removes_the_policy_then_the_target_then_sets_the_count():
    want = desired(variant(count=2))
    name = config_name(want)
    running = endpoint(name, variants=[summary(count=3)])
    status = {"endpointConfigName": name, "autoScaledVariants": ["blue"]}
    step = Case(want, planner.Observed(running, targets={"blue": target()}, policies={"blue": {}}), status).plan()
    assert step.action == "delete_scaling_policy"
    step = Case(want, planner.Observed(running, targets={"blue": target()}), status).plan()
    assert step.action == "deregister_scalable_target" and step.status["autoScaledVariants"] is None
    step = Case(want, planner.Observed(running), {"endpointConfigName": name}).plan()
    assert step.action == "update_endpoint_weights_and_capacities"
    assert step.request["DesiredWeightsAndCapacities"][0]["DesiredInstanceCount"] == 2


def test_someone_elses_scalable_target_is_left_alone():
    step = Case(PLAIN, planner.Observed(endpoint(CONFIG), targets={"blue": target()}), {"endpointConfigName": CONFIG}).plan()
    assert step.action is None and step.health.state == READY


def test_an_instance_type_change_deregisters_first_and_carries_the_scalers_count():
    want = desired(variant(count=2, instance_type="ml.m5.xlarge", autoScaling=SCALING))
    running = endpoint(config_name(SCALED), variants=[summary(count=3)])
    in_use = {"ProductionVariants": [{"VariantName": "blue", "InstanceType": "ml.m5.large"}]}
    status = {"endpointConfigName": config_name(SCALED), "autoScaledVariants": ["blue"]}
    step = Case(want, planner.Observed(running, config_in_use=in_use, targets={"blue": target()}), status).plan()
    assert step.action == "deregister_scalable_target"
    step = Case(want, planner.Observed(running, config_in_use=in_use), {**status, "autoScaledVariants": None}).plan()
    assert step.action == "create_endpoint_config"
    assert step.request["ProductionVariants"][0]["InitialInstanceCount"] == 3


def test_a_model_change_keeps_the_scalable_target_registered():
    want = planner.Desired(SCALED.spec, NAME, {"blue": "model-blue-r2"}, TAGS)
    running = endpoint(config_name(SCALED), variants=[summary(count=3)])
    in_use = {"ProductionVariants": [{"VariantName": "blue", "InstanceType": "ml.m5.large"}]}
    step = Case(want, planner.Observed(running, config_in_use=in_use, targets={"blue": target()}),
                {"endpointConfigName": config_name(SCALED), "autoScaledVariants": ["blue"]}).plan()
    assert step.action == "create_endpoint_config"
    assert step.request["ProductionVariants"][0]["ModelName"] == "model-blue-r2"


@pytest.mark.parametrize("model_spec, region, stalled", [
    ({}, "us-east-1", False),  # the operator's default region on both sides
    ({"region": "eu-west-1"}, "eu-west-1", False),
    ({}, "eu-west-1", True),
    ({"region": "eu-west-1"}, "us-east-1", True),
])
def test_a_model_in_another_region_stalls_instead_of_waiting(model_spec, region, stalled):
    health = model_in_another_region("churn", {"spec": model_spec}, region, default_region="us-east-1")
    assert (health is not None) == stalled
    if stalled:
        assert health.state == "Stalled" and f"reference a Model in {region}" in health.message


# Adopted configs and models used by name ------------------------------------------------------------


def live_config(want: planner.Desired, name: str = "legacy", **changes) -> dict:
    """DescribeEndpointConfig of a config made outside the operator, as SageMaker answers it."""
    described = {**planner.desired_config(want, None), "EndpointConfigName": name, "CreationTime": NOW,
                 "EndpointConfigArn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/{name}", **changes}
    described.pop("Tags")
    for variant_described in described["ProductionVariants"]:
        variant_described.setdefault("VolumeSizeInGB", 4)  # SageMaker adds its defaults
    return described


@pytest.mark.parametrize("changes, matches", [
    ({}, True),
    ({"KmsKeyId": "alias/other"}, False),  # the live config sets something the spec does not
    ({"ProductionVariants": [{"VariantName": "blue", "ModelName": "model-blue", "InstanceType": "ml.c5.large",
                              "InitialInstanceCount": 1, "InitialVariantWeight": 1.0}]}, False),
    # Weights and counts change in place: they do not make a config different.
    ({"ProductionVariants": [{"VariantName": "blue", "ModelName": "model-blue", "InstanceType": "ml.m5.large",
                              "InitialInstanceCount": 3, "InitialVariantWeight": 5.0}]}, True),
])
def test_an_existing_config_matches_the_spec_apart_from_what_changes_in_place(changes, matches):
    want = desired(variant())
    assert planner.config_matches(live_config(want, **changes), planner.desired_config(want, None)) is matches


def test_an_adopted_endpoint_on_a_matching_config_is_ready_with_no_new_config():
    want = desired(variant())
    live = live_config(want)
    status = {"endpointArn": "arn", "endpointConfigName": "legacy"}
    plan = planner.plan_endpoint(want, planner.Observed(endpoint=endpoint("legacy"), config_in_use=live), status, 1, "us-east-1")
    assert plan.action is None and plan.health.state == READY
    assert plan.status["endpointConfigName"] == "legacy"


def test_an_adopted_endpoint_on_a_different_config_moves_to_ours_then_deletes_the_adopted_one():
    want = desired(variant())
    live = live_config(want, KmsKeyId="alias/other")
    status = {"endpointArn": "arn", "endpointConfigName": "legacy"}
    plan = planner.plan_endpoint(want, planner.Observed(endpoint=endpoint("legacy"), config_in_use=live), status, 1, "us-east-1")
    assert plan.action == "create_endpoint_config" and plan.status["endpointConfigName"] == "legacy"


def test_literal_model_names_are_those_the_spec_names_not_its_model_objects():
    request = {"ProductionVariants": [
        {"VariantName": "a", "ModelName": "model-a"},
        {"VariantName": "b", "ModelName": "shared", "InstancePools": [{"InstanceType": "ml.g5.xlarge", "ModelNameOverride": "pool"}]},
    ], "ShadowProductionVariants": [{"VariantName": "s", "ModelName": "shadow"}]}
    assert planner.literal_model_names(request, {"a": "model-a"}) == ["pool", "shadow", "shared"]
