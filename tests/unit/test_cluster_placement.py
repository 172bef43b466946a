"""TrainingJob with placement: Cluster, without a cluster: the container contract, the Job and Service
builders, and the planner as a table (observed Job and pods -> SageMaker's status fields)."""

from __future__ import annotations

import copy
import datetime
import json

import pytest

from kubemaker.api.training_job import TrainingJobSpec
from kubemaker.cluster import builders, contract
from kubemaker.conditions import READY, RECONCILING, STALLED
from kubemaker.config import OperatorConfig
from kubemaker.reconcile import cluster_training as planner
from kubemaker.runtime.kubeapi import CREATE, OWNER_UID_LABEL
from kubemaker.runtime.outcomes import KUBERNETES, Stall

T0 = datetime.datetime(2026, 11, 1, 12, 0, tzinfo=datetime.UTC)
UID = "0000-1111"
NAME = "team-job-1a2b3c4d"
SPEC = {
    "placement": "Cluster",
    "algorithmSpecification": {"trainingImage": "kubemaker.local/train:1", "trainingInputMode": "File"},
    "roleArn": "arn:aws:iam::123456789012:role/SageMakerExecution",
    "hyperParameters": {"epochs": "3", "learning-rate": "0.1", "objective": "reg:squarederror"},
    "inputDataConfig": [
        {"channelName": "train", "contentType": "text/csv",
         "dataSource": {"s3DataSource": {"s3DataType": "S3Prefix", "s3Uri": "s3://data/train/"}}},
        {"channelName": "validation", "dataSource": {"s3DataSource": {
            "s3DataType": "S3Prefix", "s3Uri": "s3://data/validation/", "s3DataDistributionType": "ShardedByS3Key"}}},
    ],
    "outputDataConfig": {"s3OutputPath": "s3://models/out/"},
    "resourceConfig": {"instanceType": "ml.m5.xlarge", "instanceCount": 1, "volumeSizeInGB": 5},
    "stoppingCondition": {"maxRuntimeInSeconds": 600},
    "environment": {"MY_SETTING": "on", "SM_NUM_CPUS": "1"},
    "placementOptions": {"serviceAccountName": "trainer", "nodeSelector": {"pool": "gpu"},
                         "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
                         "priorityClassName": "training"},
}
SETTINGS = OperatorConfig.model_validate({"clusterPlacement": {
    "enabled": True, "image": "kubemaker:0.1.0-abc", "env": [{"name": "AWS_ENDPOINT_URL", "value": "http://s3"}],
    "instanceTypes": {"ml.m5.xlarge": {"cpu": "500m", "memory": "1Gi"}}}}).cluster_placement


def spec_model(**changes) -> TrainingJobSpec:
    spec = copy.deepcopy(SPEC)
    for key, value in changes.items():
        spec[key] = value
    return TrainingJobSpec.model_validate(spec)


def training(count: int = 1, settings=SETTINGS, **changes) -> planner.ClusterTraining:
    spec = spec_model(resourceConfig={**SPEC["resourceConfig"], "instanceCount": count}, **changes)
    job_name = builders.cluster_job_name(NAME)
    document = builders.training_document(spec, NAME, job_name, "team", "us-east-1", settings)
    labels, annotations = {OWNER_UID_LABEL: UID}, {"sagemaker.kubemaker.io/owner": "trainingjob/job"}
    resources = settings.resources_for("ml.m5.xlarge")
    return planner.ClusterTraining(
        name=NAME, job_name=job_name, uid=UID, instance_count=count,
        job=builders.build_job(spec, document, job_name, labels, annotations, settings, resources),
        service=builders.build_service(job_name, labels, annotations) if count > 1 else None,
        model_artifacts=contract.model_artifacts("s3://models/out/", NAME, None), max_runtime_seconds=600)


def pod_spec(job: dict) -> dict:
    return job["spec"]["template"]["spec"]


def containers(job: dict) -> dict[str, dict]:
    spec = pod_spec(job)
    return {c["name"]: c for c in spec["initContainers"] + spec["containers"]}


def env_of(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


# The container contract.

def test_hosts_are_algo_1_to_n_sorted_as_sagemaker_sorts_them():
    assert contract.hosts(3) == ["algo-1", "algo-2", "algo-3"]
    assert contract.hosts(11)[:3] == ["algo-1", "algo-10", "algo-11"]
    assert [contract.host_name(index) for index in range(2)] == ["algo-1", "algo-2"]


def test_config_files_are_as_sagemaker_writes_them():
    document = builders.training_document(spec_model(resourceConfig={**SPEC["resourceConfig"], "instanceCount": 2}),
                                          NAME, "j", "team", "us-east-1", SETTINGS)
    assert contract.input_data_config(document) == {
        "train": {"ContentType": "text/csv", "TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
                  "RecordWrapperType": "None"},
        "validation": {"TrainingInputMode": "File", "S3DistributionType": "ShardedByS3Key",
                       "RecordWrapperType": "None"},
    }
    assert contract.resource_config(document, 1) == {"current_host": "algo-2", "hosts": ["algo-1", "algo-2"],
                                                      "network_interface_name": "eth0"}
    # hyperparameters.json keeps SageMaker's strings; SM_HPS parses what is JSON.
    assert document["hyperParameters"] == SPEC["hyperParameters"]
    assert contract.parsed_hyperparameters(document["hyperParameters"]) == {
        "epochs": 3, "learning-rate": 0.1, "objective": "reg:squarederror"}


def test_model_lands_at_sagemakers_path():
    assert contract.model_artifacts("s3://b/out/", "job", "GZIP") == "s3://b/out/job/output/model.tar.gz"
    assert contract.model_artifacts("s3://b/out", "job", None) == "s3://b/out/job/output/model.tar.gz"
    assert contract.model_artifacts("s3://b/out", "job", "NONE") == "s3://b/out/job/output/model/"
    assert contract.failure_reason("x" * 2000).startswith("AlgorithmError: x")
    assert len(contract.failure_reason("x" * 2000)) == len("AlgorithmError: ") + 1024


# The Job and the Service.

def test_one_host_is_an_indexed_job_of_stage_train_and_upload():
    job = training().job
    assert job["spec"] | {"template": None} == {
        "completionMode": "Indexed", "completions": 1, "parallelism": 1, "backoffLimit": 0,
        "activeDeadlineSeconds": 600, "template": None}
    assert job["metadata"]["labels"][OWNER_UID_LABEL] == UID
    assert "ownerReferences" not in job["metadata"]  # deletionPolicy: Retain must outlive the owner
    spec = pod_spec(job)
    assert [c["name"] for c in spec["initContainers"]] == ["stage", "train"]
    assert [c["name"] for c in spec["containers"]] == ["upload"]
    assert spec["restartPolicy"] == "Never" and "subdomain" not in spec
    train = containers(job)["train"]
    assert train["image"] == "kubemaker.local/train:1" and train["args"] == ["train"] and "command" not in train
    assert train["terminationMessagePath"] == "/opt/ml/output/failure"
    assert train["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert train["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}
    assert {"name": "opt-ml", "emptyDir": {"sizeLimit": "5Gi"}} in spec["volumes"]
    # The pods run as the spec's service account, where the spec's options place them.
    assert spec["serviceAccountName"] == "trainer" and spec["nodeSelector"] == {"pool": "gpu"}
    assert spec["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert spec["priorityClassName"] == "training"


def test_training_container_gets_the_sm_variables():
    env = env_of(containers(training().job)["train"])
    assert env["TRAINING_JOB_NAME"] == NAME
    assert env["SM_MODEL_DIR"] == "/opt/ml/model" and env["SM_OUTPUT_DATA_DIR"] == "/opt/ml/output/data"
    assert env["SM_INPUT_CONFIG_DIR"] == "/opt/ml/input/config"
    assert json.loads(env["SM_CHANNELS"]) == ["train", "validation"]
    assert env["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
    assert env["SM_CHANNEL_VALIDATION"] == "/opt/ml/input/data/validation"
    assert json.loads(env["SM_HPS"]) == {"epochs": 3, "learning-rate": 0.1, "objective": "reg:squarederror"}
    assert env["SM_HP_EPOCHS"] == "3" and env["SM_HP_LEARNING-RATE"] == "0.1"
    assert env["SM_CURRENT_HOST"] == "algo-1" and json.loads(env["SM_HOSTS"]) == ["algo-1"]
    assert env["SM_NUM_GPUS"] == "0"
    # The spec's environment is the container's, as in SageMaker, and wins over ours.
    assert env["MY_SETTING"] == "on" and env["SM_NUM_CPUS"] == "1"


def test_gpus_and_cpus_come_from_the_instance_type_table():
    settings = OperatorConfig.model_validate({"clusterPlacement": {"enabled": True, "image": "i"}}).cluster_placement
    assert settings.resources_for("ml.g5.xlarge").gpu == 1 and settings.resources_for("ml.nope") is None
    spec = spec_model(resourceConfig={"instanceType": "ml.g5.xlarge", "instanceCount": 1}, environment=None)
    document = builders.training_document(spec, NAME, "j", "team", "us-east-1", settings)
    train = builders.training_container(spec, document, settings.resources_for("ml.g5.xlarge"), [])
    assert train["resources"]["requests"] == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": 1}
    assert train["resources"]["limits"] == {"memory": "16Gi", "nvidia.com/gpu": 1}
    assert (env_of(train)["SM_NUM_GPUS"], env_of(train)["SM_NUM_CPUS"]) == ("1", "4")
    assert builders.whole_cpus("3500m") == 3 and builders.whole_cpus("250m") == 1


def test_entrypoint_and_arguments_replace_train_as_in_sagemaker():
    spec = spec_model(algorithmSpecification={**SPEC["algorithmSpecification"], "containerEntrypoint": ["python3"],
                                              "containerArguments": ["run.py"]})
    document = builders.training_document(spec, NAME, "j", "team", "us-east-1", SETTINGS)
    train = builders.training_container(spec, document, SETTINGS.resources_for("ml.m5.xlarge"), [])
    assert (train["command"], train["args"]) == (["python3"], ["run.py"])


def test_several_hosts_find_each_other_through_a_headless_service():
    planned = training(count=3)
    job, service = planned.job, planned.service
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 3
    assert pod_spec(job)["subdomain"] == service["metadata"]["name"] == planned.job_name
    assert service["spec"] == {"clusterIP": "None", "publishNotReadyAddresses": True,
                               "selector": {builders.CLUSTER_JOB_LABEL: planned.job_name}}
    train = containers(job)["train"]
    env = env_of(train)
    # One template for every host: the per-host variables come from the stage's env file.
    assert env["SM_CURRENT_HOST"] == {
        "fileKeyRef": {"volumeName": "kubemaker", "path": "env", "key": "SM_CURRENT_HOST"}}
    assert json.loads(env["SM_HOSTS"]) == ["algo-1", "algo-2", "algo-3"]
    hosts = {"name": "kubemaker", "mountPath": "/etc/hosts", "subPath": "hosts", "readOnly": True}
    assert hosts in train["volumeMounts"]


def test_helpers_run_the_operators_image_unprivileged_with_no_operator_credentials():
    job = training().job
    for name in ("stage", "upload"):
        helper = containers(job)[name]
        assert helper["image"] == "kubemaker:0.1.0-abc" and helper["command"] == ["kubemaker", "cluster", name]
        assert helper["securityContext"]["runAsNonRoot"] and helper["securityContext"]["readOnlyRootFilesystem"]
        env = env_of(helper)
        assert env["AWS_ENDPOINT_URL"] == "http://s3"  # clusterPlacement.env, as configured
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} & set(env)
        document = json.loads(env[contract.DOCUMENT_VARIABLE])
        assert document["name"] == NAME and document["channels"][1]["distribution"] == "ShardedByS3Key"


def test_checkpoints_get_a_sidecar_and_a_volume_at_their_local_path():
    job = training(checkpointConfig={"s3Uri": "s3://ckpt/job"}).job
    spec = pod_spec(job)
    assert [c["name"] for c in spec["initContainers"]] == ["stage", "checkpoints", "train"]
    sidecar = containers(job)["checkpoints"]
    assert sidecar["restartPolicy"] == "Always"
    mount = {"name": "checkpoints", "mountPath": "/opt/ml/checkpoints"}
    assert mount in sidecar["volumeMounts"] and mount in containers(job)["train"]["volumeMounts"]


def test_host_network_and_dns_config_come_from_the_operator_configuration():
    settings = SETTINGS.model_copy(update={"host_network": True, "dns_config": {"nameservers": ["198.18.0.1"]}})
    spec = pod_spec(training(settings=settings).job)
    assert spec["hostNetwork"] is True
    assert (spec["dnsPolicy"], spec["dnsConfig"]) == ("None", {"nameservers": ["198.18.0.1"]})


@pytest.mark.parametrize("name, expected", [
    ("team-job-1a2b3c4d", "team-job-1a2b3c4d"),
    ("MyJob-2026", "myjob-2026"),
    ("2026-run", "tj-2026-run"),
    ("a" * 63, "a" * 57),
])
def test_job_names_fit_pod_hostnames_and_service_names(name, expected):
    assert builders.cluster_job_name(name) == expected


# The planner.

def at(seconds: float) -> str:
    return (T0 + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def job_object(planned: planner.ClusterTraining, *conditions: dict) -> dict:
    job = copy.deepcopy(planned.job)
    job["metadata"]["creationTimestamp"] = at(0)
    job["status"] = {"conditions": list(conditions)}
    return job


def running(start: float) -> dict:
    return {"running": {"startedAt": at(start)}}


def done(start: float, end: float, code: int = 0, message: str = "", reason: str = "") -> dict:
    terminated = {"startedAt": at(start), "finishedAt": at(end), "exitCode": code}
    if message:
        terminated["message"] = message
    if reason:
        terminated["reason"] = reason
    return {"terminated": terminated}


def pod(index: int = 0, phase: str = "Pending", stage=None, train=None, upload=None, conditions=()) -> dict:
    init = [{"name": name, "state": state} for name, state in (("stage", stage), ("train", train)) if state]
    main = [{"name": "upload", "state": upload}] if upload else []
    return {"metadata": {"name": f"p-{index}", "creationTimestamp": at(1),
                         "annotations": {builders.COMPLETION_INDEX_ANNOTATION: str(index)}},
            "status": {"phase": phase, "initContainerStatuses": init, "containerStatuses": main,
                       "conditions": list(conditions)}}


def observe(planned, pods=(), *conditions, service=None) -> planner.ClusterObservation:
    return planner.ClusterObservation(job=job_object(planned, *conditions), service=service, pods=list(pods))


def planned_status(planned, pods=(), *conditions, status=None, service=None):
    return planner.plan_cluster(planned, status or {"clusterJob": planned.job_name}, observe(
        planned, pods, *conditions, service=service), "us-east-1")


COMPLETE = {"type": "Complete", "status": "True", "lastTransitionTime": at(40)}
DEADLINE = {"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "lastTransitionTime": at(601),
            "message": "Job was active longer than specified deadline"}


@pytest.mark.parametrize("pods, secondary", [
    ([], "Starting"),
    ([pod()], "Starting"),
    ([pod(stage=running(2))], "Downloading"),
    ([pod(phase="Running", stage=done(2, 5), train=running(6))], "Training"),
    ([pod(phase="Running", stage=done(2, 5), train=done(6, 30), upload=running(31))], "Uploading"),
])
def test_secondary_status_follows_the_pods_containers(pods, secondary):
    plan = planned_status(training(), pods)
    assert plan.status["trainingJobStatus"] == "InProgress" and plan.status["secondaryStatus"] == secondary
    assert plan.health.state == RECONCILING and plan.look_again == "poll" and plan.action is None
    assert plan.status["clusterJob"] == training().job_name and "consoleUrl" not in plan.status
    assert [t["status"] for t in plan.status["secondaryStatusTransitions"]][-1] == secondary


def test_a_completed_job_has_sagemakers_transitions_times_and_artifacts():
    pods = [pod(phase="Succeeded", stage=done(2, 5), train=done(6, 30), upload=done(31, 35))]
    plan = planned_status(training(), pods, COMPLETE)
    status = plan.status
    assert (status["trainingJobStatus"], status["secondaryStatus"]) == ("Completed", "Completed")
    assert [(t["status"], t["startTime"], t.get("endTime")) for t in status["secondaryStatusTransitions"]] == [
        ("Starting", at(0), at(2)), ("Downloading", at(2), at(6)), ("Training", at(6), at(31)),
        ("Uploading", at(31), at(35)), ("Completed", at(35), None)]
    assert status["modelArtifacts"] == {"s3ModelArtifacts": f"s3://models/out/{NAME}/output/model.tar.gz"}
    assert status["trainingTimeInSeconds"] == 33  # from the instance's start to the upload's end
    assert plan.health.state == READY and plan.look_again is None
    assert [e.reason for e in plan.events] == [f"Training{s}" for s in PHASES_SEEN]


PHASES_SEEN = ("Starting", "Downloading", "Training", "Uploading", "Completed")


def test_transitions_already_reported_make_no_new_events():
    pods = [pod(phase="Running", stage=done(2, 5), train=running(6))]
    first = planned_status(training(), pods)
    again = planned_status(training(), pods, status={**first.status})
    assert [e.reason for e in first.events] == ["TrainingStarting", "TrainingDownloading", "TrainingTraining"]
    assert again.events == []


def test_the_failure_file_becomes_the_failure_reason():
    pods = [pod(phase="Failed", stage=done(2, 5), train=done(6, 9, 1, "ValueError: no label column\n"))]
    plan = planned_status(training(), pods)
    assert plan.status["trainingJobStatus"] == "Failed" and plan.status["secondaryStatus"] == "Failed"
    assert plan.status["failureReason"] == "AlgorithmError: ValueError: no label column"
    assert plan.health.state == STALLED and "no label column" in plan.health.message
    failed = [e for e in plan.events if e.reason == "TrainingFailed"]
    assert failed and failed[0].type == "Warning"
    assert "modelArtifacts" not in plan.status and plan.look_again is None


@pytest.mark.parametrize("container, expected", [
    (dict(train=done(6, 9, 137, reason="OOMKilled")), "AlgorithmError: the training container ran out of memory"),
    (dict(train=done(6, 9, 2)), "AlgorithmError: the training container exited with code 2"),
    (dict(stage=done(2, 3, 1, "Data download failed for channel train")),
     "ClientError: Data download failed for channel train"),
])
def test_other_failures_say_what_failed(container, expected):
    pods = [pod(phase="Failed", **{"stage": done(2, 5), **container})]
    assert planned_status(training(), pods).status["failureReason"].startswith(expected)


def test_the_deadline_is_max_runtime_exceeded():
    pods = [pod(phase="Failed", stage=done(2, 5), train=done(6, 601, 143))]
    plan = planned_status(training(), pods, DEADLINE)
    assert (plan.status["trainingJobStatus"], plan.status["secondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    assert (plan.health.state, plan.health.reason) == (STALLED, "MaxRuntimeExceeded")


def test_the_slowest_host_decides_and_the_first_failing_one_fails_the_job():
    planned = training(count=2)
    service = planned.service
    pods = [pod(0, "Running", stage=done(2, 5), train=running(6)), pod(1, "Running", stage=running(3))]
    plan = planned_status(planned, pods, service=service)
    assert plan.status["secondaryStatus"] == "Downloading"
    assert plan.status["secondaryStatusTransitions"][-1]["startTime"] == at(3)
    failing = [pod(0, "Running", stage=done(2, 5), train=running(6)),
               pod(1, "Failed", stage=done(3, 5), train=done(6, 8, 1, "rank 1 lost"))]
    assert planned_status(planned, failing, service=service).status["failureReason"] == "AlgorithmError: rank 1 lost"


def test_waiting_reasons_show_in_the_status_message():
    unschedulable = pod(conditions=[{"type": "PodScheduled", "status": "False",
                                     "message": "0/2 nodes are available: 2 Insufficient cpu."}])
    plan = planned_status(training(), [unschedulable])
    assert plan.status["secondaryStatusTransitions"][-1]["statusMessage"].endswith("2 Insufficient cpu.")
    pulling = pod(phase="Pending", stage=done(2, 5))
    pulling["status"]["initContainerStatuses"].append(
        {"name": "train", "state": {"waiting": {"reason": "ErrImagePull", "message": "not found"}}})
    message = planned_status(training(), [pulling]).status["secondaryStatusTransitions"][-1]["statusMessage"]
    assert "container train: ErrImagePull: not found" in message


def test_creates_the_service_then_the_job_once_with_the_marker_first():
    planned = training(count=2)
    first = planner.plan_cluster(planned, {}, planner.ClusterObservation(), "us-east-1")
    assert (first.action, first.service, first.request) == (CREATE, KUBERNETES, planned.service)
    assert first.creates == builders.SERVICE and first.again
    assert first.before["createPending"]["name"] == NAME
    assert (first.before["trainingJobName"], first.before["clusterJob"]) == (NAME, planned.job_name)
    second = planner.plan_cluster(planned, first.before, planner.ClusterObservation(service=planned.service),
                                  "us-east-1")
    assert (second.request, second.creates) == (planned.job, builders.JOB)
    assert [e.reason for e in second.events] == ["Created"]


def test_someone_elses_job_of_that_name_is_never_taken():
    planned = training()
    job = job_object(planned)
    job["metadata"]["labels"][OWNER_UID_LABEL] = "someone-else"
    with pytest.raises(Stall) as stall:
        planner.plan_cluster(planned, {"clusterJob": planned.job_name}, planner.ClusterObservation(job=job),
                             "us-east-1")
    assert stall.value.reason == "NameInUse"


def test_a_job_deleted_behind_the_operators_back_is_stalled_not_recreated():
    planned = training()
    status = {"clusterJob": planned.job_name, "trainingJobName": NAME, "trainingJobStatus": "InProgress"}
    with pytest.raises(Stall) as stall:
        planner.plan_cluster(planned, status, planner.ClusterObservation(), "us-east-1")
    assert stall.value.reason == "NotFound"
    # A create that may not have happened (the marker is still there) is made again instead.
    pending = {**status, "createPending": {"name": NAME, "startedAt": at(0)}}
    assert planner.plan_cluster(planned, pending, planner.ClusterObservation(), "us-east-1").creates == builders.JOB


def test_the_on_cluster_example_and_the_kfp_example_are_valid_jobs_on_the_cluster():
    import yaml

    from kubemaker.api.registry import parse_spec
    from kubemaker.kfp.example_manifests import TRAINING_JOB_ON_CLUSTER
    from tests.conftest import REPO_ROOT

    documents = list(yaml.safe_load_all(
        (REPO_ROOT / "examples" / "on-cluster" / "train-on-cluster-serve-on-sagemaker.yaml").read_text()))
    assert [doc["kind"] for doc in documents] == ["TrainingJob", "Model", "Endpoint"]
    for document in documents:
        parse_spec(document["kind"], document["spec"])
    settings = OperatorConfig.model_validate({"clusterPlacement": {"enabled": True, "image": "i"}}).cluster_placement
    for manifest in (documents[0], yaml.safe_load(TRAINING_JOB_ON_CLUSTER)):
        spec = TrainingJobSpec.model_validate(manifest["spec"])
        assert spec.placement == "Cluster"
        document = builders.training_document(spec, NAME, "j", "team", "us-east-1", settings)
        job = builders.build_job(spec, document, "j", {}, {}, settings, settings.resources_for("ml.m5.large"))
        assert pod_spec(job)["serviceAccountName"] == spec.placementOptions.serviceAccountName


def test_a_status_entered_in_the_same_second_as_the_last_reported_one_is_still_an_event():
    # Kubernetes' times have whole seconds: a quick upload starts and ends within one.
    uploading = [pod(phase="Running", stage=done(2, 5), train=done(6, 30), upload=running(31))]
    before = planned_status(training(), uploading)
    completed = [pod(phase="Succeeded", stage=done(2, 5), train=done(6, 30), upload=done(31, 31))]
    after = planned_status(training(), completed, COMPLETE, status=dict(before.status))
    assert [e.reason for e in after.events] == ["TrainingCompleted"]


def test_a_pod_that_kubernetes_stopped_says_why_rather_than_killed():
    evicted = pod(phase="Failed", stage=done(2, 5), train=done(6, 9, 137))
    evicted["status"]["reason"], evicted["status"]["message"] = "Evicted", "The node was low on resource: memory."
    reason = planned_status(training(), [evicted]).status["failureReason"]
    assert reason == "InternalServerError: pod p-0 was stopped: Evicted: The node was low on resource: memory."
    preempted = pod(phase="Failed", stage=done(2, 5), train=done(6, 9, 137), conditions=[
        {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler", "message": "preempted"}])
    assert "PreemptionByScheduler: preempted" in planned_status(training(), [preempted]).status["failureReason"]


def test_credentials_in_the_operators_configuration_are_refused():
    with pytest.raises(ValueError, match="AWS_SECRET_ACCESS_KEY must come from a Secret"):
        OperatorConfig.model_validate({"clusterPlacement": {"env": [
            {"name": "AWS_SECRET_ACCESS_KEY", "value": "the-operators-own"}]}})
    OperatorConfig.model_validate({"clusterPlacement": {"env": [
        {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "secret"}}}]}})
