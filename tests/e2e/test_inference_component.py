"""InferenceComponent end to end, and the Endpoint's side of it: a model-less endpoint with two
components whose copy counts change with no endpoint update, a specification change, copies
autoscaled (and the scaler's count left alone), deletion in order, hostile references; the
Endpoint's config ARNs and pending deployment during an update; and the deregister-first path
against an Application Auto Scaling and SageMaker that refuse what AWS refuses."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import TENANT_B, TENANT_ROLES
from tests.e2e.helpers import apply, condition, events_for, get, slowed, wait_for
from tests.e2e.hosting import ROLE, endpoint, manifest, model, ready, stalled, variant
from tests.e2e.test_kfp_component import run_step

COPY_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"
EXAMPLES = REPO_ROOT / "examples"
ENDPOINT_CALLS = ("CreateEndpointConfig", "UpdateEndpoint", "UpdateEndpointWeightsAndCapacities", "DeleteEndpoint")


def calls(emulator, service: str = "sagemaker") -> dict[str, int]:
    return emulator.control.call_counts()["calls"].get(service, {})


def capacity(**extra) -> dict:
    """A variant with no model: instance capacity for inference components."""
    return {"variantName": "main", "instanceType": "ml.g5.2xlarge", "initialInstanceCount": 2,
            "managedInstanceScaling": {"status": "ENABLED", "minInstanceCount": 1, "maxInstanceCount": 4},
            "routingConfig": {"routingStrategy": "LEAST_OUTSTANDING_REQUESTS"}, **extra}


def component(name: str, model_ref: str, copies: int, memory: int = 1024, **spec) -> dict:
    return manifest("InferenceComponent", name, {
        "endpointRef": {"name": "shared"}, "variantName": "main",
        "specification": {"modelRef": {"name": model_ref},
                          "computeResourceRequirements": {"numberOfCpuCoresRequired": 1, "minMemoryRequiredInMb": memory}},
        "runtimeConfig": {"copyCount": copies}, **spec,
    })


def ready_component(kubectl, namespace: str, name: str, predicate=lambda o: True, what: str = "Ready"):
    return wait_for(lambda: (o := ready(kubectl, "inferencecomponent", namespace, name)) and predicate(o) and o,
                    timeout=60, what=f"{name} {what}")


def listed_components(emulator, endpoint_name: str) -> list[str]:
    answer = emulator.client("sagemaker").list_inference_components(EndpointNameEquals=endpoint_name)
    return sorted(c["InferenceComponentName"] for c in answer["InferenceComponents"])


def copy_targets(emulator, name: str) -> list[dict]:
    answer = emulator.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[f"inference-component/{name}"], ScalableDimension=COPY_DIMENSION)
    return answer["ScalableTargets"]


def test_two_components_change_copies_without_an_endpoint_update_then_go_before_the_endpoint(
        operator, emulator, kubectl, namespace):
    started = time.monotonic()
    items = [model("summarizer"), model("classifier", tag="2.0"),
             endpoint("shared", [capacity()], executionRoleArn=ROLE),
             component("summarizer", "summarizer", 2), component("classifier", "classifier", 1)]
    apply(kubectl, {"apiVersion": "v1", "kind": "List", "items": items}, namespace)
    first = ready_component(kubectl, namespace, "summarizer")
    second = ready_component(kubectl, namespace, "classifier")
    shared = ready(kubectl, "endpoint", namespace, "shared")
    endpoint_name = shared["status"]["endpointName"]
    print(f"\napply to both components Ready: {time.monotonic() - started:.1f} s")
    assert first["status"]["endpointName"] == second["status"]["endpointName"] == endpoint_name
    assert (first["status"]["currentCopyCount"], second["status"]["currentCopyCount"]) == (2, 1)
    assert first["status"]["variantName"] == "main"
    assert first["status"]["modelName"] == get(kubectl, "model", namespace, "summarizer")["status"]["modelName"]
    assert listed_components(emulator, endpoint_name) == sorted(
        [first["status"]["inferenceComponentName"], second["status"]["inferenceComponentName"]])
    config = emulator.client("sagemaker").describe_endpoint_config(
        EndpointConfigName=shared["status"]["endpointConfigName"])
    assert config["ExecutionRoleArn"] == ROLE and "ModelName" not in config["ProductionVariants"][0]
    assert config["ProductionVariants"][0]["ManagedInstanceScaling"]["MaxInstanceCount"] == 4
    table = kubectl("get", "smic", "-n", namespace).stdout
    assert "InService" in table and endpoint_name in table

    # Copy counts, one of them to 0: UpdateInferenceComponentRuntimeConfig for each, nothing else.
    emulator.control.reset_call_counts()
    started = time.monotonic()
    apply(kubectl, component("summarizer", "summarizer", 3), namespace)
    apply(kubectl, component("classifier", "classifier", 0), namespace)
    ready_component(kubectl, namespace, "summarizer", lambda o: o["status"].get("currentCopyCount") == 3, "3 copies")
    ready_component(kubectl, namespace, "classifier", lambda o: o["status"].get("currentCopyCount") == 0, "0 copies")
    print(f"copy counts changed: {time.monotonic() - started:.1f} s; calls {calls(emulator)}")
    made = calls(emulator)
    assert made.get("UpdateInferenceComponentRuntimeConfig") == 2
    assert not {"UpdateInferenceComponent", "CreateInferenceComponent", *ENDPOINT_CALLS} & set(made)
    assert ready(kubectl, "endpoint", namespace, "shared")["status"]["endpointConfigName"] == shared["status"][
        "endpointConfigName"]

    # A specification change: UpdateInferenceComponent, and still no endpoint call.
    emulator.control.reset_call_counts()
    apply(kubectl, component("classifier", "classifier", 0, memory=2048), namespace)
    ready_component(kubectl, namespace, "classifier",
                    lambda o: o["metadata"]["generation"] == o["status"]["observedGeneration"], "updated")
    made = calls(emulator)
    name = second["status"]["inferenceComponentName"]
    described = emulator.client("sagemaker").describe_inference_component(InferenceComponentName=name)
    assert described["Specification"]["ComputeResourceRequirements"]["MinMemoryRequiredInMb"] == 2048
    assert made.get("UpdateInferenceComponent") == 1
    assert not {"UpdateInferenceComponentRuntimeConfig", *ENDPOINT_CALLS} & set(made)

    # Copies autoscaled: registered on the component's own dimension; the scaler's count stands.
    scaling = {"minCapacity": 1, "maxCapacity": 4, "targetInvocationsPerCopy": 50}
    apply(kubectl, component("summarizer", "summarizer", 3, autoScaling=scaling), namespace)
    summarizer = first["status"]["inferenceComponentName"]
    ready_component(kubectl, namespace, "summarizer",
                    lambda o: o["status"].get("autoScaledComponents") == [summarizer], "autoscaled")
    (target,) = copy_targets(emulator, summarizer)
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
    policies = emulator.client("application-autoscaling").describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=f"inference-component/{summarizer}")["ScalingPolicies"]
    assert policies[0]["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"][
        "PredefinedMetricType"] == "SageMakerInferenceComponentInvocationsPerCopy"
    emulator.control.reset_call_counts()
    emulator.control.set_component_copy_count(summarizer, 4)
    ready_component(kubectl, namespace, "summarizer", lambda o: o["status"].get("currentCopyCount") == 4, "the scaler's")
    time.sleep(1.5)
    assert "UpdateInferenceComponentRuntimeConfig" not in calls(emulator)

    # Deleting the Endpoint first: it waits while components sit on it; they go, then it does.
    emulator.control.reset_call_counts()
    kubectl("delete", "endpoint", "shared", "-n", namespace, "--wait=false")
    time.sleep(2)
    assert get(kubectl, "endpoint", namespace, "shared")["metadata"].get("deletionTimestamp")
    assert "DeleteEndpoint" not in calls(emulator)
    started = time.monotonic()
    kubectl("delete", "inferencecomponent", "--all", "-n", namespace, "--wait=false")
    wait_for(lambda: not kubectl("get", "endpoint,inferencecomponent", "-n", namespace, "-o", "name").stdout.strip(),
             timeout=60, what="components, then the endpoint, deleted")
    print(f"components and endpoint deleted: {time.monotonic() - started:.1f} s; calls {calls(emulator)}")
    made = calls(emulator)
    assert made.get("DeleteInferenceComponent") == 2 and made.get("DeleteEndpoint") == 1
    assert calls(emulator, "application-autoscaling").get("DeregisterScalableTarget") == 1
    assert listed_components(emulator, endpoint_name) == [] and copy_targets(emulator, summarizer) == []


def test_a_component_waits_for_its_endpoint_and_model(operator, emulator, kubectl, namespace):
    emulator.control.reset_call_counts()
    apply(kubectl, component("early", "late-model", 1), namespace)
    waiting = wait_for(lambda: (o := get(kubectl, "inferencecomponent", namespace, "early")).get("status") and o,
                       timeout=30, what="a status")
    assert condition(waiting, "Reconciling")["reason"] == "WaitingForEndpoint"
    apply(kubectl, endpoint("shared", [capacity(initialInstanceCount=1)], executionRoleArn=ROLE), namespace)
    wait_for(lambda: condition(get(kubectl, "inferencecomponent", namespace, "early"), "Reconciling").get("reason")
             == "WaitingForModel", timeout=60, what="waiting for the model")
    assert "CreateInferenceComponent" not in calls(emulator)
    apply(kubectl, model("late-model"), namespace)
    ready_component(kubectl, namespace, "early")


def test_another_namespaces_endpoint_or_model_by_name_is_refused(operator, emulator, kubectl, namespace):
    # This test's namespace owns an endpoint and a model; tenant B, whose policy lets it use no
    # endpoint and only its shared models by name, names them in its components.
    apply(kubectl, {"apiVersion": "v1", "kind": "List", "items": [
        model("theirs"), endpoint("theirs", [capacity(initialInstanceCount=1)], executionRoleArn=ROLE)]}, namespace)
    theirs = wait_for(lambda: ready(kubectl, "endpoint", namespace, "theirs"), timeout=60, what="their endpoint")
    their_model = get(kubectl, "model", namespace, "theirs")["status"]["modelName"]
    apply(kubectl, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": TENANT_B}})
    stem = namespace[-6:]
    attacker = {"endpoint": f"ic-host-{stem}", "model": f"ic-model-{stem}"}
    apply(kubectl, {"apiVersion": "v1", "kind": "List", "items": [
        model(attacker["model"], executionRoleArn=TENANT_ROLES[TENANT_B]),
        endpoint(attacker["endpoint"], [capacity(initialInstanceCount=1)], executionRoleArn=TENANT_ROLES[TENANT_B])]},
        TENANT_B)
    wait_for(lambda: ready(kubectl, "endpoint", TENANT_B, attacker["endpoint"]), timeout=60, what="B's endpoint")
    emulator.control.reset_call_counts()

    by_endpoint = component(f"by-endpoint-{stem}", attacker["model"], 1)
    del by_endpoint["spec"]["endpointRef"]
    by_endpoint["spec"]["endpointName"] = theirs["status"]["endpointName"]
    by_model = component(f"by-model-{stem}", attacker["model"], 1)
    by_model["spec"]["endpointRef"] = {"name": attacker["endpoint"]}
    by_model["spec"]["specification"] = {"modelName": their_model, "computeResourceRequirements": {
        "numberOfCpuCoresRequired": 1, "minMemoryRequiredInMb": 1024}}
    apply(kubectl, {"apiVersion": "v1", "kind": "List", "items": [by_endpoint, by_model]}, TENANT_B)
    try:
        for name, field in ((f"by-endpoint-{stem}", "endpointName"), (f"by-model-{stem}", "modelName of the specification")):
            refused = wait_for(lambda n=name: stalled(kubectl, "inferencecomponent", TENANT_B, n), timeout=30,
                               what=lambda n=name: get(kubectl, "inferencecomponent", TENANT_B, n).get("status"))
            message = condition(refused, "Stalled")["message"]
            assert condition(refused, "Stalled")["reason"] == "ReferenceNotAllowed"
            assert f"({field})" in message and "allowedSageMakerReferences" in message and namespace in message
            assert any(e["reason"] == "ReferenceNotAllowed" for e in events_for(kubectl, TENANT_B, name))
        assert "CreateInferenceComponent" not in calls(emulator)
    finally:
        kubectl("delete", "inferencecomponent", f"by-endpoint-{stem}", f"by-model-{stem}", "-n", TENANT_B)
        kubectl("delete", "endpoint", attacker["endpoint"], "-n", TENANT_B)
        kubectl("delete", "model", attacker["model"], "-n", TENANT_B)


def test_endpoint_status_shows_its_config_arns_and_the_pending_deployment(operator, emulator, kubectl, namespace):
    apply(kubectl, model("pending"), namespace)
    apply(kubectl, endpoint("pending", [variant("main", "pending", count=1)]), namespace)
    first = wait_for(lambda: ready(kubectl, "endpoint", namespace, "pending"), timeout=60, what="Ready")
    (arn,) = first["status"]["endpointConfigArns"]
    config = emulator.client("sagemaker").describe_endpoint_config(EndpointConfigName=first["status"]["endpointConfigName"])
    assert arn == config["EndpointConfigArn"]
    assert "pendingDeployment" not in first["status"]

    with slowed(emulator, endpoint_updating=6.0):
        apply(kubectl, endpoint("pending", [variant("main", "pending", count=2, instance_type="ml.m5.xlarge")]), namespace)
        updating = wait_for(
            lambda: (o := get(kubectl, "endpoint", namespace, "pending"))["status"].get("pendingDeployment") and o,
            timeout=30, interval=0.2, what="the pending deployment in status",
        )
    pending = updating["status"]["pendingDeployment"]
    new_config = pending["endpointConfigName"]
    assert new_config == updating["status"]["pendingEndpointConfigName"]
    (launching,) = pending["productionVariants"]
    assert (launching["variantName"], launching["instanceType"], launching["desiredInstanceCount"]) == (
        "main", "ml.m5.xlarge", 2)
    assert launching["variantStatus"] in ("Creating", "Baking") and pending["startTime"]
    assert len(updating["status"]["endpointConfigArns"]) == 2 and updating["status"]["endpointConfigArns"][1].endswith(
        f"endpoint-config/{new_config}")
    done = wait_for(lambda: (o := ready(kubectl, "endpoint", namespace, "pending"))
                    and o["status"]["endpointConfigName"] == new_config and o, timeout=60, what="updated")
    assert "pendingDeployment" not in done["status"]
    assert done["status"]["endpointConfigArns"] == [
        emulator.client("sagemaker").describe_endpoint_config(EndpointConfigName=new_config)["EndpointConfigArn"]]


def test_instance_type_change_deregisters_first_against_a_refusing_service(operator, emulator, kubectl, namespace):
    scaling = {"minCapacity": 1, "maxCapacity": 3, "targetInvocationsPerInstance": 100}
    apply(kubectl, model("refusing"), namespace)
    apply(kubectl, endpoint("refusing", [variant("main", "refusing", autoScaling=scaling)]), namespace)
    first = wait_for(lambda: (o := ready(kubectl, "endpoint", namespace, "refusing"))
                     and o["status"].get("autoScaledVariants") == ["main"] and o, timeout=60, what="autoscaled")
    name = first["status"]["endpointName"]
    sagemaker = emulator.client("sagemaker")
    # The service refuses the update the operator must not make: a new instance type under a target.
    bigger = f"{name[:50]}-probe"
    sagemaker.create_endpoint_config(EndpointConfigName=bigger, ProductionVariants=[{
        "VariantName": "main", "ModelName": get(kubectl, "model", namespace, "refusing")["status"]["modelName"],
        "InstanceType": "ml.m5.xlarge", "InitialInstanceCount": 1}])
    try:
        sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=bigger)
        raise AssertionError("UpdateEndpoint under a registered scalable target was accepted")
    except sagemaker.exceptions.ClientError as error:
        assert "must be deregistered as scalable targets" in error.response["Error"]["Message"]
    sagemaker.delete_endpoint_config(EndpointConfigName=bigger)

    emulator.control.reset_call_counts()
    apply(kubectl, endpoint("refusing", [variant("main", "refusing", instance_type="ml.m5.xlarge",
                                                 autoScaling=scaling)]), namespace)
    moved = wait_for(lambda: (o := ready(kubectl, "endpoint", namespace, "refusing"))
                     and o["metadata"]["generation"] == o["status"]["observedGeneration"]
                     and o["status"].get("autoScaledVariants") == ["main"] and not o["status"].get("pendingEndpointConfigName")
                     and o, timeout=60, what="moved, scaling again")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=moved["status"]["endpointConfigName"])
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.xlarge"
    scaling_calls = calls(emulator, "application-autoscaling")
    assert scaling_calls.get("DeleteScalingPolicy") == 1 and scaling_calls.get("DeregisterScalableTarget") == 1
    assert scaling_calls.get("RegisterScalableTarget") == 1 and scaling_calls.get("PutScalingPolicy") == 1
    assert calls(emulator).get("UpdateEndpoint") == 1
    reasons = [e["reason"] for e in sorted(events_for(kubectl, namespace, "refusing"),
                                           key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")]
    assert "UpdateFailed" not in reasons and "ValidationException" not in reasons
    assert condition(moved, "Stalled").get("status") != "True"


def dry_run(kubectl, namespace: str, manifest_: dict):
    return kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=json.dumps(manifest_), check=False)


# (id, manifest, what the API server's refusal says)
REFUSED_AT_APPLY = [
    ("model-less-without-role", endpoint("e", [capacity()]), "give executionRoleArn"),
    ("model-less-beside-a-model", endpoint("e", [capacity(), variant("other", "m")], executionRoleArn=ROLE),
     "give every variant a model, or none"),
    ("model-less-without-capacity", endpoint("e", [{"variantName": "main"}], executionRoleArn=ROLE),
     "give it instanceType and initialInstanceCount"),
    ("endpoint-name-and-ref", component("c", "m", 1, endpointName="elsewhere"), "give endpointRef"),
    ("model-name-and-ref", component("c", "m", 1, specification={"modelName": "x", "modelRef": {"name": "m"},
                                                                 "computeResourceRequirements": {"minMemoryRequiredInMb": 1024}}),
     "give modelName or modelRef, not both"),
    ("autoscaling-without-runtime-config",
     {**(c := component("c", "m", 1, autoScaling={"minCapacity": 0, "maxCapacity": 2, "targetInvocationsPerCopy": 5})),
      "spec": {k: v for k, v in c["spec"].items() if k != "runtimeConfig"}}, "give runtimeConfig"),
    ("two-scaling-targets", component("c", "m", 1, autoScaling={
        "minCapacity": 0, "maxCapacity": 2, "targetInvocationsPerCopy": 5, "customMetricSpecification": {
            "metricName": "x", "namespace": "y", "statistic": "Average", "targetValue": 1}}),
     "give exactly one of targetInvocationsPerCopy and customMetricSpecification"),
    ("negative-copies", component("c", "m", -1), "spec.runtimeConfig.copyCount"),
]


@pytest.mark.parametrize(("manifest_", "message"), [case[1:] for case in REFUSED_AT_APPLY],
                         ids=[case[0] for case in REFUSED_AT_APPLY])
def test_the_api_server_refuses_what_sagemaker_would(crds, kubectl, namespace, manifest_, message):
    result = dry_run(kubectl, namespace, manifest_)
    assert result.returncode != 0, f"accepted: {manifest_['spec']}"
    assert message in result.stderr, result.stderr


def test_a_component_cannot_move_to_another_endpoint(crds, kubectl, namespace):
    apply(kubectl, component("fixed", "m", 1), namespace)
    moved = component("fixed", "m", 1)
    moved["spec"]["endpointRef"] = {"name": "another"}
    result = dry_run(kubectl, namespace, moved)
    assert result.returncode != 0 and "spec.endpointRef is immutable" in result.stderr, result.stderr
    assert dry_run(kubectl, namespace, component("fixed", "m", 0)).returncode == 0  # copies change in place
    kubectl("delete", "inferencecomponent", "fixed", "-n", namespace)  # it would wait for its Endpoint forever


def test_the_kfp_sagemaker_object_step_places_a_component(operator, emulator, kubeconfig, kubectl, namespace, tmp_path):
    apply(kubectl, {"apiVersion": "v1", "kind": "List", "items": [
        model("kfp-model"), endpoint("shared", [capacity(initialInstanceCount=1)], executionRoleArn=ROLE)]}, namespace)
    output = tmp_path / "sagemaker-name"
    result = run_step(kubeconfig, yaml.safe_dump(component("kfp", "kfp-model", 1)), namespace,
                      "--output-sagemaker-name", str(output))
    assert result.returncode == 0, result.stderr
    name = output.read_text()
    assert name == get(kubectl, "inferencecomponent", namespace, "kfp")["status"]["inferenceComponentName"]
    described = emulator.client("sagemaker").describe_inference_component(InferenceComponentName=name)
    assert described["InferenceComponentStatus"] == "InService"


def test_the_example_converges_under_faults_and_a_crash_and_deletes_cleanly(operator, emulator, kubectl, namespace):
    """What bench/soak.py does to examples/inferencecomponents.yaml, once: 30% throttling and 5xx from
    SageMaker and Application Auto Scaling, the operator SIGKILLed mid-way, then every object deleted."""
    emulator.control.set_faults(rate=0.3, kinds=["throttle", "5xx"], services=["sagemaker", "application-autoscaling"],
                                seed=17)
    try:
        kubectl("apply", "-n", namespace, "-f", str(EXAMPLES / "inferencecomponents.yaml"))
        wait_for(lambda: ready(kubectl, "endpoint", namespace, "shared-hosting"), timeout=60, what="endpoint Ready")
        operator.kill()
        operator.start()
        summarizer = ready_component(kubectl, namespace, "summarizer",
                                     lambda o: o["status"].get("autoScaledComponents"), "autoscaled")
        ready_component(kubectl, namespace, "classifier")
        endpoint_name = summarizer["status"]["endpointName"]
        assert len(listed_components(emulator, endpoint_name)) == 2  # no duplicate after the crash
        kubectl("delete", "-n", namespace, "-f", str(EXAMPLES / "inferencecomponents.yaml"), "--wait=false")
        wait_for(lambda: not kubectl("get", "sagemaker", "-n", namespace, "-o", "name").stdout.strip(),
                 timeout=90, what="every object deleted")
    finally:
        emulator.control.clear_faults()
    assert listed_components(emulator, endpoint_name) == []
    assert copy_targets(emulator, summarizer["status"]["inferenceComponentName"]) == []
    endpoints = emulator.client("sagemaker").list_endpoints(NameContains=endpoint_name)["Endpoints"]
    assert [e for e in endpoints if e["EndpointStatus"] != "Deleting"] == []


def test_steady_calls_do_not_grow_with_the_number_of_components(operator, emulator, kubectl, namespace):
    """Settled components are followed by one ListInferenceComponents per poll interval (the tracker),
    never a Describe per component per poll: the steady rate is the same for 1 or 20 of them."""
    count = 20
    items = [model("many"), endpoint("shared", [capacity(initialInstanceCount=1)], executionRoleArn=ROLE)]
    items += [component(f"c{i}", "many", i % 2) for i in range(count)]
    apply(kubectl, {"apiVersion": "v1", "kind": "List", "items": items}, namespace)
    for i in range(count):
        ready_component(kubectl, namespace, f"c{i}")
    time.sleep(2)  # the last passes' follow-ups
    emulator.control.reset_call_counts()
    window = 10.0
    time.sleep(window)
    made = calls(emulator)
    per_minute = {operation: round(n * 60 / window) for operation, n in made.items()}
    print(f"\nsteady SageMaker calls per minute with {count} components (poll 0.5 s): {per_minute}")
    assert "DescribeInferenceComponent" not in made
    assert calls(emulator, "application-autoscaling") == {}
    # One listing per poll (0.5 s here), give or take the resync's and the other kinds' trackers.
    assert made.get("ListInferenceComponents", 0) <= 2 * window / 0.5


def test_a_model_less_endpoints_role_goes_through_the_allow_list(operator, emulator, kubectl, namespace):
    emulator.control.reset_call_counts()
    admin = "arn:aws:iam::123456789012:role/Admin"
    apply(kubectl, endpoint("capacity", [capacity(initialInstanceCount=1)], executionRoleArn=admin), namespace)
    refused = wait_for(lambda: stalled(kubectl, "endpoint", namespace, "capacity"), timeout=30, what="refused")
    assert condition(refused, "Stalled")["reason"] == "RoleNotAllowed"
    assert admin in condition(refused, "Stalled")["message"]
    assert "CreateEndpointConfig" not in calls(emulator) and "CreateEndpoint" not in calls(emulator)


def test_a_failed_component_is_stalled_with_sagemakers_reason_then_recreated_after_a_spec_change(
        operator, emulator, kubectl, namespace):
    apply(kubectl, {"apiVersion": "v1", "kind": "List", "items": [
        model("fails"), endpoint("shared", [capacity(initialInstanceCount=1)], executionRoleArn=ROLE)]}, namespace)
    name = f"ic-{namespace[-6:]}-fails"
    reason = "Insufficient memory on the instances of variant main for 2 copies of the inference component."
    emulator.control.fail_inference_component(name, reason=reason)
    apply(kubectl, component("fails", "fails", 2, inferenceComponentName=name), namespace)
    refused = wait_for(lambda: stalled(kubectl, "inferencecomponent", namespace, "fails"), timeout=60, what="Stalled")
    assert condition(refused, "Stalled")["reason"] == "InferenceComponentFailed"
    assert reason in condition(refused, "Stalled")["message"] and refused["status"]["failureReason"] == reason
    assert any(e["type"] == "Warning" and reason in e["message"] for e in events_for(kubectl, namespace, "fails"))
    emulator.control.reset_call_counts()
    time.sleep(1.5)
    assert "DeleteInferenceComponent" not in calls(emulator)  # not retried until the spec changes

    apply(kubectl, component("fails", "fails", 1, inferenceComponentName=name), namespace)
    ready_component(kubectl, namespace, "fails", lambda o: o["metadata"]["generation"] == o["status"]["observedGeneration"])
    made = calls(emulator)
    assert made.get("DeleteInferenceComponent") == 1 and made.get("CreateInferenceComponent") == 1
