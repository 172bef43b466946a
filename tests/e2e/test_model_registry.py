"""The model registry end to end: a TrainingJob's model registered as versions of a
ModelPackageGroup, approval-gated deploys through a Model with `LatestApproved` and an Endpoint's
own blue/green policy, approvals from kubectl and from another tool (boto3 on the emulator), a
rejection rolling back, tenancy, and the order of deletion. Every step is timed and printed
(`pytest -s` shows them); SageMaker calls are counted from the emulator."""

from __future__ import annotations

import time
import uuid

import yaml

from tests.e2e.helpers import apply, condition, events_for, get, wait_for
from tests.e2e.hosting import IMAGE, ROLE, endpoint, manifest, ready, stalled, variant
from tests.e2e.test_kfp_component import run_step

BLUE_GREEN = {
    "blueGreenUpdatePolicy": {
        "trafficRoutingConfiguration": {
            "type": "CANARY", "waitIntervalInSeconds": 0, "canarySize": {"type": "CAPACITY_PERCENT", "value": 10},
        },
    },
}


def training_job(name: str) -> dict:
    return manifest("TrainingJob", name, {
        "algorithmSpecification": {"trainingImage": f"{IMAGE}:latest", "trainingInputMode": "File"},
        "roleArn": ROLE,
        "outputDataConfig": {"s3OutputPath": "s3://kubemaker-demo/registry"},
        "resourceConfig": {"instanceType": "ml.m5.large", "instanceCount": 1, "volumeSizeInGB": 5},
        "stoppingCondition": {"maxRuntimeInSeconds": 600},
    })


def package(name: str, tag: str, group_ref: str | None = "churn", **spec) -> dict:
    container = {"image": f"{IMAGE}:{tag}", "modelDataFrom": {"trainingJobRef": {"name": "churn-train"}}}
    return manifest("ModelPackage", name, {
        **({"modelPackageGroupRef": {"name": group_ref}} if group_ref else {}),
        "modelPackageDescription": f"churn model, image {tag}",
        "inferenceSpecification": {"containers": [container], "supportedContentTypes": ["text/csv"],
                                   "supportedResponseMIMETypes": ["text/csv"],
                                   "supportedRealtimeInferenceInstanceTypes": ["ml.m5.large"]},
        "modelApprovalStatus": "PendingManualApproval",
        **spec,
    })


def statuses(kubectl, namespace: str, *objects: tuple[str, str]) -> list[dict]:
    """What a failed wait shows: the status of each (resource, name)."""
    return [get(kubectl, resource, namespace, name).get("status") for resource, name in objects]


def calls(emulator) -> dict[str, int]:
    return emulator.control.call_counts()["calls"].get("sagemaker", {})


def with_reason(kubectl, resource: str, namespace: str, name: str, condition_type: str, reason: str):
    obj = get(kubectl, resource, namespace, name)
    found = condition(obj, condition_type)
    return obj if found.get("status") == "True" and found.get("reason") == reason else None


def patch_approval(kubectl, namespace: str, name: str, approval: str) -> None:
    kubectl("patch", "modelpackage", name, "-n", namespace, "--type", "merge",
            "-p", f'{{"spec": {{"modelApprovalStatus": "{approval}"}}}}')


def serving(emulator, endpoint_name: str) -> str | None:
    """The model package version the endpoint's current config serves, once it is InService."""
    sagemaker = emulator.client("sagemaker")
    described = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    if described["EndpointStatus"] != "InService":
        return None
    config = sagemaker.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    return model["PrimaryContainer"]["ModelPackageName"]


class Steps:
    """Times each step from the action that starts it to what it waits for."""

    def __init__(self) -> None:
        self.times: list[tuple[str, float]] = []
        self.started = time.monotonic()

    def done(self, what: str) -> None:
        now = time.monotonic()
        self.times.append((what, now - self.started))
        self.started = now

    def restart(self) -> None:
        """The next step starts now: what happened since is not part of it."""
        self.started = time.monotonic()

    def report(self) -> None:
        for what, seconds in self.times:
            print(f"registry flow: {what}: {seconds:.1f} s")


def test_approval_gated_deploys_roll_forward_and_back_through_blue_green(operator, emulator, kubectl, namespace):
    sagemaker = emulator.client("sagemaker")
    steps = Steps()
    emulator.control.reset_call_counts()  # the calls below are this test's
    apply(kubectl, {"apiVersion": "v1", "kind": "List", "items": [
        training_job("churn-train"),
        manifest("ModelPackageGroup", "churn", {"modelPackageGroupDescription": "churn models"}),
        package("churn-v1", "1.0"),
        manifest("Model", "churn", {"executionRoleArn": ROLE,
                                    "modelPackageGroupRef": {"name": "churn", "version": "LatestApproved"}}),
        endpoint("churn", [variant("main", "churn")], deploymentConfig=BLUE_GREEN),
    ]}, namespace)

    # The version is registered once training completed, and waits for approval: so do the Model
    # and the Endpoint, and SageMaker has no model yet.
    v1 = wait_for(lambda: ready(kubectl, "modelpackage", namespace, "churn-v1"), timeout=60,
                  what=lambda: statuses(kubectl, namespace, ("modelpackage", "churn-v1"), ("modelpackagegroup", "churn")))
    assert v1["status"]["modelPackageVersion"] == 1 and v1["status"]["modelApprovalStatus"] == "PendingManualApproval"
    group = get(kubectl, "modelpackagegroup", namespace, "churn")["status"]["modelPackageGroupName"]
    described = sagemaker.describe_model_package(ModelPackageName=v1["status"]["modelPackageArn"])
    job = get(kubectl, "trainingjob", namespace, "churn-train")
    assert described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == \
        job["status"]["modelArtifacts"]["s3ModelArtifacts"]
    waiting = wait_for(lambda: with_reason(kubectl, "model", namespace, "churn", "Reconciling", "NoApprovedVersion"),
                       timeout=30, what="Model NoApprovedVersion")
    assert condition(waiting, "Ready")["status"] == "False" and condition(waiting, "Stalled").get("status") != "True"
    assert calls(emulator).get("CreateModel", 0) == 0
    steps.done("TrainingJob, then v1 PendingManualApproval, Model waiting (NoApprovedVersion)")

    # Approve v1 with kubectl: the Model is made from it, and the Endpoint comes InService.
    patch_approval(kubectl, namespace, "churn-v1", "Approved")
    model = wait_for(lambda: ready(kubectl, "model", namespace, "churn"), timeout=30,
                     what=lambda: statuses(kubectl, namespace, ("modelpackage", "churn-v1"), ("model", "churn")))
    assert model["status"]["modelPackageArn"] == v1["status"]["modelPackageArn"]
    assert model["status"]["modelPackageVersion"] == 1
    steps.done("approve v1 (kubectl patch) -> Model Ready")
    first = wait_for(lambda: ready(kubectl, "endpoint", namespace, "churn"), timeout=60, what="Endpoint InService")
    endpoint_name = first["status"]["endpointName"]
    assert serving(emulator, endpoint_name) == v1["status"]["modelPackageArn"]
    steps.done("Endpoint InService on v1")

    # Register v2 and approve it from another tool: the Model follows within the poll interval,
    # and the Endpoint rolls to it through its blue/green policy.
    steps.restart()
    apply(kubectl, package("churn-v2", "2.0"), namespace)
    v2 = wait_for(lambda: ready(kubectl, "modelpackage", namespace, "churn-v2"), timeout=30, what="v2 Completed")
    assert v2["status"]["modelPackageVersion"] == 2
    steps.done("register v2")
    emulator.control.reset_call_counts()
    steps.restart()
    sagemaker.update_model_package(ModelPackageArn=v2["status"]["modelPackageArn"], ModelApprovalStatus="Approved")
    wait_for(lambda: get(kubectl, "model", namespace, "churn")["status"].get("modelPackageVersion") == 2
             and ready(kubectl, "model", namespace, "churn"), timeout=30, what="Model on v2")
    steps.done("approve v2 (boto3, outside Kubernetes) -> Model revision on v2")
    wait_for(lambda: serving(emulator, endpoint_name) == v2["status"]["modelPackageArn"]
             and ready(kubectl, "endpoint", namespace, "churn"), timeout=60, what="Endpoint on v2")
    steps.done("Endpoint rolled to v2 (blue/green)")
    rolled = calls(emulator)
    assert rolled.get("UpdateEndpoint") == 1 and rolled.get("CreateModel") == 1
    assert rolled.get("UpdateModelPackage") == 1, "only the other tool's: an approval made elsewhere is not reverted"
    # The update carried the Endpoint's own blue/green policy: SageMaker shifted traffic by it.
    last = sagemaker.describe_endpoint(EndpointName=endpoint_name)["LastDeploymentConfig"]
    assert last["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "CANARY"
    print(f"registry flow: calls while rolling to v2: {dict(sorted(rolled.items()))}")
    reported = wait_for(lambda: (o := get(kubectl, "modelpackage", namespace, "churn-v2"))
                        ["status"].get("modelApprovalStatus") == "Approved" and o, timeout=30, what="v2 reported")
    assert reported["spec"]["modelApprovalStatus"] == "PendingManualApproval"
    assert "ApprovalChangedOutside" in [e["reason"] for e in events_for(kubectl, namespace, "churn-v2")]

    # Reject v2 with kubectl: the latest approved is v1 again, and the Endpoint rolls back.
    emulator.control.reset_call_counts()
    steps.restart()
    patch_approval(kubectl, namespace, "churn-v2", "Rejected")
    wait_for(lambda: get(kubectl, "model", namespace, "churn")["status"].get("modelPackageVersion") == 1
             and ready(kubectl, "model", namespace, "churn"), timeout=30, what="Model back on v1")
    steps.done("reject v2 (kubectl patch) -> Model back on v1")
    wait_for(lambda: serving(emulator, endpoint_name) == v1["status"]["modelPackageArn"]
             and ready(kubectl, "endpoint", namespace, "churn"), timeout=60, what="Endpoint back on v1")
    steps.done("Endpoint rolled back to v1 (blue/green)")
    back = calls(emulator)
    assert back.get("UpdateModelPackage") == 1 and back.get("UpdateEndpoint") == 1
    print(f"registry flow: calls while rolling back: {dict(sorted(back.items()))}")
    assert sagemaker.describe_model_package(ModelPackageName=v2["status"]["modelPackageArn"])[
        "ModelApprovalStatus"] == "Rejected"

    # Settled: the registry costs one listing per group and poll for each tracker, and no
    # Describe per object.
    time.sleep(2)
    emulator.control.reset_call_counts()
    time.sleep(5)
    steady = calls(emulator)
    print(f"registry flow: steady calls in 5 s at a 0.5 s poll: {dict(sorted(steady.items()))}")
    assert steady.get("ListModelPackages", 0) <= 2 * (5 / 0.5 + 2)
    assert steady.get("DescribeModelPackage", 0) == 0 and steady.get("DescribeModelPackageGroup", 0) <= 1

    # Deleting everything: the group goes after its versions, and nothing is left in SageMaker.
    steps.restart()
    kubectl("delete", "endpoint,model,modelpackage,modelpackagegroup", "--all", "-n", namespace, "--wait=false")
    wait_for(lambda: not kubectl("get", "modelpackagegroup,modelpackage,model,endpoint", "-n", namespace,
                                 "-o", "name").stdout.strip(), timeout=60, what="objects gone")
    steps.done("delete all")
    assert group not in [g["ModelPackageGroupName"] for g in
                         sagemaker.list_model_package_groups(MaxResults=100)["ModelPackageGroupSummaryList"]]
    steps.report()


def test_another_namespaces_group_and_versions_are_refused(operator, emulator, kubectl, namespace):
    """Namespace B names A's group (literally, by name) and A's version (by ARN): both Stalled with
    the policy named, and nothing sent; a reference to a group A has resolves only in B."""
    other = f"registry-b-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", other)
    apply(kubectl, {"apiVersion": "v1", "kind": "List", "items": [
        training_job("churn-train"),
        manifest("ModelPackageGroup", "churn", {}),
        package("churn-v1", "1.0", modelApprovalStatus="Approved"),
    ]}, namespace)
    v1 = wait_for(lambda: ready(kubectl, "modelpackage", namespace, "churn-v1"), timeout=60, what="A's version")
    group = get(kubectl, "modelpackagegroup", namespace, "churn")["status"]["modelPackageGroupName"]

    emulator.control.reset_call_counts()
    apply(kubectl, {"apiVersion": "v1", "kind": "List", "items": [
        training_job("churn-train"),
        package("squat", "9.9", group_ref=None, modelPackageGroupName=group),
        manifest("Model", "by-arn", {"executionRoleArn": ROLE,
                                     "primaryContainer": {"modelPackageName": v1["status"]["modelPackageArn"]}}),
        manifest("Model", "by-ref", {"executionRoleArn": ROLE, "modelPackageGroupRef": {"name": "churn"}}),
        manifest("Model", "by-package-ref", {"executionRoleArn": ROLE, "modelPackageRef": {"name": "churn-v1"}}),
    ]}, other)
    squat = wait_for(lambda: stalled(kubectl, "modelpackage", other, "squat"), timeout=60, what="squat Stalled")
    assert condition(squat, "Stalled")["reason"] == "ReferenceNotAllowed"
    assert namespace in condition(squat, "Stalled")["message"] and "allowedSageMakerReferences" in \
        condition(squat, "Stalled")["message"]
    by_arn = wait_for(lambda: stalled(kubectl, "model", other, "by-arn"), timeout=30, what="by-arn Stalled")
    assert condition(by_arn, "Stalled")["reason"] == "ReferenceNotAllowed"
    by_ref = wait_for(lambda: with_reason(kubectl, "model", other, "by-ref", "Reconciling",
                                          "WaitingForModelPackageGroup"), timeout=30, what="by-ref waiting")
    assert "churn" in condition(by_ref, "Reconciling")["message"]
    by_package = wait_for(lambda: with_reason(kubectl, "model", other, "by-package-ref", "Reconciling",
                                              "WaitingForModelPackage"), timeout=30, what="by-package-ref waiting")
    assert "churn-v1 to be created" in condition(by_package, "Reconciling")["message"]
    sent = calls(emulator)
    assert not [op for op in sent if op.startswith(("CreateModel", "UpdateModelPackage", "DeleteModelPackage"))], sent
    assert [p["ModelPackageArn"] for p in sagemaker_versions(emulator, group)] == [v1["status"]["modelPackageArn"]]


def sagemaker_versions(emulator, group: str) -> list[dict]:
    return emulator.client("sagemaker").list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]


def test_the_kfp_component_registers_a_version_and_outputs_its_arn(operator, emulator, kubeconfig, namespace,
                                                                  tmp_path):
    """`sagemaker_object` with a ModelPackageGroup, then a ModelPackage: each step waits for Ready, and
    the version's step outputs the version ARN for the next step."""
    group = run_step(kubeconfig, yaml.safe_dump(manifest("ModelPackageGroup", "scores", {})), namespace)
    assert group.returncode == 0, group.stderr
    version = package("scores-v1", "1.0", group_ref="scores", modelApprovalStatus="Approved")
    version["spec"]["inferenceSpecification"]["containers"] = [
        {"image": f"{IMAGE}:1.0", "modelDataUrl": "s3://kubemaker-demo/scores/model.tar.gz"}]
    output = tmp_path / "version-arn"
    register = run_step(kubeconfig, yaml.safe_dump(version), namespace, "--output-sagemaker-name", str(output))
    assert register.returncode == 0, register.stderr
    arn = output.read_text()
    assert arn.endswith("/1") and ":model-package/" in arn
    described = emulator.client("sagemaker").describe_model_package(ModelPackageName=arn)
    assert (described["ModelPackageStatus"], described["ModelApprovalStatus"]) == ("Completed", "Approved")


def test_the_api_server_refuses_what_the_registry_kinds_cannot_be(operator, kubectl, namespace):
    def refusal(document: dict) -> str:
        result = kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(document), check=False)
        assert result.returncode != 0, f"applied: {document}"
        return result.stderr

    two_sources = manifest("Model", "two", {"executionRoleArn": ROLE, "modelPackageGroupRef": {"name": "g"},
                                            "primaryContainer": {"image": f"{IMAGE}:1"}})
    assert "exactly one of primaryContainer, containers, modelPackageRef and modelPackageGroupRef" in refusal(two_sources)
    no_source = manifest("Model", "none", {"executionRoleArn": ROLE})
    assert "exactly one of primaryContainer" in refusal(no_source)
    both_groups = package("both", "1.0", modelPackageGroupName="g")
    assert "exactly one of modelPackageGroupName and modelPackageGroupRef" in refusal(both_groups)
    named = package("named", "1.0", modelPackageName="mine")
    assert "modelPackageName" in refusal(named)
    bad_approval = package("bad", "1.0", modelApprovalStatus="Approve")
    assert "Approved" in refusal(bad_approval)
    version_kind = manifest("Model", "version", {"executionRoleArn": ROLE,
                                                 "modelPackageGroupRef": {"name": "g", "version": "Latest"}})
    assert "LatestApproved" in refusal(version_kind)


def steady_listings(emulator, seconds: float = 5) -> int:
    emulator.control.reset_call_counts()
    time.sleep(seconds)
    return calls(emulator).get("ListModelPackages", 0)


def test_the_registry_example_serves_and_its_listings_do_not_grow_with_models(operator, emulator, kubectl,
                                                                              namespace):
    """examples/model-registry.yaml becomes Ready as applied; then 20 more Models on the same group
    add no listing: each tracker lists the group once per poll, whatever follows it."""
    from tests.conftest import REPO_ROOT

    kubectl("apply", "-n", namespace, "-f", str(REPO_ROOT / "examples" / "model-registry.yaml"))
    for resource in ("trainingjob/credit-risk-train", "modelpackagegroup/credit-risk", "modelpackage/credit-risk-v1",
                     "model/credit-risk", "endpoint/credit-risk"):
        kind, name = resource.split("/")
        wait_for(lambda: ready(kubectl, kind, namespace, name), timeout=90,
                 what=lambda: statuses(kubectl, namespace, (kind, name)))
    time.sleep(1)
    one = steady_listings(emulator)
    apply(kubectl, {"apiVersion": "v1", "kind": "List", "items": [
        manifest("Model", f"credit-risk-{index}", {"executionRoleArn": ROLE, "modelPackageGroupRef": {"name": "credit-risk"}})
        for index in range(20)]}, namespace)
    for index in range(20):
        wait_for(lambda: ready(kubectl, "model", namespace, f"credit-risk-{index}"), timeout=60, what="Models Ready")
    time.sleep(1)
    twenty_one = steady_listings(emulator)
    print(f"registry: ListModelPackages in 5 s at a 0.5 s poll: {one} with 1 Model, {twenty_one} with 21")
    # A listing per Model would add 20 a poll, 200 in 5 s; polls falling either side of the window's
    # edges (one per tracker and group still followed in the session) make a few either way.
    assert twenty_one - one < 10


def mutating(emulator) -> dict[str, int]:
    return {op: n for op, n in calls(emulator).items() if op.startswith(("Create", "Update", "Delete", "Add"))}


def test_a_version_is_registered_changed_in_place_or_anew_and_deleted_with_its_group(operator, emulator, kubectl,
                                                                                    namespace):
    """Apply to Ready, an approval change, a spec change, delete: exactly the calls the design says."""
    literal = package("scores-v1", "1.0", group_ref="scores")
    literal["spec"]["inferenceSpecification"]["containers"] = [
        {"image": f"{IMAGE}:1.0", "modelDataUrl": "s3://kubemaker-demo/scores/model.tar.gz"}]
    emulator.control.reset_call_counts()
    apply(kubectl, {"apiVersion": "v1", "kind": "List", "items": [manifest("ModelPackageGroup", "scores", {}), literal]},
          namespace)
    first = wait_for(lambda: ready(kubectl, "modelpackage", namespace, "scores-v1"), timeout=30, what="Ready")
    assert mutating(emulator) == {"CreateModelPackageGroup": 1, "CreateModelPackage": 1}

    emulator.control.reset_call_counts()
    kubectl("patch", "modelpackage", "scores-v1", "-n", namespace, "--type", "merge", "-p",
            '{"spec": {"modelApprovalStatus": "Approved", "approvalDescription": "offline AUC 0.91"}}')
    approved = wait_for(lambda: (o := ready(kubectl, "modelpackage", namespace, "scores-v1"))
                        and o["status"].get("approvalDescription") and o, timeout=30, what="approved in place")
    assert mutating(emulator) == {"UpdateModelPackage": 1}
    assert approved["status"]["modelPackageArn"] == first["status"]["modelPackageArn"]
    assert approved["status"]["modelApprovalStatus"] == "Approved"

    emulator.control.reset_call_counts()
    kubectl("patch", "modelpackage", "scores-v1", "-n", namespace, "--type", "merge", "-p",
            '{"spec": {"modelPackageDescription": "retrained on December data"}}')
    second = wait_for(lambda: (o := ready(kubectl, "modelpackage", namespace, "scores-v1"))
                      and o["status"]["modelPackageVersion"] == 2 and o, timeout=30, what="a new version")
    # The new version is registered with the spec's approval; the description goes by UpdateModelPackage.
    assert mutating(emulator) == {"CreateModelPackage": 1, "UpdateModelPackage": 1}
    assert [v["modelPackageVersion"] for v in second["status"]["versions"]] == [1, 2]
    described = emulator.client("sagemaker").describe_model_package(ModelPackageName=second["status"]["modelPackageArn"])
    assert (described["ModelApprovalStatus"], described["ApprovalDescription"]) == ("Approved", "offline AUC 0.91")

    emulator.control.reset_call_counts()
    kubectl("delete", "modelpackagegroup,modelpackage", "--all", "-n", namespace, "--wait=false")
    wait_for(lambda: not kubectl("get", "modelpackagegroup,modelpackage", "-n", namespace, "-o", "name").stdout.strip(),
             timeout=60, what="deleted")
    assert mutating(emulator) == {"DeleteModelPackage": 2, "DeleteModelPackageGroup": 1}
