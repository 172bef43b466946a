"""MonitoringSchedule: what the pure planner in reconcile.monitoringschedule needs (the schedule,
the endpoint it monitors, the desired job definition), and cleanup: the schedule, then its
definitions."""

from __future__ import annotations

from ..api.monitoring_schedule import MONITORING_TYPES, MonitoringScheduleSpec
from ..api.registry import parse_spec_as
from ..aws.clients import call
from ..aws.ownership import owned_by
from ..conditions import READY, condition
from ..reconcile import monitoringschedule as planner
from ..reconcile import tenancy
from ..runtime.context import ObjectContext
from ..runtime.outcomes import Call, Cleanup, Event, Plan, SageMakerObject
from ..runtime.protocols import (
    adopt_or_refuse,
    describe_or_none,
    require_allowed_roles,
    require_owned,
    require_referable,
    stall,
    tags_of,
)
from ..runtime.tracker import MonitoringTracker

ENDPOINT = SageMakerObject("endpoint", "describe_endpoint", "EndpointName", "EndpointArn")


class MonitoringScheduleController:
    kind = "MonitoringSchedule"
    plural = "monitoringschedules"

    def __init__(self, tracker: MonitoringTracker):
        self.tracker = tracker

    async def reconcile(self, ctx: ObjectContext) -> Plan:
        spec = parse_spec_as(MonitoringScheduleSpec, ctx.spec)
        field = spec.monitoring_type.field
        require_allowed_roles(ctx, spec.definition.roleArn, where=f"spec.{field}.roleArn")  # type: ignore[attr-defined]
        client = ctx.client()
        name = ctx.sagemaker_name
        schedule = await self.observe_schedule(ctx, client, spec, name)
        endpoint = await self.endpoint(ctx, client, spec, schedule is not None)
        if isinstance(endpoint, Plan):
            return endpoint
        desired = planner.Desired(spec, name, endpoint,
                                  planner.desired_definition(spec, name, endpoint, ctx.owner.tag_map()),
                                  ctx.owner.tag_map())
        observed = planner.Observed(schedule=schedule)
        wanted = desired.definition["JobDefinitionName"]
        if schedule is None or planner.in_use(schedule)["name"] != wanted:
            observed.definition = await self.observe_definition(ctx, client, spec, wanted)
        return planner.plan_schedule(desired, observed, ctx.status, ctx.generation, ctx.region)

    async def observe_schedule(self, ctx: ObjectContext, client, spec: MonitoringScheduleSpec,
                               name: str) -> dict | None:
        if not ctx.spec.get("monitoringScheduleName") and not ctx.status.get("monitoringScheduleName"):
            # A derived name never recorded: status records it before the create, so nobody made it.
            return None
        schedule = await describe_or_none(client, "describe_monitoring_schedule", MonitoringScheduleName=name)
        if schedule is not None and not ctx.status.get("monitoringScheduleArn") and name not in ctx.made:
            await self.claim(ctx, client, spec, schedule)
        return schedule

    async def claim(self, ctx: ObjectContext, client, spec: MonitoringScheduleSpec, schedule: dict) -> None:
        """A schedule by our name that status does not record: ours after a crash mid-create, one to
        adopt with the definition it runs (which the operator then replaces, and deletes, as its
        own), or someone else's."""
        name, arn = schedule["MonitoringScheduleName"], schedule["MonitoringScheduleArn"]
        running = planner.in_use(schedule)
        definition = None
        if spec.adoptExisting and running["name"] and not owned_by(await tags_of(client, arn), ctx.owner):
            definition = await describe_or_none(client, planner.definition_operation(running["monitoringType"],
                                                                                      "describe"),
                                                JobDefinitionName=running["name"])
            if definition is not None:
                refusal = tenancy.adoption_refusal(ctx.owner, "job definition", running["name"],
                                                   await tags_of(client, definition["JobDefinitionArn"]))
                if refusal is not None:
                    raise stall(refusal)
        adopted = await adopt_or_refuse(ctx, client, arn, "monitoring schedule", name, bool(spec.adoptExisting))
        if adopted and definition is not None:
            await call(client, "add_tags", ResourceArn=definition["JobDefinitionArn"],
                       Tags=[{"Key": k, "Value": v} for k, v in ctx.owner.tag_map().items()])
        await ctx.write_status({"monitoringScheduleName": name, "monitoringScheduleArn": arn,
                                "jobDefinition": ctx.status.get("jobDefinition") or (running if definition else None)})

    async def observe_definition(self, ctx: ObjectContext, client, spec: MonitoringScheduleSpec,
                                 name: str) -> dict | None:
        """The desired definition, if it exists; one this object did not make must carry its tags."""
        if name in ctx.made:
            return {"JobDefinitionName": name}  # made in this pass: no need to look
        describe = planner.definition_operation(spec.monitoring_type, "describe")
        definition = await describe_or_none(client, describe, JobDefinitionName=name)
        if definition is not None and (ctx.status.get("pendingJobDefinition") or {}).get("name") != name:
            await require_owned(ctx, client, definition["JobDefinitionArn"], f"a job definition named {name}",
                                "monitoringScheduleName")
        return definition

    async def endpoint(self, ctx: ObjectContext, client, spec: MonitoringScheduleSpec,
                       schedule_exists: bool) -> str | Plan:
        """The SageMaker endpoint monitored, or a plan to wait for it to exist and capture data."""
        previous = (condition(ctx.status.get("conditions"), READY) or {}).get("reason")
        if spec.endpointRef is not None:
            ref = spec.endpointRef.name
            return planner.referenced_endpoint(ref, ctx.referenced("Endpoint", ref), schedule_exists, previous,
                                               ctx.region, ctx.runtime.config.region)
        name = spec.endpoint_input().endpointName
        assert name is not None  # the spec model requires endpointRef or this
        monitoring_type = spec.monitoring_type
        description = await require_referable(
            ctx, client, ENDPOINT, name,
            f"spec.{monitoring_type.field}.{monitoring_type.input_field}.endpointInput.endpointName")
        return planner.named_endpoint(name, description, previous)

    async def cleanup(self, ctx: ObjectContext) -> Cleanup:
        """The schedule if it is ours (SageMaker refuses to delete a definition a schedule runs),
        then every definition status records or that carries our tags under the schedule's name."""
        status = ctx.status
        recorded = [ref for ref in (status.get("jobDefinition"), status.get("pendingJobDefinition")) if ref]
        if not recorded and not status.get("createPending") and not status.get("monitoringScheduleArn"):
            return Cleanup()  # never created anything
        name = ctx.sagemaker_name
        client = ctx.client()
        schedule = await describe_or_none(client, "describe_monitoring_schedule", MonitoringScheduleName=name)
        if schedule is not None and (schedule["MonitoringScheduleArn"] == status.get("monitoringScheduleArn")
                                     or owned_by(await tags_of(client, schedule["MonitoringScheduleArn"]), ctx.owner)):
            return Cleanup([Call("delete_monitoring_schedule", {"MonitoringScheduleName": name})],
                           f"waiting for monitoring schedule {name} to be deleted",
                           [Event("Normal", "Deleting", f"deleting SageMaker monitoring schedule {name}")])
        definitions = {ref["name"]: ref["monitoringType"] for ref in recorded}
        definitions.update(await self.our_definitions(ctx, client, name, set(definitions)))
        return Cleanup([Call(planner.definition_operation(kind, "delete"), {"JobDefinitionName": definition})
                        for definition, kind in sorted(definitions.items())])

    async def our_definitions(self, ctx: ObjectContext, client, name: str, known: set[str]) -> dict[str, str]:
        """Definitions named after the schedule that carry our tags and status does not record (made
        by a pass whose status write never happened), of every monitoring type."""
        stem = planner.definition_name(name, {})[: -planner.DEFINITION_HASH_LENGTH]
        found = {}
        for monitoring_type in MONITORING_TYPES:
            listing = {"NameContains": stem}
            while True:
                page = await call(client, planner.definition_operation(monitoring_type, "list"), **listing)
                for summary in page.get("JobDefinitionSummaries", []):
                    definition = summary["MonitoringJobDefinitionName"]
                    if definition not in known and definition.startswith(stem) and owned_by(
                        await tags_of(client, summary["MonitoringJobDefinitionArn"]), ctx.owner
                    ):
                        found[definition] = monitoring_type.name
                if not page.get("NextToken"):
                    break
                listing["NextToken"] = page["NextToken"]
        return found
