"""The reconcile core without a cluster: the work queue's guarantees, and the reconciler's choice
of what to queue from watch events and when to look again."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from kubemaker import FINALIZER
from kubemaker.conditions import Health
from kubemaker.config import OperatorConfig
from kubemaker.runtime.context import BURST_PASSES, Runtime
from kubemaker.runtime.outcomes import Stall
from kubemaker.runtime.reconciler import Reconciler
from kubemaker.runtime.outcomes import Cleanup, Plan
from kubemaker.runtime.workqueue import WorkQueue


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, timeout=10))


async def drain(queue: WorkQueue) -> list:
    keys = []
    while len(queue):
        key = await queue.get()
        keys.append(key)
        queue.done(key)
    return keys


def test_a_key_added_twice_waits_once():
    async def scenario():
        queue = WorkQueue()
        queue.add("a")
        queue.add("b")
        queue.add("a")
        return await drain(queue)

    assert run(scenario()) == ["a", "b"]


def test_a_key_added_while_processing_is_handed_out_again_after_done_and_not_before():
    async def scenario():
        queue = WorkQueue()
        queue.add("a")
        key = await queue.get()
        queue.add("a")
        queue.add("a")
        waiting_while_processing = len(queue)
        queue.done(key)
        return waiting_while_processing, await drain(queue)

    assert run(scenario()) == (0, ["a"])


def test_the_earliest_delayed_add_wins_and_an_immediate_add_cancels_it():
    async def scenario():
        queue = WorkQueue()
        queue.add_after("a", 30)
        queue.add_after("a", 0.05)
        queue.add_after("a", 60)
        first = await queue.get()
        queue.done(first)
        queue.add_after("b", 0.05)
        queue.add("b")
        second = await queue.get()
        queue.done(second)
        await asyncio.sleep(0.1)
        return first, second, len(queue)

    assert run(scenario()) == ("a", "b", 0)


def test_a_burst_is_passes_waiting_for_a_worker_or_many_running_at_once():
    async def scenario():
        runtime = Runtime(OperatorConfig(), aws=None, kube=None)  # type: ignore[arg-type]
        queue = runtime.work_queue
        seen = [runtime.in_burst()]
        for key in range(BURST_PASSES):
            queue.add(key)
        seen.append(runtime.in_burst())  # waiting
        taken = [await queue.get() for _ in range(BURST_PASSES)]
        seen.append(runtime.in_burst())  # running, as many as make a burst
        queue.done(taken.pop())
        seen.append(runtime.in_burst())  # a few running: Events go out at once
        return seen

    assert run(scenario()) == [False, True, True, False]


def test_a_forgotten_key_loses_its_timer_and_its_pending_re_add():
    async def scenario():
        queue = WorkQueue()
        queue.add_after("a", 0.05)
        queue.forget("a")
        queue.add("b")
        key = await queue.get()
        queue.add("b")
        queue.forget("b")
        queue.done(key)
        await asyncio.sleep(0.1)
        return len(queue)

    assert run(scenario()) == 0


@dataclass
class RecordingController:
    kind: str = "TrainingJob"
    plural: str = "trainingjobs"
    plans: list = field(default_factory=list)
    passes: list = field(default_factory=list)
    running: int = 0
    most_at_once: int = 0
    cleanups: list = field(default_factory=list)  # what cleanup waits for in turn; then done (None)
    tracker: object = None

    async def reconcile(self, ctx):
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        self.passes.append((ctx.name, ctx.generation, dict(ctx.status)))
        await asyncio.sleep(0.01)
        self.running -= 1
        outcome = self.plans.pop(0) if self.plans else Plan(health=Health.ready("Done", "done"))
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def cleanup(self, ctx):
        self.passes.append((ctx.name, "finalize", None))
        return Cleanup(waiting=self.cleanups.pop(0) if self.cleanups else None)


@dataclass
class FakeEvents:
    posted: list = field(default_factory=list)

    def post(self, body, type, reason, message):
        self.posted.append((body["metadata"]["name"], reason))


@dataclass
class FakeRuntime:
    config: OperatorConfig = field(default_factory=lambda: OperatorConfig(pollIntervalSeconds=1))
    work_queue: WorkQueue = field(default_factory=WorkQueue)
    events: FakeEvents = field(default_factory=FakeEvents)
    writes: list = field(default_factory=list)
    patches: list = field(default_factory=list)

    async def patch_status(self, plural, namespace, name, status):
        self.writes.append((name, status))

    async def patch_object(self, plural, namespace, name, json_patch):
        self.patches.append((name, json_patch))


def body(name: str, generation: int = 1, status: dict | None = None, finalizer: bool = True, **metadata) -> dict:
    return {
        "apiVersion": "sagemaker.kubemaker.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {
            "namespace": "ns", "name": name, "uid": f"uid-{name}", "generation": generation, "resourceVersion": "7",
            "finalizers": [FINALIZER] if finalizer else [],
            "managedFields": [{"manager": "kubectl"}], **metadata,
        },
        "spec": {"region": "us-east-1"},
        **({"status": status} if status else {}),
    }


async def settle(reconciler: Reconciler, seconds: float = 0.2) -> None:
    workers = asyncio.create_task(reconciler.run())
    await asyncio.sleep(seconds)
    workers.cancel()


def test_the_finalizer_is_added_before_the_first_reconcile_and_only_once():
    async def scenario():
        controller, runtime = RecordingController(), FakeRuntime()
        reconciler = Reconciler(runtime)
        reconciler.observe(controller, body("a", finalizer=False), None)
        await settle(reconciler)
        reconciler.observe(controller, body("a", generation=2), "MODIFIED")
        await settle(reconciler)
        return controller.passes, runtime.patches

    passes, patches = run(scenario())
    assert [generation for _, generation, _ in passes] == [1, 2]
    assert patches == [("a", [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
        {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]},
    ])]


def test_deletion_waits_for_cleanup_then_removes_exactly_our_finalizer():
    async def scenario():
        controller = RecordingController(cleanups=["waiting for the job to stop"])
        runtime = FakeRuntime(config=OperatorConfig(pollIntervalSeconds=0.05))
        reconciler = Reconciler(runtime)
        deleting = body("a", deletionTimestamp="2026-01-01T00:00:00Z")
        deleting["metadata"]["finalizers"] = ["other.example.com/keep", FINALIZER]
        reconciler.observe(controller, deleting, "MODIFIED")
        await settle(reconciler, 0.3)
        return controller.passes, runtime.patches, reconciler.objects

    passes, patches, objects = run(scenario())
    assert [step for _, step, _ in passes] == ["finalize", "finalize"]
    assert patches == [("a", [
        {"op": "test", "path": "/metadata/finalizers/1", "value": FINALIZER},
        {"op": "remove", "path": "/metadata/finalizers/1"},
    ])]
    assert objects == {}


def test_our_own_status_writes_coming_back_queue_nothing_but_a_spec_change_does():
    async def scenario():
        controller, runtime = RecordingController(), FakeRuntime()
        reconciler = Reconciler(runtime)
        reconciler.observe(controller, body("a"), None)
        await settle(reconciler)
        written = runtime.writes[-1][1]
        reconciler.observe(controller, body("a", status=written), "MODIFIED")
        await settle(reconciler)
        quiet = len(controller.passes)
        reconciler.observe(controller, body("a", generation=2, status=written), "MODIFIED")
        await settle(reconciler)
        return quiet, controller.passes

    quiet, passes = run(scenario())
    assert quiet == 1
    assert [generation for _, generation, _ in passes] == [1, 2]
    assert passes[1][2]["observedGeneration"] == 1, "a pass sees the status written, not the watch's"


def test_passes_of_many_objects_are_bounded_and_one_object_never_runs_twice_at_once():
    async def scenario():
        controller = RecordingController()
        runtime = FakeRuntime(config=OperatorConfig(maxConcurrentReconciles=3))
        reconciler = Reconciler(runtime)
        for index in range(20):
            reconciler.observe(controller, body(f"job-{index}"), None)
        for _ in range(5):
            runtime.work_queue.add(("TrainingJob", "ns", "job-0"))
            await asyncio.sleep(0)
        await settle(reconciler, 0.5)
        return controller

    controller = run(scenario())
    assert controller.most_at_once == 3
    names = [name for name, _, _ in controller.passes]
    assert set(names) == {f"job-{index}" for index in range(20)}
    assert names.count("job-0") <= 2


def test_a_stalled_object_waits_for_a_spec_change_and_a_deleted_one_is_forgotten():
    async def scenario():
        controller = RecordingController(plans=[Stall("Refused", "bad spec")])
        runtime = FakeRuntime()
        reconciler = Reconciler(runtime)
        reconciler.observe(controller, body("a"), None)
        await settle(reconciler)
        runtime.work_queue.add(("TrainingJob", "ns", "a"))  # a tracker wakes it: still stalled
        await settle(reconciler)
        stalled_passes = len(controller.passes)
        reconciler.observe(controller, body("a"), "DELETED")
        runtime.work_queue.add(("TrainingJob", "ns", "a"))
        await settle(reconciler)
        return stalled_passes, len(controller.passes), reconciler.objects, runtime.events.posted

    stalled_passes, passes, objects, posted = run(scenario())
    assert stalled_passes == passes == 1
    assert objects == {}
    assert posted == [("a", "Refused")]


def test_a_transient_failure_is_retried_after_a_backoff():
    async def scenario():
        controller = RecordingController(plans=[ConnectionError("reset")])
        runtime = FakeRuntime(config=OperatorConfig(pollIntervalSeconds=0.1))
        reconciler = Reconciler(runtime)
        reconciler.observe(controller, body("a"), None)
        await settle(reconciler, 0.05)
        first = [status.get("conditions") for _, _, status in controller.passes]
        await settle(reconciler, 0.3)
        return first, controller.passes, runtime.writes

    first, passes, writes = run(scenario())
    assert len(first) == 1 and len(passes) == 2
    reasons = [condition["reason"] for _, status in writes for condition in status.get("conditions", [])]
    assert "Retrying" in reasons
