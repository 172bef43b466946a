"""PipelineExecution: what the pure planner in reconcile.pipelineexecution needs, and its start and
cleanup plans. The execution tracker (runtime.tracker) notices when executions change."""

from __future__ import annotations

import json

from ..api.pipeline_execution import (
    PipelineExecutionSpec,
    build_start_pipeline_execution_request,
    build_update_pipeline_execution_request,
)
from ..api.registry import parse_spec_as
from ..aws.clients import call
from ..conditions import Health
from ..reconcile import pipelineexecution as planner
from ..reconcile import tenancy
from ..runtime.context import ObjectContext
from ..runtime.outcomes import Call, Cleanup, Event, Plan, Stall
from ..runtime.protocols import PIPELINE, describe_or_none, require_referable, stall
from ..runtime.tracker import PAGE_SIZE, STEP_REFRESH_POLLS, ExecutionTracker


class PipelineExecutionController:
    kind = "PipelineExecution"
    plural = "pipelineexecutions"

    def __init__(self, tracker: ExecutionTracker):
        self.tracker = tracker

    async def reconcile(self, ctx: ObjectContext) -> Plan:
        spec = parse_spec_as(PipelineExecutionSpec, ctx.spec)
        client = ctx.client()
        arn = ctx.status.get("pipelineExecutionArn")
        if not arn:
            ref = ctx.spec.get("pipelineRef")
            pipeline = ctx.referenced("Pipeline", ref["name"]) if ref else None
            pipeline_name = planner.resolve_pipeline(ctx.spec, pipeline)
            if isinstance(pipeline_name, Plan):
                return pipeline_name
            return await self.start(ctx, client, spec, pipeline_name)
        description = await describe_or_none(client, "describe_pipeline_execution", PipelineExecutionArn=arn)
        if description is None:
            raise Stall("NotFound", f"SageMaker no longer knows pipeline execution {arn}")
        plan = planner.plan_observed(
            ctx.status, description, await self.list_steps(client, arn),
            build_update_pipeline_execution_request(spec, arn), ctx.status["pipelineName"], ctx.region,
        )
        plan.follow = description
        if plan.track and plan.requeue_after is None:
            plan.requeue_after = ctx.runtime.config.poll_interval_seconds * STEP_REFRESH_POLLS
        if description.get("PipelineExecutionStatus") != ctx.status.get("pipelineExecutionStatus"):
            plan.wake = self.pipeline(ctx)  # the Pipeline object reports its latest execution
        return plan

    async def start(self, ctx: ObjectContext, client, spec, pipeline_name: str) -> Plan:
        # The object's uid is the idempotency token: a start repeated after a crash, before the ARN
        # reached status, returns the execution the first call started.
        request = build_start_pipeline_execution_request(spec, pipeline_name, ctx.uid)
        if ctx.spec.get("pipelineName"):
            pipeline = await require_referable(ctx, client, PIPELINE, pipeline_name, "spec.pipelineName")
        else:
            pipeline = await describe_or_none(client, "describe_pipeline", PipelineName=pipeline_name)
        self.require_allowed_parameter_roles(ctx, pipeline, request.get("PipelineParameters"))
        return Plan(
            health=Health.reconciling("Starting", f"starting an execution of SageMaker pipeline {pipeline_name}"),
            action="start_pipeline_execution", request=request, again=True,
            before={"pipelineName": pipeline_name}, record={"pipelineExecutionArn": "PipelineExecutionArn"},
            events=[Event("Normal", "Started", f"started an execution of SageMaker pipeline {pipeline_name}")],
        )

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

    def pipeline(self, ctx: ObjectContext) -> list[tuple[str, str]]:
        return [("Pipeline", ctx.spec["pipelineRef"]["name"])] if ctx.spec.get("pipelineRef") else []

    async def cleanup(self, ctx: ObjectContext) -> Cleanup:
        arn = ctx.status.get("pipelineExecutionArn")
        if not arn:
            return Cleanup()
        description = await describe_or_none(ctx.client(), "describe_pipeline_execution", PipelineExecutionArn=arn)
        if description is None:
            return Cleanup()
        state = description["PipelineExecutionStatus"]
        waiting = f"waiting for pipeline execution {arn} to stop"
        if state == "Executing":
            return Cleanup([Call("stop_pipeline_execution", {"PipelineExecutionArn": arn,
                                                             "ClientRequestToken": f"stop-{ctx.uid}"})], waiting,
                           [Event("Normal", "Stopping", f"stopping pipeline execution {arn} before deletion")])
        if state == "Stopping":
            return Cleanup(waiting=waiting)
        return Cleanup(wake=self.pipeline(ctx))
