"""The reconcile core with Kubernetes plans: a TrainingJob placed on the cluster through run_pass and the
core's deletion path, against a small in-memory API server (the requests the Runtime would send)."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from dataclasses import dataclass, field

import pytest

from kubemaker import FINALIZER
from kubemaker.config import OperatorConfig
from kubemaker.handlers.trainingjob import TrainingJobController
from kubemaker.runtime.context import ObjectContext
from kubemaker.runtime.kubeapi import OWNER_UID_LABEL
from kubemaker.runtime.kubeclient import ApiError
from kubemaker.runtime.outcomes import Stall
from kubemaker.runtime.reconciler import ObjectState, Reconciler, run_pass
from kubemaker.runtime.workqueue import WorkQueue
from tests.unit.test_cluster_placement import SPEC

UID = "0000-1111"


def api_error(status: int, message: str = "") -> ApiError:
    return ApiError(status, "refused", json.dumps({"kind": "Status", "message": message}).encode())


@dataclass
class FakeApiServer:
    """Objects by path; records every request; `refuse` answers a method with an error."""

    objects: dict[str, dict] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    refuse: dict[str, ApiError] = field(default_factory=dict)

    async def __call__(self, method: str, path: str, body: dict | None = None, query=None) -> dict:
        self.requests.append((method, path))
        if method in self.refuse:
            raise self.refuse[method]
        if method == "POST":
            key = f"{path}/{body['metadata']['name']}"
            if key in self.objects:
                raise api_error(409, "already exists")
            self.objects[key] = {**copy.deepcopy(body), "metadata": {
                **body["metadata"], "creationTimestamp": "2026-11-01T12:00:00Z"}}
            return self.objects[key]
        if method == "DELETE":
            if path not in self.objects:
                raise api_error(404)
            if body["propagationPolicy"] == "Foreground":
                self.objects[path]["metadata"]["deletionTimestamp"] = "2026-11-01T12:05:00Z"
            else:
                del self.objects[path]
            return {}
        if query:  # a listing by label
            key, value = dict(query)["labelSelector"].split("=")
            return {"items": [o for p, o in self.objects.items() if p.startswith(path + "/")
                              and o["metadata"].get("labels", {}).get(key) == value]}
        if path not in self.objects:
            raise api_error(404)
        return self.objects[path]


@dataclass
class FakeRuntime:
    config: OperatorConfig
    kubernetes_request: FakeApiServer = field(default_factory=FakeApiServer)
    work_queue: WorkQueue = field(default_factory=WorkQueue)
    status_patches: list[dict] = field(default_factory=list)
    objects: object = lambda key: None
    namespace_objects: object = lambda kind, namespace: []

    async def patch_status(self, plural, namespace, name, status) -> None:
        self.status_patches.append(status)

    async def patch_object(self, plural, namespace, name, json_patch) -> None:
        pass


ENABLED = {"clusterPlacement": {"enabled": True, "image": "kubemaker:test",
                                "instanceTypes": {"ml.m5.xlarge": {"cpu": "500m", "memory": "1Gi"}}}}


@pytest.fixture
def runtime(monkeypatch):
    events: list[tuple[str, str, str]] = []
    monkeypatch.setattr(ObjectContext, "event", lambda self, e: events.append((e.type, e.reason, e.message)))
    fake = FakeRuntime(OperatorConfig.model_validate(ENABLED))
    fake.events = events
    return fake


def context(runtime, spec: dict | None = None, status: dict | None = None) -> ObjectContext:
    body = {"apiVersion": "sagemaker.kubemaker.io/v1alpha1", "kind": "TrainingJob",
            "metadata": {"name": "job", "namespace": "team", "uid": UID, "generation": 1, "resourceVersion": "1",
                         "finalizers": [FINALIZER]},
            "spec": copy.deepcopy(spec or SPEC), "status": status or {}}
    return ObjectContext(runtime, "TrainingJob", "trainingjobs", body, logging.getLogger("test"))


def two_hosts() -> dict:
    return {**SPEC, "resourceConfig": {**SPEC["resourceConfig"], "instanceCount": 2}}


JOBS = "/apis/batch/v1/namespaces/team/jobs"
SERVICES = "/api/v1/namespaces/team/services"


def test_one_pass_records_the_names_then_creates_the_service_and_the_job(runtime):
    ctx = context(runtime, two_hosts())
    plan = asyncio.run(run_pass(TrainingJobController(None), ctx))
    server = runtime.kubernetes_request
    name = ctx.status["trainingJobName"]
    job_name = ctx.status["clusterJob"]
    assert [method for method, _ in server.requests if method != "GET"] == ["POST", "POST"]
    assert set(server.objects) == {f"{SERVICES}/{job_name}", f"{JOBS}/{job_name}"}
    # The marker was written before the first create.
    assert runtime.status_patches[0]["createPending"]["name"] == name
    assert runtime.status_patches[0]["clusterJob"] == job_name
    # Every object made carries the owner's uid, in the object's own namespace.
    assert all(o["metadata"]["labels"][OWNER_UID_LABEL] == UID and o["metadata"]["namespace"] == "team"
               for o in server.objects.values())
    assert plan.status["trainingJobStatus"] == "InProgress" and plan.status["secondaryStatus"] == "Starting"
    assert plan.status["createPending"] is None
    assert [event.reason for event in plan.events] == ["Created", "Created", "TrainingStarting"]
    assert plan.follow is None  # the SageMaker tracker never sees a job on the cluster


def test_a_repeated_create_of_our_own_job_is_fine_and_of_someone_elses_is_stalled(runtime):
    ctx = context(runtime)
    asyncio.run(run_pass(TrainingJobController(None), ctx))
    # A crash after the create, before status recorded it: the next pass creates again, gets 409, checks.
    again = context(runtime, status={"createPending": {"name": ctx.status["trainingJobName"], "startedAt": "t"}})
    plan = asyncio.run(run_pass(TrainingJobController(None), again))
    assert plan.status["trainingJobStatus"] == "InProgress"
    job = next(iter(runtime.kubernetes_request.objects.values()))
    job["metadata"]["labels"][OWNER_UID_LABEL] = "another-uid"
    with pytest.raises(Stall) as stall:
        asyncio.run(run_pass(TrainingJobController(None), context(runtime)))
    assert stall.value.reason == "NameInUse"


def test_refusals_of_the_api_server_are_stalls_with_its_message(runtime):
    runtime.kubernetes_request.refuse["POST"] = api_error(403, 'jobs.batch is forbidden: User "op" cannot create')
    with pytest.raises(Stall) as stall:
        asyncio.run(run_pass(TrainingJobController(None), context(runtime)))
    assert stall.value.reason == "KubernetesForbidden"
    assert "cannot create" in stall.value.message and "clusterPlacement.enabled" in stall.value.message
    # The marker of the create that did not happen is cleared.
    assert runtime.status_patches[-1] == {"createPending": None}


def test_disabled_cluster_placement_or_an_unknown_type_stalls_before_anything_is_made(runtime):
    runtime.config = OperatorConfig()
    with pytest.raises(Stall) as stall:
        asyncio.run(run_pass(TrainingJobController(None), context(runtime)))
    assert stall.value.reason == "ClusterPlacementDisabled"
    runtime.config = OperatorConfig.model_validate(ENABLED)
    unknown = {**SPEC, "resourceConfig": {**SPEC["resourceConfig"], "instanceType": "ml.c7i.large"}}
    with pytest.raises(Stall) as stall:
        asyncio.run(run_pass(TrainingJobController(None), context(runtime, unknown)))
    assert stall.value.reason == "UnknownInstanceType" and "ml.c7i.large" in stall.value.message
    assert runtime.kubernetes_request.requests == []


def finalize(runtime, ctx: ObjectContext) -> float | None:
    ctx.body["metadata"]["deletionTimestamp"] = "2026-11-01T12:04:00Z"
    reconciler = Reconciler(runtime)
    state = ObjectState(TrainingJobController(None), ctx.body, ctx.status)
    reconciler.objects[ctx.key] = state
    return asyncio.run(reconciler._finalize(ctx.key, state, ctx))


def test_delete_removes_the_job_with_its_pods_first_then_lets_the_object_go(runtime):
    ctx = context(runtime, two_hosts())
    asyncio.run(run_pass(TrainingJobController(None), ctx))
    server, status = runtime.kubernetes_request, dict(ctx.status)
    delay = finalize(runtime, context(runtime, two_hosts(), status))
    assert delay is not None  # waiting for the pods to go
    job_path = f"{JOBS}/{status['clusterJob']}"
    assert server.objects[job_path]["metadata"]["deletionTimestamp"]
    assert f"{SERVICES}/{status['clusterJob']}" not in server.objects
    assert ("Normal", "Stopping") in [(kind, reason) for kind, reason, _ in runtime.events]
    # Still deleting: no second delete, still waiting.
    deletes = [r for r in server.requests if r[0] == "DELETE"]
    assert finalize(runtime, context(runtime, two_hosts(), status)) is not None
    assert [r for r in server.requests if r[0] == "DELETE"] == deletes
    del server.objects[job_path]  # the garbage collector removed the pods, then the Job
    assert finalize(runtime, context(runtime, two_hosts(), status)) is None


def test_retain_leaves_the_job_running(runtime):
    ctx = context(runtime)
    asyncio.run(run_pass(TrainingJobController(None), ctx))
    retained = context(runtime, {**SPEC, "deletionPolicy": "Retain"}, dict(ctx.status))
    assert finalize(runtime, retained) is None
    assert not [r for r in runtime.kubernetes_request.requests if r[0] == "DELETE"]
    assert len(runtime.kubernetes_request.objects) == 1
