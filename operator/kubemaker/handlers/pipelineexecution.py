"""PipelineExecution: the I/O around the pure planner in reconcile.pipelineexecution, and the
tracker that notices when executions change."""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
from dataclasses import dataclass, field

from ..api.pipeline_execution import build_start_pipeline_execution_request, build_update_pipeline_execution_request
from ..api.registry import parse_spec
from ..aws.clients import call
from ..aws.errors import error_message
from ..controller import ObjectContext, Stall
from ..reconcile import pipelineexecution as planner
from ..reconcile import tenancy
from ..reconcile.common import Event, Plan
from ..runtime import ObjectKey, Runtime
from ..tracker import PAGE_SIZE
from .common import PIPELINE, describe_or_none, require_referable, stall

log = logging.getLogger(__name__)
# Steps move on while the execution's own status stays Executing, and no listing shows that: a
# running execution also re-reads its steps every this many poll intervals.
STEP_REFRESH_POLLS = 6


@dataclass
class TrackedExecution:
    key: ObjectKey
    status: str
    created: datetime.datetime


@dataclass
class PipelineGroup:
    namespace: str  # any namespace of the group: they share region and role, so the client
    executions: dict[str, TrackedExecution] = field(default_factory=dict)


class ExecutionTracker:
    """Notices execution status changes with one ListPipelineExecutions call per pipeline per poll.

    SageMaker cannot list executions account-wide or by modification time, and its summaries carry
    no LastModifiedTime, so the batched Tracker does not fit. Executions are listed per pipeline
    (by ARN, with the region and role of the objects that run it), created since the oldest one
    tracked, oldest first, and an object is woken when its execution's status differs from the one
    it last reported. However many executions of a pipeline run, that is one call per poll (a page
    holds 100), instead of a describe per execution."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.groups: dict[tuple[str, str | None, str], PipelineGroup] = {}

    def _group_key(self, namespace: str, region: str, pipeline_arn: str) -> tuple[str, str | None, str]:
        return (region, self.runtime.aws.role_for(namespace), pipeline_arn)

    def track(self, namespace: str, region: str, pipeline_arn: str, execution_arn: str, key: ObjectKey,
              status: str, created: datetime.datetime) -> None:
        group = self.groups.setdefault(self._group_key(namespace, region, pipeline_arn), PipelineGroup(namespace))
        group.executions[execution_arn] = TrackedExecution(key, status, created)

    def untrack(self, namespace: str, region: str, pipeline_arn: str, execution_arn: str) -> None:
        key = self._group_key(namespace, region, pipeline_arn)
        group = self.groups.get(key)
        if group is not None:
            group.executions.pop(execution_arn, None)
            if not group.executions:
                del self.groups[key]

    async def run(self) -> None:
        while True:
            for (region, _, pipeline_arn), group in list(self.groups.items()):
                try:
                    await self.poll(region, pipeline_arn, group)
                except Exception as error:  # one failing pipeline must not stop the others
                    log.warning("execution tracker: listing %s failed: %s", pipeline_arn, error_message(error))
            await asyncio.sleep(self.runtime.config.poll_interval_seconds)

    async def poll(self, region: str, pipeline_arn: str, group: PipelineGroup) -> None:
        if not group.executions:
            return
        client = self.runtime.aws.client("sagemaker", group.namespace, region)
        oldest = min(tracked.created for tracked in group.executions.values())
        params = dict(
            PipelineName=pipeline_arn, CreatedAfter=oldest - datetime.timedelta(seconds=1),
            SortBy="CreationTime", SortOrder="Ascending", MaxResults=PAGE_SIZE,
        )
        while True:
            page = await call(client, "list_pipeline_executions", **params)
            for summary in page.get("PipelineExecutionSummaries", []):
                tracked = group.executions.get(summary.get("PipelineExecutionArn"))
                if tracked is not None and summary.get("PipelineExecutionStatus") != tracked.status:
                    self.runtime.work_queue.add(tracked.key)
            if not page.get("NextToken"):
                return
            params["NextToken"] = page["NextToken"]


class PipelineExecutionController:
    kind = "PipelineExecution"
    plural = "pipelineexecutions"

    def __init__(self, tracker: ExecutionTracker):
        self.tracker = tracker

    async def reconcile(self, ctx: ObjectContext) -> Plan:
        spec_model = parse_spec(self.kind, ctx.spec)
        client = ctx.client()
        arn = ctx.status.get("pipelineExecutionArn")
        if not arn:
            pipeline = None
            if ctx.spec.get("pipelineRef"):
                pipeline = await ctx.runtime.get_object("pipelines", ctx.namespace, ctx.spec["pipelineRef"]["name"])
            pipeline_name, waiting = planner.resolve_pipeline(ctx.spec, pipeline)
            if waiting is not None:
                return Plan(health=waiting, requeue_after=ctx.runtime.config.poll_interval_seconds)
            arn = await self.start(ctx, client, spec_model, pipeline_name)
        pipeline_name = ctx.status["pipelineName"]

        description = await describe_or_none(client, "describe_pipeline_execution", PipelineExecutionArn=arn)
        if description is None:
            raise Stall("NotFound", f"SageMaker no longer knows pipeline execution {arn}")
        steps = await self.list_steps(client, arn)
        plan = planner.plan_observed(
            ctx.status, description, steps, build_update_pipeline_execution_request(spec_model, arn),
            pipeline_name, ctx.region,
        )
        if plan.action == "update":
            await call(client, "update_pipeline_execution", **plan.request)
        self.follow(ctx, description, plan)
        if description.get("PipelineExecutionStatus") != ctx.status.get("pipelineExecutionStatus"):
            self.wake_pipeline(ctx)
        return plan

    async def start(self, ctx: ObjectContext, client, spec_model, pipeline_name: str) -> str:
        # The object's uid is the idempotency token: a start repeated after a crash, before the ARN
        # reached status, returns the execution the first call started.
        request = build_start_pipeline_execution_request(spec_model, pipeline_name, ctx.uid)
        if ctx.spec.get("pipelineName"):
            pipeline = await require_referable(ctx, client, PIPELINE, pipeline_name, "spec.pipelineName")
        else:
            pipeline = await describe_or_none(client, "describe_pipeline", PipelineName=pipeline_name)
        self.require_allowed_parameter_roles(ctx, pipeline, request.get("PipelineParameters"))
        await ctx.write_status({"pipelineName": pipeline_name})
        arn = (await call(client, "start_pipeline_execution", **request))["PipelineExecutionArn"]
        await ctx.write_status({"pipelineExecutionArn": arn})
        ctx.event(Event("Normal", "Started", f"started an execution of SageMaker pipeline {pipeline_name}: {arn}"))
        return arn

    def require_allowed_parameter_roles(self, ctx: ObjectContext, pipeline: dict | None, parameters) -> None:
        """Parameters the pipeline's steps use as roles pass a role: the policy decides, as for any other."""
        if pipeline is None or not parameters:
            return  # a pipeline that does not exist runs nothing: SageMaker's refusal says so
        try:
            document = json.loads(pipeline.get("PipelineDefinition") or "{}")
        except (ValueError, RecursionError):
            document = None
        if not isinstance(document, dict):
            return  # SageMaker holds no definition the operator can read: it passes no role we could name
        refusal = tenancy.execution_role_refusal(
            ctx.namespace, ctx.runtime.config.policy_for(ctx.namespace), document, parameters
        )
        if refusal is not None:
            raise stall(refusal)

    async def list_steps(self, client, arn: str) -> list[dict]:
        steps: list[dict] = []
        params = {"PipelineExecutionArn": arn, "MaxResults": PAGE_SIZE}
        while True:
            page = await call(client, "list_pipeline_execution_steps", **params)
            steps += page.get("PipelineExecutionSteps", [])
            if not page.get("NextToken"):
                return steps
            params["NextToken"] = page["NextToken"]

    def follow(self, ctx: ObjectContext, description: dict, plan: Plan) -> None:
        pipeline_arn, arn = description["PipelineArn"], description["PipelineExecutionArn"]
        if plan.track:
            self.tracker.track(
                ctx.namespace, ctx.region, pipeline_arn, arn, ctx.key,
                description["PipelineExecutionStatus"], description["CreationTime"],
            )
            if plan.requeue_after is None:
                plan.requeue_after = ctx.runtime.config.poll_interval_seconds * STEP_REFRESH_POLLS
        else:
            self.tracker.untrack(ctx.namespace, ctx.region, pipeline_arn, arn)

    def wake_pipeline(self, ctx: ObjectContext) -> None:
        """The Pipeline object reports its latest execution: tell it this one changed."""
        if ctx.spec.get("pipelineRef"):
            ctx.runtime.work_queue.add(("Pipeline", ctx.namespace, ctx.spec["pipelineRef"]["name"]))

    async def finalize(self, ctx: ObjectContext) -> str | None:
        arn = ctx.status.get("pipelineExecutionArn")
        if ctx.spec.get("deletionPolicy") == "Retain" or not arn:
            return None
        client = ctx.client()
        description = await describe_or_none(client, "describe_pipeline_execution", PipelineExecutionArn=arn)
        if description is None:
            return None
        state = description["PipelineExecutionStatus"]
        if state == "Executing":
            await call(client, "stop_pipeline_execution", PipelineExecutionArn=arn,
                       ClientRequestToken=f"stop-{ctx.uid}")
            ctx.event(Event("Normal", "Stopping", f"stopping pipeline execution {arn} before deletion"))
            return f"waiting for pipeline execution {arn} to stop"
        if state == "Stopping":
            return f"waiting for pipeline execution {arn} to stop"
        self.tracker.untrack(ctx.namespace, ctx.region, description["PipelineArn"], arn)
        self.wake_pipeline(ctx)
        return None
