"""The reconciler's first pass of a new object: the watch echoes that pass's own writes (finalizer,
create-pending marker) before the pass has recorded its status. Those echoes must not queue a second
pass (each would describe the SageMaker object once more); a spec change or a deletion during the
pass still must."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from kubemaker.conditions import Health
from kubemaker.runtime.outcomes import Cleanup, Plan
from kubemaker.runtime.reconciler import Reconciler
from tests.unit.test_workqueue import FakeRuntime, body, run, settle


@dataclass
class EchoingController:
    """While its first pass runs, the watch shows the object again: `echo(reconciler)` plays that."""

    echo: object
    kind: str = "TrainingJob"
    plural: str = "trainingjobs"
    tracker: object = None
    reconciler: Reconciler | None = None
    passes: list = field(default_factory=list)

    async def reconcile(self, ctx):
        self.passes.append(ctx.generation)
        if len(self.passes) == 1:
            self.echo(self)
        await asyncio.sleep(0.01)
        return Plan(health=Health.ready("Done", "done"))

    async def cleanup(self, ctx):
        self.passes.append("finalize")
        return Cleanup()


def passes_with(echo) -> list:
    async def scenario():
        controller = EchoingController(echo)
        reconciler = Reconciler(FakeRuntime())
        controller.reconciler = reconciler
        reconciler.observe(controller, body("a"), None)
        await settle(reconciler, 0.3)
        return controller.passes

    return run(scenario())


def test_the_first_passs_own_writes_echoed_by_the_watch_queue_no_second_pass():
    marker = {"createPending": {"name": "a-123", "startedAt": "2026-11-01T00:00:00Z"}}
    assert passes_with(lambda c: c.reconciler.observe(c, body("a", status=marker), "MODIFIED")) == [1]


def test_a_spec_change_during_the_first_pass_is_reconciled_after_it():
    assert passes_with(lambda c: c.reconciler.observe(c, body("a", generation=2), "MODIFIED")) == [1, 2]


def test_a_deletion_during_the_first_pass_is_finalized_after_it():
    deleting = body("a", deletionTimestamp="2026-01-01T00:00:00Z")
    assert passes_with(lambda c: c.reconciler.observe(c, deleting, "MODIFIED")) == [1, "finalize"]
