"""`kubemaker run`: the operator process."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import sys
from typing import Any

import kopf
import prometheus_client

from .config import OperatorConfig
from .handlers import build_controllers, register_kind
from .metrics import LEADER
from .runtime.context import WORKER_THREADS, Runtime
from .runtime.kubeclient import Connection, KubeClient, load_connection
from .runtime.leaderelection import LEASE_THREADS, LeaderElector, default_identity
from .runtime.reconciler import KindController, Reconciler

log = logging.getLogger(__name__)

# The API server stores JSON nested up to 10000 levels (Go's limit), and a pipelineDefinition object
# may be that deep. kopf, the Kubernetes client and the operator parse, copy and serialise it with
# Python's recursion, which stops at 1000 frames by default: one such object made the watch fail
# and the operator exit, again on every restart. Three frames per level (copy.deepcopy takes two);
# at this depth a thread's 8 MiB stack still holds the C JSON parser's recursion.
OPERATOR_RECURSION_LIMIT = 32_000
# A leader that lost its Lease exits with this, as controller-runtime's managers do, and restarts as a
# standby (the kubelet restarts the container).
LOST_LEADERSHIP_EXIT_CODE = 1


class NoDiffBase(kopf.DiffBaseStorage):
    """Keeps no last-handled copy of the spec: our handlers are level-based and never read diffs,
    and a copy in an annotation would fail on large specs (annotations are limited to 256 KiB in
    all, and kubectl's last-applied copy is there already). Nor does it build the essence kopf
    would diff against it: a deep copy of the whole object on every watch event, which profiling
    showed as a sixth of the operator's event handling at 1000 objects."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: Any) -> None:
        return None


def build_registry(runtime: Runtime, connection: Connection) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    reconciler = Reconciler(runtime)
    controllers = build_controllers(runtime)
    for controller in controllers:
        register_kind(registry, reconciler, controller)

    # kopf's watches use the operator's own credentials (a private registry has no login handler).
    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection.for_kopf()

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
        # kopf only watches: the finalizer is the reconciler's (kopf keeps its own name for one, and
        # adds it for no handler of ours), and kopf still builds a diff base on every event.
        settings.persistence.diffbase_storage = NoDiffBase()
        settings.posting.enabled = False  # the operator posts its own Events (events.py), not log lines
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        if runtime.config.namespaces and not any(set("*?[!") & set(name) for name in runtime.config.namespaces):
            # Named namespaces need no namespace listing (which the chart does not grant): without this
            # kopf retries the listing for about a minute before it starts watching.
            settings.scanning.disabled = True
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="io")
        )
        reconciler.settings = settings
        memo.reconciling = []
        memo.events = asyncio.create_task(runtime.events.run())
        memo.elector = build_elector(runtime, connection)
        if memo.elector is None:  # leads at once, with no election
            LEADER.set(1)
            memo.reconciling = start_reconciling(runtime, reconciler, controllers)
        else:
            memo.election = asyncio.create_task(lead_while_elected(memo, runtime, reconciler, controllers))

    @kopf.on.cleanup(registry=registry)
    async def stop(memo: Any, **_: Any) -> None:
        # Stop renewing and reconciling first, then hand the Lease over: the next leader must not start
        # while this one's workers run. A call already in a thread may still land; the create-once
        # protocol (status records a name before its create) keeps it from making a duplicate.
        election = getattr(memo, "election", None)
        if election is not None:
            election.cancel()
            await asyncio.gather(election, return_exceptions=True)
        await stop_tasks(getattr(memo, "reconciling", []))
        if getattr(memo, "elector", None) is not None:
            await memo.elector.release()
        await stop_tasks([getattr(memo, "events", None)])

    return registry


def build_elector(runtime: Runtime, connection: Connection) -> LeaderElector | None:
    election = runtime.config.leader_election
    if not election.enabled:
        return None
    # The pod's namespace in a cluster; outside one, the kubeconfig context's.
    namespace = election.lease_namespace or connection.namespace or "default"
    # A client of its own: its own connections, never waiting behind the workers' for one.
    return LeaderElector(KubeClient(connection, LEASE_THREADS), election, namespace, default_identity())


def start_reconciling(runtime: Runtime, reconciler: Reconciler,
                      controllers: list[KindController]) -> list[asyncio.Task]:
    """The workers and the trackers. Every object the watch has shown so far gets a pass: a
    standby's cache is warm, and the first passes also register running jobs with the trackers."""
    for key in list(reconciler.objects):
        runtime.work_queue.add(key)
    tasks = [asyncio.create_task(c.tracker.run()) for c in controllers if c.tracker is not None]
    return [*tasks, asyncio.create_task(reconciler.run())]


async def stop_tasks(tasks: list[asyncio.Task | None]) -> None:
    running = [task for task in tasks if task is not None]
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)


async def lead_while_elected(memo: Any, runtime: Runtime, reconciler: Reconciler,
                             controllers: list[KindController]) -> None:
    """A standby until the Lease is ours, then the leader until it is lost. A lost Lease ends the
    process: calls already in threads (a SageMaker create, a status write) cannot be cancelled, and
    only exiting stops them before another replica may start leading."""
    elector: LeaderElector = memo.elector
    await elector.acquire()
    memo.reconciling = start_reconciling(runtime, reconciler, controllers)
    await elector.hold()
    await stop_tasks(memo.reconciling)
    log.error("stopped reconciling; exiting with %d to restart as a standby", LOST_LEADERSHIP_EXIT_CODE)
    logging.shutdown()
    os._exit(LOST_LEADERSHIP_EXIT_CODE)


class ObserveHookNoise(logging.Filter):
    """kopf logs every run of the observe hook (one per watch event): noise at any scale."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.getMessage().startswith("Handler '") and "-observe' succeeded" in record.getMessage())


def run(config: OperatorConfig, verbose: bool = False) -> None:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), OPERATOR_RECURSION_LIMIT))
    kopf.configure(
        verbose=verbose,
        log_format=kopf.LogFormat.JSON if config.log_format == "json" else kopf.LogFormat.PLAIN,
    )
    logging.getLogger("kopf.objects").addFilter(ObserveHookNoise())
    connection = load_connection()
    runtime = Runtime.create(config, connection)
    if config.metrics_port:
        prometheus_client.start_http_server(config.metrics_port, addr=config.bind_address)
    liveness_host = f"[{config.bind_address}]" if ":" in config.bind_address else config.bind_address
    kopf.run(
        registry=build_registry(runtime, connection),
        memo=kopf.Memo(),
        clusterwide=not config.namespaces,
        namespaces=config.namespaces,
        standalone=True,  # no kopf peering: replicas elect a leader through a Lease (leaderelection.py)
        liveness_endpoint=f"http://{liveness_host}:{config.liveness_port}/healthz" if config.liveness_port else None,
    )
