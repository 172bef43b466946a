"""Model and Endpoint controllers against Stubber-wrapped clients: every SageMaker and Application Auto
Scaling request is validated against the real service models, every canned answer against the output
shapes, and the expected parameters pin what the controllers send."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from kubemaker import FINALIZER
from kubemaker.api.endpoint import build_put_scaling_policy_request
from kubemaker.api.model import model_fingerprint
from kubemaker.api.registry import parse_spec
from kubemaker.config import OperatorConfig
from kubemaker.handlers import ENDPOINT_LIST
from kubemaker.handlers.endpoint import EndpointController
from kubemaker.handlers.model import ModelController
from kubemaker.reconcile import endpoint as planner
from kubemaker.runtime.outcomes import Stall
from kubemaker.runtime.reconciler import run_pass
from kubemaker.runtime.registry_tracker import ApprovedVersionTracker
from kubemaker.runtime.tracker import Tracker
from tests.stubber.conftest import clean_up, finalize, make_context, serve

NOW = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgb:1"
ARN = "arn:aws:sagemaker:us-east-1:123456789012"
NOT_FOUND = ("ValidationException", "Could not find it.")
OURS = [{"Key": "kubemaker.io/uid", "Value": "0000-1111"}]
OWNER_TAGS = [
    {"Key": "kubemaker.io/kind", "Value": "{kind}"},
    {"Key": "kubemaker.io/namespace", "Value": "team"},
    {"Key": "kubemaker.io/name", "Value": "job"},
    {"Key": "kubemaker.io/uid", "Value": "0000-1111"},
]
AUTOSCALING = "application-autoscaling"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def owner_tags(kind: str) -> list[dict]:
    return [{**tag, "Value": tag["Value"].format(kind=kind)} for tag in OWNER_TAGS]


def serve_objects(runtime, objects: dict[tuple[str, str], dict], endpoints: list[dict] | None = None) -> None:
    """The Kubernetes side the controllers read, as the watch showed it: referenced objects by
    (kind, name), and the namespace's Endpoints."""
    serve(runtime, {**objects, **{("Endpoint", e["metadata"]["name"]): e for e in endpoints or []}})


def base_name(ctx) -> str:
    """The SageMaker name of a Model's first revision."""
    return ctx.sagemaker_name


# Model ------------------------------------------------------------------------------------------------


MODEL_SPEC = {
    "executionRoleArn": ROLE,
    "primaryContainer": {"image": IMAGE, "modelDataFrom": {"trainingJobRef": {"name": "train"}}},
    "vpcConfig": {"securityGroupIds": ["sg-0123456789abcdef0"], "subnets": ["subnet-0123456789abcdef0"]},
    "enableNetworkIsolation": True,
}
COMPLETED_JOB = {"status": {"trainingJobStatus": "Completed", "modelArtifacts": {"s3ModelArtifacts": "s3://b/train/model.tar.gz"}}}


def test_model_from_a_completed_training_job(stubbed):
    serve_objects(stubbed, {("TrainingJob", "train"): COMPLETED_JOB})
    ctx = make_context(stubbed, "Model", "models", dict(MODEL_SPEC))
    name = base_name(ctx)
    stubbed.aws.stubbers["sagemaker"].add_response("create_model", {"ModelArn": f"{ARN}:model/{name}"}, expected_params={
        "ModelName": name,
        "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": "s3://b/train/model.tar.gz"},
        "ExecutionRoleArn": ROLE,
        "VpcConfig": {"SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": ["subnet-0123456789abcdef0"]},
        "EnableNetworkIsolation": True,
        "Tags": owner_tags("Model"),
    })
    # The same pass looks at the model it made (no ownership check: this pass made it).
    stubbed.aws.stubbers["sagemaker"].add_response("describe_model", described_model(name), {"ModelName": name})
    plan = asyncio.run(run_pass(ModelController(ApprovedVersionTracker(stubbed)), ctx))
    assert stubbed.object_patches[0][-1] == {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}, \
        "finalizer added before anything exists in SageMaker"
    assert stubbed.status_patches[0]["createPending"]["name"] == name, "marker written before the create call"
    assert plan.health.state == "Ready" and plan.status["modelName"] == name
    assert plan.status["modelArn"] == f"{ARN}:model/{name}" and plan.status["createPending"] is None
    assert plan.status["revisions"][0]["fingerprint"]
    assert [e.reason for e in plan.events] == ["Created"]


def test_model_waits_for_a_running_training_job_without_calls(stubbed):
    serve_objects(stubbed, {("TrainingJob", "train"): {"status": {"trainingJobStatus": "InProgress"}}})
    plan = asyncio.run(ModelController(ApprovedVersionTracker(stubbed)).reconcile(make_context(stubbed, "Model", "models", dict(MODEL_SPEC))))
    assert plan.health.reason == "WaitingForTrainingJob" and plan.look_again == "poll" and plan.action is None


def test_model_adoption_when_the_namespace_allows_it(stubbed):
    stubbed.config = OperatorConfig.model_validate({"defaultNamespacePolicy": {"allowAdoption": True}})
    serve_objects(stubbed, {("TrainingJob", "train"): COMPLETED_JOB})
    spec = {**MODEL_SPEC, "modelName": "legacy", "adoptExisting": True}
    ctx = make_context(stubbed, "Model", "models", spec)
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_model", {"ModelName": "legacy", "ModelArn": f"{ARN}:model/legacy", "CreationTime": NOW,
                                              "PrimaryContainer": {"Image": "other:0"}}, {"ModelName": "legacy"})
    sagemaker.add_response("list_tags", {"Tags": []}, {"ResourceArn": f"{ARN}:model/legacy"})
    sagemaker.add_response("add_tags", {}, {"ResourceArn": f"{ARN}:model/legacy", "Tags": owner_tags("Model")})
    plan = asyncio.run(run_pass(ModelController(ApprovedVersionTracker(stubbed)), ctx))
    assert plan.health.reason == "Adopted" and plan.requeue_after == 0 and plan.action is None
    assert plan.status["revisions"][0]["fingerprint"] == "adopted", "differs from the spec: replaced"
    assert [reason for _, reason, _ in stubbed.events] == ["Adopted"]


def test_model_adoption_never_retags_another_objects_model(stubbed):
    stubbed.config = OperatorConfig.model_validate({"defaultNamespacePolicy": {"allowAdoption": True}})
    serve_objects(stubbed, {("TrainingJob", "train"): COMPLETED_JOB})
    ctx = make_context(stubbed, "Model", "models", {**MODEL_SPEC, "modelName": "scorer", "adoptExisting": True})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_model", described_model("scorer"))
    theirs = [{"Key": "kubemaker.io/kind", "Value": "Model"}, {"Key": "kubemaker.io/namespace", "Value": "team-a"},
              {"Key": "kubemaker.io/name", "Value": "scorer"}, {"Key": "kubemaker.io/uid", "Value": "uid-a"}]
    sagemaker.add_response("list_tags", {"Tags": theirs})
    with pytest.raises(Stall, match="Model team-a/scorer") as refused:
        asyncio.run(ModelController(ApprovedVersionTracker(stubbed)).reconcile(ctx))
    assert refused.value.reason == "OwnedByAnotherObject"
    sagemaker.assert_no_pending_responses()  # and no AddTags: the stubber refuses any call not queued


PACKAGE_ARN = f"{ARN}:model-package/team-a-models/3"


@pytest.mark.parametrize("group_namespace, allowed", [("team", True), ("team-a", False)])
def test_a_model_package_by_name_belongs_to_its_groups_namespace(stubbed, group_namespace, allowed):
    serve_objects(stubbed, {})
    spec = {"executionRoleArn": ROLE, "containers": [{"modelPackageName": PACKAGE_ARN}]}
    ctx = make_context(stubbed, "Model", "models", spec)
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_model_package", {
        "ModelPackageName": "team-a-models", "ModelPackageGroupName": "team-a-models", "ModelPackageVersion": 3,
        "ModelPackageArn": PACKAGE_ARN, "CreationTime": NOW, "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": []}}, {"ModelPackageName": PACKAGE_ARN})
    group_arn = f"{ARN}:model-package-group/team-a-models"
    sagemaker.add_response("describe_model_package_group", {
        "ModelPackageGroupName": "team-a-models", "ModelPackageGroupArn": group_arn, "CreationTime": NOW,
        "CreatedBy": {}, "ModelPackageGroupStatus": "Completed"}, {"ModelPackageGroupName": "team-a-models"})
    sagemaker.add_response("list_tags", {"Tags": [{"Key": "kubemaker.io/namespace", "Value": group_namespace},
                                                  {"Key": "kubemaker.io/uid", "Value": "x"}]}, {"ResourceArn": group_arn})
    if allowed:
        sagemaker.add_response("create_model", {"ModelArn": f"{ARN}:model/{base_name(ctx)}"})
        sagemaker.add_response("describe_model", described_model(base_name(ctx)), {"ModelName": base_name(ctx)})
        assert asyncio.run(run_pass(ModelController(ApprovedVersionTracker(stubbed)), ctx)).health.state == "Ready"
        return
    with pytest.raises(Stall, match="model package") as refused:
        asyncio.run(run_pass(ModelController(ApprovedVersionTracker(stubbed)), ctx))
    assert refused.value.reason == "ReferenceNotAllowed"
    assert stubbed.status_patches == [], "no create pending: nothing was sent"


def test_model_adoption_refused_by_default(stubbed):
    serve_objects(stubbed, {("TrainingJob", "train"): COMPLETED_JOB})
    ctx = make_context(stubbed, "Model", "models", {**MODEL_SPEC, "modelName": "legacy", "adoptExisting": True})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_model", {"ModelName": "legacy", "ModelArn": f"{ARN}:model/legacy", "CreationTime": NOW})
    sagemaker.add_response("list_tags", {"Tags": []})
    with pytest.raises(Stall, match="may not adopt"):
        asyncio.run(ModelController(ApprovedVersionTracker(stubbed)).reconcile(ctx))


@pytest.mark.parametrize("config_models, deleted", [(["old"], False), (["new"], True)])
def test_an_old_revision_goes_once_no_endpoint_config_uses_it(stubbed, config_models, deleted):
    spec = {"executionRoleArn": ROLE, "primaryContainer": {"image": IMAGE, "modelDataUrl": "s3://b/m.tar.gz"}}
    ctx = make_context(stubbed, "Model", "models", spec)
    request = {"PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": "s3://b/m.tar.gz"}, "ExecutionRoleArn": ROLE,
               "Tags": owner_tags("Model")}
    digest = model_fingerprint(request)
    ctx.body["status"] = {"modelName": "new", "revisions": [
        {"modelName": "old", "fingerprint": "before"}, {"modelName": "new", "modelArn": f"{ARN}:model/new", "fingerprint": digest}]}
    serve_objects(stubbed, {}, endpoints=[{"metadata": {"name": "ep"}, "spec": {}, "status": {"endpointConfigName": "ep-1"}}])
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_model", {"ModelName": "new", "ModelArn": f"{ARN}:model/new", "CreationTime": NOW})
    sagemaker.add_response("describe_endpoint_config", config("ep-1", [
        {"VariantName": "v", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1} for name in config_models
    ]), {"EndpointConfigName": "ep-1"})
    if deleted:
        sagemaker.add_response("delete_model", {}, {"ModelName": "old"})
    plan = asyncio.run(run_pass(ModelController(ApprovedVersionTracker(stubbed)), ctx))
    assert plan.action == ("delete_model" if deleted else None)
    assert [r["modelName"] for r in plan.status["revisions"]] == (["new"] if deleted else ["old", "new"])


def test_a_new_revision_wakes_the_inference_components_on_the_model_and_keeps_the_one_they_serve(stubbed):
    spec = {"executionRoleArn": ROLE, "primaryContainer": {"image": IMAGE, "modelDataUrl": "s3://b/m.tar.gz"}}
    ctx = make_context(stubbed, "Model", "models", spec)
    request = {"PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": "s3://b/m.tar.gz"}, "ExecutionRoleArn": ROLE,
               "Tags": owner_tags("Model")}
    ctx.body["status"] = {"modelName": "old", "revisions": [
        {"modelName": "old", "fingerprint": "before"},
        {"modelName": "new", "modelArn": f"{ARN}:model/new", "fingerprint": model_fingerprint(request)}]}
    serving = {"spec": {"specification": {"modelRef": {"name": "job"}}}, "status": {"modelName": "old"}}
    other = {"spec": {"specification": {"modelName": "elsewhere"}}, "status": {"modelName": "elsewhere"}}
    serve_objects(stubbed, {("InferenceComponent", "serving"): serving, ("InferenceComponent", "other"): other})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_model", {"ModelName": "new", "ModelArn": f"{ARN}:model/new", "CreationTime": NOW})

    plan = asyncio.run(run_pass(ModelController(ApprovedVersionTracker(stubbed)), ctx))

    assert plan.action is None, "no DeleteModel: a component still serves the old revision"
    assert [r["modelName"] for r in plan.status["revisions"]] == ["old", "new"]
    assert plan.wake == [("InferenceComponent", "serving")]


# Endpoint ---------------------------------------------------------------------------------------------


SCALING = {"minCapacity": 1, "maxCapacity": 4, "targetInvocationsPerInstance": 100, "scaleOutCooldown": 60}
CANARY = {"blueGreenUpdatePolicy": {"trafficRoutingConfiguration": {
    "type": "CANARY", "waitIntervalInSeconds": 300, "canarySize": {"type": "CAPACITY_PERCENT", "value": 10}},
    "maximumExecutionTimeoutInSeconds": 3600},
    "autoRollbackConfiguration": {"alarms": [{"alarmName": "5xx"}]}}


def endpoint_spec(instance_type: str = "ml.m5.large", **extra) -> dict:
    return {
        "endpointName": "fraud",
        "productionVariants": [
            {"variantName": "blue", "modelRef": {"name": "blue"}, "instanceType": instance_type,
             "initialInstanceCount": 2, "initialVariantWeight": 90, "autoScaling": SCALING},
            {"variantName": "green", "modelName": "green-model", "instanceType": "ml.m5.large",
             "initialInstanceCount": 1, "initialVariantWeight": 10},
        ],
        "shadowProductionVariants": [{"variantName": "shadow", "modelName": "green-model",
                                      "serverlessConfig": {"memorySizeInMB": 2048, "maxConcurrency": 2}}],
        "dataCaptureConfig": {"initialSamplingPercentage": 10, "destinationS3Uri": "s3://b/capture",
                              "captureOptions": [{"captureMode": "Input"}]},
        "kmsKeyId": "alias/hosting",
        "deploymentConfig": CANARY,
        **extra,
    }


def config(name: str, variants: list[dict] | None = None) -> dict:
    variants = variants or [{"VariantName": "blue", "ModelName": "blue-model"}]
    return {"EndpointConfigName": name, "EndpointConfigArn": f"{ARN}:endpoint-config/{name}",
            "ProductionVariants": variants, "CreationTime": NOW}


def described_endpoint(config_name: str, state: str = "InService", blue_count: int = 3, weights=(90, 10)) -> dict:
    return {
        "EndpointName": "fraud", "EndpointArn": f"{ARN}:endpoint/fraud", "EndpointConfigName": config_name,
        "EndpointStatus": state, "CreationTime": NOW, "LastModifiedTime": NOW,
        "ProductionVariants": [
            {"VariantName": "blue", "CurrentWeight": weights[0], "DesiredWeight": weights[0],
             "CurrentInstanceCount": blue_count, "DesiredInstanceCount": blue_count},
            {"VariantName": "green", "CurrentWeight": weights[1], "DesiredWeight": weights[1],
             "CurrentInstanceCount": 1, "DesiredInstanceCount": 1},
        ],
    }


def scalable_target(variant: str = "blue") -> dict:
    return {"ServiceNamespace": "sagemaker", "ResourceId": f"endpoint/fraud/variant/{variant}", "ScalableDimension": DIMENSION,
            "MinCapacity": 1, "MaxCapacity": 4, "RoleARN": "arn:aws:iam::123456789012:role/aas", "CreationTime": NOW}


def expect_autoscaling_observed(stubbed, targets: list[dict], policies: list[dict] = ()) -> None:
    autoscaling = stubbed.aws.stubbers[AUTOSCALING]
    autoscaling.add_response("describe_scalable_targets", {"ScalableTargets": targets}, {
        "ServiceNamespace": "sagemaker", "ScalableDimension": DIMENSION,
        "ResourceIds": [f"endpoint/fraud/variant/{v}" for v in ("blue", "green", "shadow")]})
    for found in targets:
        variant = found["ResourceId"].rsplit("/", 1)[-1]
        autoscaling.add_response("describe_scaling_policies", {"ScalingPolicies": list(policies)}, {
            "ServiceNamespace": "sagemaker", "ResourceId": found["ResourceId"], "ScalableDimension": DIMENSION,
            "PolicyNames": [f"kubemaker-fraud-{variant}"]})


def endpoint_context(stubbed, spec: dict | None = None, status: dict | None = None):
    serve_objects(stubbed, {("Model", "blue"): {"status": {"modelName": "blue-model"}}})
    return make_context(stubbed, "Endpoint", "endpoints", spec or endpoint_spec(), status)


def controller(stubbed) -> EndpointController:
    return EndpointController(Tracker(stubbed, "Endpoint", ENDPOINT_LIST))


def controller_spec(ctx):
    return parse_spec("Endpoint", ctx.spec)


def wanted_config_name(ctx, endpoint: dict | None = None) -> str:
    desired = planner.Desired(controller_spec(ctx), "fraud", {"blue": "blue-model"}, ctx.owner.tag_map())
    return planner.desired_config(desired, endpoint)["EndpointConfigName"]


def test_endpoint_config_request_carries_every_passthrough_member(stubbed):
    ctx = endpoint_context(stubbed)
    name = wanted_config_name(ctx)
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_client_error("describe_endpoint", *NOT_FOUND, expected_params={"EndpointName": "fraud"})
    expect_literal_model_checked(stubbed)
    sagemaker.add_response("create_endpoint_config", {"EndpointConfigArn": f"{ARN}:endpoint-config/{name}"}, expected_params={
        "EndpointConfigName": name,
        "ProductionVariants": [
            {"VariantName": "blue", "ModelName": "blue-model", "InstanceType": "ml.m5.large",
             "InitialInstanceCount": 2, "InitialVariantWeight": 90},
            {"VariantName": "green", "ModelName": "green-model", "InstanceType": "ml.m5.large",
             "InitialInstanceCount": 1, "InitialVariantWeight": 10},
        ],
        "ShadowProductionVariants": [{"VariantName": "shadow", "ModelName": "green-model",
                                      "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 2}}],
        "DataCaptureConfig": {"InitialSamplingPercentage": 10, "DestinationS3Uri": "s3://b/capture",
                              "CaptureOptions": [{"CaptureMode": "Input"}]},
        "KmsKeyId": "alias/hosting",
        "Tags": owner_tags("Endpoint"),
    })
    plan = asyncio.run(run_pass(controller(stubbed), ctx))
    assert plan.action == "create_endpoint_config"
    assert stubbed.status_patches[0] == {"pendingEndpointConfigName": name}


def expect_literal_model_checked(stubbed) -> None:
    """green-model is named literally (blue comes from a Model object): each pass checks the namespace owns it."""
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_model", described_model("green-model"), {"ModelName": "green-model"})
    sagemaker.add_response("list_tags", {"Tags": owner_tags("Model")}, {"ResourceArn": f"{ARN}:model/green-model"})


def described_model(name: str) -> dict:
    return {"ModelName": name, "ModelArn": f"{ARN}:model/{name}", "CreationTime": NOW, "PrimaryContainer": {"Image": IMAGE}}


@pytest.mark.parametrize("tags, allowed", [
    ([{**tag, "Value": "other-team"} if tag["Key"] == "kubemaker.io/namespace" else tag for tag in owner_tags("Model")],
     False),
    ([], False),
    ([], True),
])
def test_a_literal_model_name_of_another_namespace_is_refused_before_any_create(stubbed, tags, allowed):
    if allowed:
        stubbed.config = OperatorConfig.model_validate(
            {"defaultNamespacePolicy": {"allowedSageMakerReferences": [f"{ARN}:model/green-*"]}})
    ctx = endpoint_context(stubbed)
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_client_error("describe_endpoint", *NOT_FOUND)
    sagemaker.add_response("describe_model", described_model("green-model"), {"ModelName": "green-model"})
    sagemaker.add_response("list_tags", {"Tags": tags}, {"ResourceArn": f"{ARN}:model/green-model"})
    if allowed:
        sagemaker.add_response("create_endpoint_config", {"EndpointConfigArn": f"{ARN}:endpoint-config/x"})
        assert asyncio.run(run_pass(controller(stubbed), ctx)).action == "create_endpoint_config"
        return
    with pytest.raises(Stall, match="allowedSageMakerReferences") as refused:
        asyncio.run(run_pass(controller(stubbed), ctx))
    assert refused.value.reason == "ReferenceNotAllowed"
    assert stubbed.status_patches == [], "nothing recorded: no create is pending"


def test_endpoint_created_from_its_recorded_config(stubbed):
    probe = endpoint_context(stubbed)
    name = wanted_config_name(probe)
    ctx = endpoint_context(stubbed, status={"pendingEndpointConfigName": name})
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_client_error("describe_endpoint", *NOT_FOUND)
    expect_literal_model_checked(stubbed)
    sagemaker.add_response("describe_endpoint_config", config(name), {"EndpointConfigName": name})
    sagemaker.add_response("create_endpoint", {"EndpointArn": f"{ARN}:endpoint/fraud"}, expected_params={
        "EndpointName": "fraud", "EndpointConfigName": name,
        "DeploymentConfig": {
            "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
                "Type": "CANARY", "WaitIntervalInSeconds": 300, "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}},
                "MaximumExecutionTimeoutInSeconds": 3600},
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "5xx"}]}},
        "Tags": owner_tags("Endpoint"),
    })
    plan = asyncio.run(run_pass(controller(stubbed), ctx))
    assert plan.status["endpointArn"] == f"{ARN}:endpoint/fraud"
    assert stubbed.status_patches[0]["createPending"]["name"] == "fraud"


def test_weights_update_leaves_the_scalers_count_alone(stubbed):
    spec = endpoint_spec()
    spec["productionVariants"][0]["initialVariantWeight"] = 0
    spec["productionVariants"][1]["initialVariantWeight"] = 100
    ctx = endpoint_context(stubbed, spec)
    running = described_endpoint(wanted_config_name(ctx))
    ctx.body["status"] = {"endpointArn": running["EndpointArn"], "endpointConfigName": running["EndpointConfigName"],
                          "autoScaledVariants": ["blue"]}
    stubbed.aws.stubbers["sagemaker"].add_response("describe_endpoint", running)
    expect_literal_model_checked(stubbed)
    policy = {**build_put_scaling_policy_request("fraud", controller_spec(ctx).productionVariants[0]),
              "PolicyARN": "arn:aws:autoscaling:policy", "CreationTime": NOW}
    expect_autoscaling_observed(stubbed, [scalable_target()], [policy])
    stubbed.aws.stubbers["sagemaker"].add_response(
        "update_endpoint_weights_and_capacities", {"EndpointArn": running["EndpointArn"]}, expected_params={
            "EndpointName": "fraud", "DesiredWeightsAndCapacities": [
                {"VariantName": "blue", "DesiredWeight": 0, "DesiredInstanceCount": 3},
                {"VariantName": "green", "DesiredWeight": 100, "DesiredInstanceCount": 1}]})
    plan = asyncio.run(run_pass(controller(stubbed), ctx))
    assert plan.action == "update_endpoint_weights_and_capacities"


def test_autoscaling_registration_request(stubbed):
    ctx = endpoint_context(stubbed)
    running = described_endpoint(wanted_config_name(ctx))
    ctx.body["status"] = {"endpointArn": running["EndpointArn"], "endpointConfigName": running["EndpointConfigName"]}
    stubbed.aws.stubbers["sagemaker"].add_response("describe_endpoint", running)
    expect_literal_model_checked(stubbed)
    expect_autoscaling_observed(stubbed, [])
    stubbed.aws.stubbers[AUTOSCALING].add_response("register_scalable_target", {}, expected_params={
        "ServiceNamespace": "sagemaker", "ResourceId": "endpoint/fraud/variant/blue", "ScalableDimension": DIMENSION,
        "MinCapacity": 1, "MaxCapacity": 4})
    plan = asyncio.run(run_pass(controller(stubbed), ctx))
    assert plan.status["autoScaledVariants"] == ["blue"]


def test_scaling_policy_request(stubbed):
    ctx = endpoint_context(stubbed)
    running = described_endpoint(wanted_config_name(ctx))
    ctx.body["status"] = {"endpointArn": running["EndpointArn"], "endpointConfigName": running["EndpointConfigName"]}
    stubbed.aws.stubbers["sagemaker"].add_response("describe_endpoint", running)
    expect_literal_model_checked(stubbed)
    expect_autoscaling_observed(stubbed, [scalable_target()])
    stubbed.aws.stubbers[AUTOSCALING].add_response("put_scaling_policy", {"PolicyARN": "arn:aws:autoscaling:p"}, expected_params={
        "PolicyName": "kubemaker-fraud-blue", "ServiceNamespace": "sagemaker", "ResourceId": "endpoint/fraud/variant/blue",
        "ScalableDimension": DIMENSION, "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 100, "ScaleOutCooldown": 60,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}})
    asyncio.run(run_pass(controller(stubbed), ctx))


def test_instance_type_change_deregisters_before_the_new_config(stubbed):
    old_ctx = endpoint_context(stubbed)
    in_use = wanted_config_name(old_ctx)
    ctx = endpoint_context(stubbed, endpoint_spec("ml.m5.xlarge"),
                           {"endpointArn": f"{ARN}:endpoint/fraud", "endpointConfigName": in_use, "autoScaledVariants": ["blue"]})
    running = described_endpoint(in_use)
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_endpoint", running)
    expect_literal_model_checked(stubbed)
    sagemaker.add_response("describe_endpoint_config", config(in_use, [
        {"VariantName": "blue", "ModelName": "blue-model", "InstanceType": "ml.m5.large", "InitialInstanceCount": 2}]),
        {"EndpointConfigName": in_use})
    expect_autoscaling_observed(stubbed, [scalable_target()])
    stubbed.aws.stubbers[AUTOSCALING].add_response("deregister_scalable_target", {}, expected_params={
        "ServiceNamespace": "sagemaker", "ResourceId": "endpoint/fraud/variant/blue", "ScalableDimension": DIMENSION})
    plan = asyncio.run(run_pass(controller(stubbed), ctx))
    assert plan.status["autoScaledVariants"] is None


def test_update_endpoint_request_after_the_new_config(stubbed):
    probe = endpoint_context(stubbed)
    in_use = wanted_config_name(probe)
    ctx = endpoint_context(stubbed, endpoint_spec("ml.m5.xlarge"))
    new = wanted_config_name(ctx, described_endpoint(in_use))
    ctx.body["status"] = {"endpointArn": f"{ARN}:endpoint/fraud", "endpointConfigName": in_use,
                          "pendingEndpointConfigName": new, "endpointStatus": "InService"}
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_endpoint", described_endpoint(in_use))
    expect_literal_model_checked(stubbed)
    sagemaker.add_response("describe_endpoint_config", config(in_use), {"EndpointConfigName": in_use})
    sagemaker.add_response("describe_endpoint_config", config(new), {"EndpointConfigName": new})
    expect_autoscaling_observed(stubbed, [])
    sagemaker.add_response("update_endpoint", {"EndpointArn": f"{ARN}:endpoint/fraud"}, expected_params={
        "EndpointName": "fraud", "EndpointConfigName": new,
        "DeploymentConfig": {
            "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
                "Type": "CANARY", "WaitIntervalInSeconds": 300, "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}},
                "MaximumExecutionTimeoutInSeconds": 3600},
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "5xx"}]}}})
    plan = asyncio.run(run_pass(controller(stubbed), ctx))
    assert plan.action == "update_endpoint"


def test_endpoint_adoption_tags_the_endpoint_and_its_config(stubbed):
    stubbed.config = OperatorConfig.model_validate({"defaultNamespacePolicy": {"allowAdoption": True}})
    ctx = endpoint_context(stubbed, endpoint_spec(adoptExisting=True))
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    running = described_endpoint("legacy-config")
    sagemaker.add_response("describe_endpoint", running)
    expect_adoption(sagemaker, running, config("legacy-config"))
    expect_literal_model_checked(stubbed)
    # From then on it is reconciled like our own: here, moved to a config the operator owns.
    sagemaker.add_response("describe_endpoint_config", config("legacy-config"), {"EndpointConfigName": "legacy-config"})
    expect_autoscaling_observed(stubbed, [])
    sagemaker.add_response("create_endpoint_config", {"EndpointConfigArn": f"{ARN}:endpoint-config/x"})
    plan = asyncio.run(run_pass(controller(stubbed), ctx))
    assert plan.action == "create_endpoint_config"
    assert stubbed.status_patches[0]["endpointConfigName"] == "legacy-config", "adopted config deleted after the move"


def expect_adoption(sagemaker, endpoint: dict, endpoint_config: dict, config_tags: list[dict] = ()) -> None:
    """Adopting: the endpoint's and its config's tags are read before either is tagged as ours."""
    others = [{"Key": "team", "Value": "x"}]
    sagemaker.add_response("list_tags", {"Tags": others}, {"ResourceArn": endpoint["EndpointArn"]})
    sagemaker.add_response("describe_endpoint_config", endpoint_config,
                           {"EndpointConfigName": endpoint_config["EndpointConfigName"]})
    sagemaker.add_response("list_tags", {"Tags": list(config_tags)}, {"ResourceArn": endpoint_config["EndpointConfigArn"]})
    if any(tag["Key"] == "kubemaker.io/uid" for tag in config_tags):
        return
    sagemaker.add_response("list_tags", {"Tags": others}, {"ResourceArn": endpoint["EndpointArn"]})
    sagemaker.add_response("add_tags", {}, {"ResourceArn": endpoint["EndpointArn"], "Tags": owner_tags("Endpoint")})
    sagemaker.add_response("add_tags", {}, {"ResourceArn": endpoint_config["EndpointConfigArn"],
                                            "Tags": owner_tags("Endpoint")})


def test_an_adopted_endpoint_whose_config_matches_keeps_it(stubbed):
    stubbed.config = OperatorConfig.model_validate({"defaultNamespacePolicy": {"allowAdoption": True}})
    spec = endpoint_spec(adoptExisting=True)
    del spec["productionVariants"][0]["autoScaling"]
    ctx = endpoint_context(stubbed, spec)
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    desired = planner.Desired(controller_spec(ctx), "fraud", {"blue": "blue-model"}, ctx.owner.tag_map())
    live = {**planner.desired_config(desired, None), "EndpointConfigName": "legacy-config",
            "EndpointConfigArn": f"{ARN}:endpoint-config/legacy-config", "CreationTime": NOW}
    live.pop("Tags")
    running = described_endpoint("legacy-config", blue_count=2)
    sagemaker.add_response("describe_endpoint", running)
    expect_adoption(sagemaker, running, live)
    expect_literal_model_checked(stubbed)
    sagemaker.add_response("describe_endpoint_config", live, {"EndpointConfigName": "legacy-config"})
    expect_autoscaling_observed(stubbed, [])
    plan = asyncio.run(run_pass(controller(stubbed), ctx))
    sagemaker.assert_no_pending_responses()
    # No new config, no UpdateEndpoint: the live config is the spec's, kept as the one in use.
    assert plan.action is None and plan.health.state == "Ready"
    assert plan.status["endpointConfigName"] == "legacy-config"


def test_an_endpoint_whose_config_another_object_owns_is_not_adopted(stubbed):
    stubbed.config = OperatorConfig.model_validate({"defaultNamespacePolicy": {"allowAdoption": True}})
    ctx = endpoint_context(stubbed, endpoint_spec(adoptExisting=True))
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    running = described_endpoint("their-config")
    sagemaker.add_response("describe_endpoint", running)
    theirs = [{"Key": "kubemaker.io/kind", "Value": "Endpoint"}, {"Key": "kubemaker.io/namespace", "Value": "team-a"},
              {"Key": "kubemaker.io/name", "Value": "web"}, {"Key": "kubemaker.io/uid", "Value": "uid-a"}]
    expect_adoption(sagemaker, running, config("their-config"), theirs)
    with pytest.raises(Stall, match="namespace team-a, name web") as refused:
        asyncio.run(run_pass(controller(stubbed), ctx))
    assert refused.value.reason == "OwnedByAnotherObject"
    sagemaker.assert_no_pending_responses()  # nothing tagged


def test_someone_elses_endpoint_is_never_taken(stubbed):
    ctx = endpoint_context(stubbed)
    sagemaker = stubbed.aws.stubbers["sagemaker"]
    sagemaker.add_response("describe_endpoint", described_endpoint("theirs"))
    sagemaker.add_response("list_tags", {"Tags": [{"Key": "kubemaker.io/uid", "Value": "other"}]})
    with pytest.raises(Stall, match="already exists"):
        asyncio.run(run_pass(controller(stubbed), ctx))


def test_delete_removes_scaling_then_the_endpoint_then_its_configs(stubbed):
    status = {"endpointName": "fraud", "endpointArn": f"{ARN}:endpoint/fraud", "endpointConfigName": "fraud-1",
              "failedEndpointConfigNames": ["fraud-2"], "autoScaledVariants": ["blue"]}
    ctx = endpoint_context(stubbed, status=status)
    sagemaker, autoscaling = stubbed.aws.stubbers["sagemaker"], stubbed.aws.stubbers[AUTOSCALING]
    target = {"ServiceNamespace": "sagemaker", "ResourceId": "endpoint/fraud/variant/blue", "ScalableDimension": DIMENSION}
    sagemaker.add_response("describe_endpoint", described_endpoint("fraud-1"))
    autoscaling.add_response("delete_scaling_policy", {}, {**target, "PolicyName": "kubemaker-fraud-blue"})
    autoscaling.add_response("deregister_scalable_target", {}, target)
    sagemaker.add_response("delete_endpoint", {}, {"EndpointName": "fraud"})
    cleanup = asyncio.run(clean_up(controller(stubbed), ctx))
    assert "to be deleted" in cleanup.waiting
    assert [e.reason for e in cleanup.events] == ["Deleting"]

    sagemaker.add_client_error("describe_endpoint", *NOT_FOUND)
    autoscaling.add_client_error("delete_scaling_policy", "ObjectNotFoundException", "No scaling policy found")
    autoscaling.add_client_error("deregister_scalable_target", "ObjectNotFoundException", "No scalable target found")
    # A config no status recorded (its create's answer was lost) is found by name and our tags.
    sagemaker.add_response("list_endpoint_configs", {"EndpointConfigs": [
        {"EndpointConfigName": name, "EndpointConfigArn": f"{ARN}:endpoint-config/{name}", "CreationTime": NOW}
        for name in ("fraud-1", "fraud-3", "fraud-other")]}, {"NameContains": "fraud"})
    sagemaker.add_response("list_tags", {"Tags": owner_tags("Endpoint")}, {"ResourceArn": f"{ARN}:endpoint-config/fraud-3"})
    sagemaker.add_response("list_tags", {"Tags": []}, {"ResourceArn": f"{ARN}:endpoint-config/fraud-other"})
    for name in ("fraud-1", "fraud-2", "fraud-3"):
        sagemaker.add_response("delete_endpoint_config", {}, {"EndpointConfigName": name})
    cleanup = asyncio.run(clean_up(controller(stubbed), ctx))
    assert cleanup.waiting is None, "nothing left: the finalizer can go"
    assert cleanup.wake == [("Model", "blue")], "the models' old revisions may now be unused"


def test_delete_with_retain_calls_nothing(stubbed):
    ctx = endpoint_context(stubbed, endpoint_spec(deletionPolicy="Retain"), {"endpointArn": f"{ARN}:endpoint/fraud"})
    # The core's deletion path: no SageMaker call (the stubber refuses any), the finalizer goes.
    assert asyncio.run(finalize(stubbed, controller(stubbed), ctx)) is None
    assert stubbed.object_patches == [[{"op": "test", "path": "/metadata/finalizers/0", "value": FINALIZER},
                                       {"op": "remove", "path": "/metadata/finalizers/0"}]]
