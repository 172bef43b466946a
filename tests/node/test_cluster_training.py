"""Hybrid training on the real nodes: TrainingJobs with `placement: Cluster` run the test world's
training image (kubemaker_dev.trainingimage) in pods, under SageMaker's container contract, through
the chart installed with clusterPlacement.enabled, and their model serves from SageMaker (the
emulator).

The chart runs the operator image built from this tree (which is also the pods' staging and upload
image), with host networking as every pod here has it. The pods reach S3 (the emulator) with the
credentials of a Secret of their own namespace, as a team without IRSA would give them; the
operator's own are in its release namespace only. The test world has no cluster DNS: a stand-in
(clusterdns.py) answers the headless Service's names on the first node's address, and the
operator's clusterPlacement.dnsConfig points the training pods at it.

Run times are printed (`pytest -s`) and recorded as test properties; no test asserts a duration.
"""

from __future__ import annotations

import copy
import io
import json
import subprocess
import tarfile
import time
import uuid

import pytest
import yaml

from kubemaker.kfp.example_manifests import ENDPOINT, MODEL, TRAINING_JOB_ON_CLUSTER
from kubemaker_dev.ports import free_port
from tests.conftest import REPO_ROOT
from tests.e2e.chart import permission_complaints
from tests.e2e.helpers import condition, events_for, get, wait_for
from tests.e2e.test_kfp_component import run_step
from tests.node.clusterdns import ClusterDns
from tests.node.conftest import image_on_nodes

pytestmark = pytest.mark.e2e

RELEASE, NAMESPACE = "hybrid", "kubemaker-hybrid"
CHART = REPO_ROOT / "charts" / "kubemaker"
EXAMPLE = REPO_ROOT / "examples" / "on-cluster" / "train-on-cluster-serve-on-sagemaker.yaml"
BUCKET = "hybrid-training"
TRAINER = "trainer"  # the pods' service account in each team namespace
S3_SECRET = "s3-credentials"
ROWS = "1,3\n2,5\n3,7\n"  # y = 2x + 1
# The pods' resources in this small test world: the operator's instance type table, as a cluster sets it.
INSTANCE_TYPE = {"cpu": "100m", "memory": "256Mi"}
TRANSITIONS = ["Starting", "Downloading", "Training", "Uploading", "Completed"]


@pytest.fixture(scope="module")
def training_image(nodes, tmp_path_factory) -> str:
    from kubemaker_dev.trainingimage import ensure_training_image

    return image_on_nodes(nodes, ensure_training_image, "training", tmp_path_factory.mktemp("training-image"))


@pytest.fixture(scope="module")
def cluster_dns(nodes, node_kubectl):
    dns = ClusterDns(node_kubectl, nodes[0].ip).start()
    yield dns
    dns.stop()


def helm_run(helm, kubeconfig, *args: str, input: str | None = None) -> str:
    result = subprocess.run([str(helm), f"--kubeconfig={kubeconfig}", *args], input=input, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, f"helm {' '.join(args)} failed:\n{result.stderr}{result.stdout}"
    return result.stdout


@pytest.fixture(scope="module")
def release(nodes, node_kubectl, helm, emulator, operator_image, training_image, cluster_dns):
    """The chart with clusterPlacement.enabled; one replica (the leader election is the other module's)."""
    repository, tag = operator_image.rsplit(":", 1)
    credentials = emulator.aws_environment()
    node_kubectl("create", "namespace", NAMESPACE)
    node_kubectl("-n", NAMESPACE, "create", "secret", "generic", "operator-aws",
                 f"--from-literal=accessKeyId={credentials['AWS_ACCESS_KEY_ID']}",
                 f"--from-literal=secretAccessKey={credentials['AWS_SECRET_ACCESS_KEY']}")

    def from_secret(name: str, key: str) -> dict:
        return {"secretKeyRef": {"name": name, "key": key}}

    values = {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "replicaCount": 1, "hostNetwork": True, "pollIntervalSeconds": 1,
        "aws": {"region": credentials["AWS_DEFAULT_REGION"], "endpointUrl": emulator.url},
        "livenessPort": free_port(), "metrics": {"port": free_port()},
        "extraEnv": [
            {"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
            {"name": "KUBERNETES_SERVICE_PORT", "value": str(nodes[0].control_plane.api_port)},
            {"name": "AWS_ACCESS_KEY_ID", "valueFrom": from_secret("operator-aws", "accessKeyId")},
            {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": from_secret("operator-aws", "secretAccessKey")},
        ],
        "clusterPlacement": {
            "enabled": True, "hostNetwork": True, "networkInterfaceName": "lo",
            "dnsConfig": {"nameservers": [cluster_dns.address]},
            "instanceTypes": {"ml.m5.large": INSTANCE_TYPE},
            # The pods' S3: the emulator, with credentials from a Secret of the job's own namespace.
            "env": [
                {"name": "AWS_ENDPOINT_URL", "value": emulator.url},
                {"name": "AWS_ACCESS_KEY_ID", "valueFrom": from_secret(S3_SECRET, "accessKeyId")},
                {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": from_secret(S3_SECRET, "secretAccessKey")},
            ],
        },
    }
    kubeconfig = nodes[0].control_plane.kubeconfig_path
    helm_run(helm, kubeconfig, "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--values", "-",
             "--wait", "--timeout=4m", input=yaml.safe_dump(values))
    emulator.client("s3").create_bucket(Bucket=BUCKET)
    yield values
    helm_run(helm, kubeconfig, "uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout=2m")


def operator_log(node_kubectl) -> str:
    return node_kubectl("-n", NAMESPACE, "logs", "-l", f"app.kubernetes.io/instance={RELEASE}", "--tail=-1").stdout


def make_team(node_kubectl, emulator) -> str:
    """A namespace as a team has it: the pods' service account and their S3 credentials, and the data."""
    namespace = f"hybrid-{uuid.uuid4().hex[:6]}"
    credentials = emulator.aws_environment()
    node_kubectl("create", "namespace", namespace)
    node_kubectl("-n", namespace, "create", "serviceaccount", TRAINER)
    node_kubectl("-n", namespace, "create", "secret", "generic", S3_SECRET,
                 f"--from-literal=accessKeyId={credentials['AWS_ACCESS_KEY_ID']}",
                 f"--from-literal=secretAccessKey={credentials['AWS_SECRET_ACCESS_KEY']}")
    emulator.client("s3").put_object(Bucket=BUCKET, Key=f"{namespace}/train/data.csv", Body=ROWS.encode())
    return namespace


@pytest.fixture
def team(node_kubectl, emulator, release):
    yield make_team(node_kubectl, emulator)
    assert not permission_complaints(operator_log(node_kubectl))


def example(kind: str) -> dict:
    return copy.deepcopy(next(doc for doc in yaml.safe_load_all(EXAMPLE.read_text()) if doc["kind"] == kind))


def training_job(namespace: str, image: str, name: str = "train", count: int = 1, placement: str = "Cluster",
                 **hyperparameters: str) -> dict:
    """The example's TrainingJob, on this test world's image and bucket."""
    job = example("TrainingJob")
    job["metadata"] = {"name": name}
    spec = job["spec"]
    spec["placement"] = placement
    if placement == "Cluster":
        spec["placementOptions"]["serviceAccountName"] = TRAINER
    else:
        del spec["placementOptions"]
    spec["algorithmSpecification"]["trainingImage"] = image
    spec["hyperParameters"] = {**spec["hyperParameters"], **hyperparameters}
    spec["inputDataConfig"][0]["dataSource"]["s3DataSource"]["s3Uri"] = f"s3://{BUCKET}/{namespace}/train/"
    spec["outputDataConfig"]["s3OutputPath"] = f"s3://{BUCKET}/{namespace}/output/"
    spec["resourceConfig"]["instanceCount"] = count
    return job


def apply(node_kubectl, namespace: str, *manifests: dict) -> None:
    node_kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(manifests))


def settled(node_kubectl, namespace: str, name: str, kind: str = "trainingjob") -> dict | None:
    obj = get(node_kubectl, kind, namespace, name)
    ready, stalled = condition(obj, "Ready"), condition(obj, "Stalled")
    return obj if ready.get("status") == "True" or stalled.get("status") == "True" else None


def wait_settled(node_kubectl, namespace: str, name: str, kind: str = "trainingjob", timeout: float = 240) -> dict:
    return wait_for(lambda: settled(node_kubectl, namespace, name, kind), timeout=timeout, interval=1,
                    what=lambda: (get(node_kubectl, kind, namespace, name).get("status"),
                                  node_kubectl("get", "pods", "-n", namespace, "-o", "wide").stdout))


def pods(node_kubectl, namespace: str) -> list[dict]:
    return json.loads(node_kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]


def archive_members(emulator, uri: str) -> dict[str, bytes]:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body = emulator.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}


def report(record_property, what: str, seconds: float) -> None:
    record_property(what, round(seconds, 1))
    print(f"\n{what}: {seconds:.1f} s")


@pytest.fixture(scope="module")
def trained(release, node_kubectl, emulator, training_image):
    """The example's TrainingJob on the cluster and, from the same manifest with placement: SageMaker,
    its twin in the emulator, both settled; and how long the one on the cluster took."""
    team = make_team(node_kubectl, emulator)
    cluster = training_job(team, training_image)
    twin = training_job(team, training_image, name="train-in-sagemaker", placement="SageMaker")
    started = time.monotonic()
    apply(node_kubectl, team, cluster, twin)
    on_cluster = wait_settled(node_kubectl, team, "train")
    took = time.monotonic() - started
    return team, on_cluster, wait_settled(node_kubectl, team, "train-in-sagemaker"), took


def test_a_job_on_the_cluster_runs_the_image_under_sagemakers_contract(trained, node_kubectl, emulator,
                                                                     record_property):
    namespace, obj, _, took = trained
    report(record_property, "TrainingJob on the cluster, apply -> Ready", took)
    status = obj["status"]
    assert condition(obj, "Ready")["status"] == "True", status
    name = status["trainingJobName"]
    artifacts = f"s3://{BUCKET}/{namespace}/output/{name}/output/model.tar.gz"
    assert status["modelArtifacts"] == {"s3ModelArtifacts": artifacts}
    model = json.loads(archive_members(emulator, artifacts)["model-algo-1.json"])
    # The channel was staged, and the script learned from it.
    assert model["files"] == ["data.csv"] and model["rows"] == 3
    assert model["fit"] == {"a": 2.0, "b": 1.0}
    # The hyperparameters as SageMaker writes them (strings), and parsed in SM_HPS.
    hyperparameters = obj["spec"]["hyperParameters"]
    assert model["hyperparameters"] == hyperparameters
    environment = model["environment"]
    assert json.loads(environment["SM_HPS"]) == {"epochs": 20, "learning_rate": 0.05}
    assert environment["SM_HP_EPOCHS"] == "20" and environment["TRAINING_JOB_NAME"] == name
    assert environment["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
    assert json.loads(environment["SM_CHANNELS"]) == ["train"]
    assert (environment["SM_CURRENT_HOST"], environment["SM_HOSTS"]) == ("algo-1", '["algo-1"]')
    assert environment["SM_MODEL_DIR"] == "/opt/ml/model" and environment["SM_NUM_GPUS"] == "0"
    assert model["resourceconfig"] == {"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "lo"}
    assert model["inputdataconfig"] == {"train": {"ContentType": "text/csv", "TrainingInputMode": "File",
                                                  "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}}
    output = archive_members(emulator, artifacts.replace("model.tar.gz", "output.tar.gz"))
    assert json.loads(output["metrics-algo-1.json"]) == {"rows": 3}
    # The pod ran as the spec's service account, where its options placed it.
    (pod,) = pods(node_kubectl, namespace)
    assert pod["spec"]["serviceAccountName"] == TRAINER
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["metadata"]["labels"]["sagemaker.kubemaker.io/owner-uid"] == obj["metadata"]["uid"]


def test_the_status_goes_through_sagemakers_transitions_with_events(trained, node_kubectl):
    namespace, obj, _, _ = trained
    status = obj["status"]
    assert (status["trainingJobStatus"], status["secondaryStatus"]) == ("Completed", "Completed")
    assert [t["status"] for t in status["secondaryStatusTransitions"]] == TRANSITIONS
    assert status["trainingTimeInSeconds"] >= 0 and status["trainingEndTime"] >= status["trainingStartTime"]
    assert status["clusterJob"] and "trainingJobArn" not in status

    def reasons() -> list[str]:
        events = sorted(events_for(node_kubectl, namespace, "train"),
                        key=lambda e: e.get("eventTime") or e.get("firstTimestamp") or "")
        return [e["reason"] for e in events]

    # Events are posted in the background: the last may come a moment after the status.
    expected = [f"Training{t}" for t in TRANSITIONS]
    wait_for(lambda: [r for r in reasons() if r.startswith("Training")] == expected, timeout=30, what=reasons)
    assert "Created" in reasons()


def test_the_same_manifest_in_sagemaker_gives_the_same_status_fields(trained):
    _, on_cluster, in_sagemaker, _ = trained
    cluster, sagemaker = on_cluster["status"], in_sagemaker["status"]
    assert condition(in_sagemaker, "Ready")["status"] == "True", sagemaker
    for field in ("trainingJobStatus", "secondaryStatus"):
        assert cluster[field] == sagemaker[field]
    assert [t["status"] for t in cluster["secondaryStatusTransitions"]] == [
        t["status"] for t in sagemaker["secondaryStatusTransitions"]]
    # Every field the cluster reports, SageMaker reports too (and more: its ARN, billing, log streams).
    assert set(cluster) - set(sagemaker) == {"clusterJob"}
    # The model lands in the same layout: <s3OutputPath>/<job name>/output/model.tar.gz.
    for status in (cluster, sagemaker):
        path = f"/{status['trainingJobName']}/output/model.tar.gz"
        assert status["modelArtifacts"]["s3ModelArtifacts"].endswith(path)


def test_a_model_and_endpoint_serve_the_clusters_model_from_sagemaker(trained, node_kubectl, emulator):
    namespace, obj, _, _ = trained
    model, endpoint = example("Model"), example("Endpoint")
    model["spec"]["primaryContainer"]["modelDataFrom"]["trainingJobRef"]["name"] = "train"
    endpoint["spec"]["productionVariants"][0]["modelRef"]["name"] = model["metadata"]["name"]
    apply(node_kubectl, namespace, model, endpoint)
    served = wait_settled(node_kubectl, namespace, endpoint["metadata"]["name"], kind="endpoint")
    assert condition(served, "Ready")["status"] == "True", served["status"]
    assert served["status"]["endpointStatus"] == "InService"
    made = get(node_kubectl, "model", namespace, model["metadata"]["name"])["status"]
    described = emulator.client("sagemaker").describe_model(ModelName=made["modelName"])
    assert described["PrimaryContainer"]["ModelDataUrl"] == obj["status"]["modelArtifacts"]["s3ModelArtifacts"]


def test_kubemaker_logs_follows_the_training_pod_until_it_ends(team, nodes, node_kubectl, training_image):
    apply(node_kubectl, team, training_job(team, training_image, sleep="3"))
    wait_for(lambda: get(node_kubectl, "trainingjob", team, "train").get("status", {}).get("clusterJob"),
             timeout=60, what="the Job's name in status")
    logs = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "kubemaker"), "logs", "trainingjob/train", "-n", team,
                           "-f"], env={"KUBECONFIG": str(nodes[0].control_plane.kubeconfig_path), "PATH": "/usr/bin"},
                          capture_output=True, text=True, timeout=180)
    assert logs.returncode == 0, logs.stderr
    lines = logs.stdout.splitlines()
    # From the script's first line to its last: followed until the training container ended.
    assert lines[0].startswith("training on algo-1 of ['algo-1']") and lines[-1].startswith("wrote model-algo-1.json")


def test_a_failure_file_becomes_the_failure_reason(team, node_kubectl, training_image):
    apply(node_kubectl, team, training_job(team, training_image, fail="ValueError: column 'y' has no values"))
    obj = wait_settled(node_kubectl, team, "train")
    status = obj["status"]
    assert (status["trainingJobStatus"], status["secondaryStatus"]) == ("Failed", "Failed")
    assert status["failureReason"] == "AlgorithmError: ValueError: column 'y' has no values"
    assert condition(obj, "Stalled")["status"] == "True"
    assert "column 'y' has no values" in condition(obj, "Stalled")["message"]
    assert [t["status"] for t in status["secondaryStatusTransitions"]] == ["Starting", "Downloading", "Training",
                                                                          "Failed"]
    warning = [e for e in events_for(node_kubectl, team, "train") if e["reason"] == "TrainingFailed"]
    assert warning and warning[0]["type"] == "Warning"


def test_deleting_a_running_job_stops_its_pods(team, node_kubectl, training_image, record_property):
    apply(node_kubectl, team, training_job(team, training_image, sleep="600"))
    wait_for(lambda: get(node_kubectl, "trainingjob", team, "train").get("status", {}).get("secondaryStatus")
             == "Training", timeout=180, interval=1, what=lambda: get(node_kubectl, "trainingjob", team, "train"))
    assert [p["status"]["phase"] for p in pods(node_kubectl, team)] == ["Pending"]  # training: an init container
    deleted = time.monotonic()
    node_kubectl("delete", "trainingjob", "train", "-n", team, "--timeout=120s")
    report(record_property, "delete of a running TrainingJob on the cluster -> its pods gone",
           time.monotonic() - deleted)
    assert pods(node_kubectl, team) == []
    assert json.loads(node_kubectl("get", "jobs", "-n", team, "-o", "json").stdout)["items"] == []


def test_two_instances_reach_each_other_by_their_sagemaker_names(team, node_kubectl, emulator, training_image,
                                                                  cluster_dns):
    port = str(free_port())
    apply(node_kubectl, team, training_job(team, training_image, count=2, port=port))
    obj = wait_settled(node_kubectl, team, "train")
    assert condition(obj, "Ready")["status"] == "True", obj["status"]
    running = pods(node_kubectl, team)
    assert sorted(p["spec"]["hostname"] for p in running) == [f"{obj['status']['clusterJob']}-{i}" for i in range(2)]
    members = archive_members(emulator, obj["status"]["modelArtifacts"]["s3ModelArtifacts"])
    # algo-1's archive holds both hosts' models (SageMaker aggregates every host's /opt/ml/model).
    assert sorted(members) == ["model-algo-1.json", "model-algo-2.json"]
    first, second = (json.loads(members[f"model-algo-{n}.json"]) for n in (1, 2))
    assert first["peers"]["seen"] == ["algo-2"] and second["peers"]["reached"] == "algo-1"
    addresses = {p["status"]["podIP"] for p in running}
    for model, host in ((first, "algo-1"), (second, "algo-2")):
        assert model["resourceconfig"]["current_host"] == host == model["environment"]["SM_CURRENT_HOST"]
        assert model["resourceconfig"]["hosts"] == ["algo-1", "algo-2"]
        assert set(model["peers"]["addresses"]) == {"algo-1", "algo-2"}
        assert set(model["peers"]["addresses"].values()) <= addresses
    assert any(name.endswith(".svc.cluster.local") for name in cluster_dns.queries)


def test_the_kfp_example_trains_on_the_cluster_and_serves_from_sagemaker(team, nodes, emulator, training_image,
                                                                        tmp_path):
    kubeconfig = str(nodes[0].control_plane.kubeconfig_path)
    artifact, endpoint_name = tmp_path / "artifact", tmp_path / "endpoint"
    train = run_step(kubeconfig, TRAINING_JOB_ON_CLUSTER, team,
                     "--set", f"spec.algorithmSpecification.trainingImage={training_image}",
                     "--set", f"spec.placementOptions.serviceAccountName={TRAINER}",
                     "--set", f"spec.outputDataConfig.s3OutputPath=s3://{BUCKET}/{team}/kfp/",
                     "--output-model-artifact-uri", str(artifact))
    assert train.returncode == 0, train.stderr
    uri = artifact.read_text()
    assert uri.startswith(f"s3://{BUCKET}/{team}/kfp/") and uri.endswith("/output/model.tar.gz")
    assert "model-algo-1.json" in archive_members(emulator, uri)  # trained on the cluster
    register = run_step(kubeconfig, MODEL, team, "--set", f"spec.primaryContainer.modelDataUrl={uri}")
    assert register.returncode == 0, register.stderr
    serve = run_step(kubeconfig, ENDPOINT, team, "--output-endpoint-name", str(endpoint_name))
    assert serve.returncode == 0, serve.stderr
    described = emulator.client("sagemaker").describe_endpoint(EndpointName=endpoint_name.read_text())
    assert described["EndpointStatus"] == "InService"


def test_what_has_no_meaning_on_the_cluster_is_refused_at_apply(team, node_kubectl, training_image):
    spot = training_job(team, training_image)
    spot["spec"]["enableManagedSpotTraining"] = True
    pipe = training_job(team, training_image, name="pipe")
    pipe["spec"]["algorithmSpecification"]["trainingInputMode"] = "Pipe"
    for manifest, complaint in ((spot, "enableManagedSpotTraining has no meaning with placement: Cluster"),
                                (pipe, "Pipe mode has no meaning with placement: Cluster")):
        refused = node_kubectl("apply", "-n", team, "-f", "-", input=yaml.safe_dump(manifest), check=False)
        assert refused.returncode != 0 and complaint in refused.stderr, refused.stderr


def test_the_operator_may_run_training_but_not_read_secrets(release, node_kubectl):
    operator = f"system:serviceaccount:{NAMESPACE}:{RELEASE}-kubemaker"

    def can(verb: str, resource: str) -> str:
        return node_kubectl("--as", operator, "auth", "can-i", verb, resource, "-A", check=False).stdout.strip()

    assert can("create", "jobs.batch") == "yes" and can("delete", "services") == "yes"
    assert can("list", "pods") == "yes"
    assert can("create", "pods") == "no" and can("get", "pods/log") == "no" and can("list", "secrets") == "no"
