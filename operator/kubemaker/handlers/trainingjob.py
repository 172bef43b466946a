"""TrainingJob: its create request and log streams around the pure planner in reconcile.trainingjob;
with `placement: Cluster`, the Job, Service and pods it observes for reconcile.cluster_training."""

from __future__ import annotations

from ..api.registry import parse_spec_as
from ..api.training_job import (
    TrainingJobSpec,
    build_create_training_job_request,
    build_update_training_job_request,
    placed_on_cluster,
)
from ..aws.clients import call
from ..aws.errors import is_not_found
from ..cluster import builders, contract
from ..reconcile import cluster_training
from ..reconcile import trainingjob as planner
from ..runtime import kubeapi
from ..runtime.context import ObjectContext
from ..runtime.outcomes import Cleanup, Event, Plan, Stall
from ..runtime.protocols import MODEL_PACKAGE, MODEL_PACKAGE_GROUP, require_allowed_roles, require_referable
from .common import JobApi, JobController

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
API = JobApi(
    "training job", "describe_training_job", "TrainingJobName", "TrainingJobArn", "TrainingJobStatus",
    "create_training_job", "stop_training_job", "list_training_jobs", "TrainingJobSummaries",
)
# Log streams appear once instances are up; before that there is nothing to look for.
STATES_WITH_LOGS = ("Training", "Uploading", "Completed", "Failed", "Stopped", "MaxRuntimeExceeded", "Interrupted")


class TrainingJobController(JobController):
    kind = "TrainingJob"
    plural = "trainingjobs"
    api = API

    async def reconcile(self, ctx: ObjectContext) -> Plan:
        if placed_on_cluster(ctx.spec):
            return await self.reconcile_on_cluster(ctx)
        return await super().reconcile(ctx)

    async def cleanup(self, ctx: ObjectContext) -> Cleanup:
        if placed_on_cluster(ctx.spec):
            return await self.cleanup_on_cluster(ctx)
        return await super().cleanup(ctx)

    def training_on_cluster(self, ctx: ObjectContext) -> cluster_training.ClusterTraining:
        """The names and manifests of the job on the cluster; Stalls when this operator cannot place it."""
        settings = ctx.runtime.config.cluster_placement
        if not settings.enabled or not settings.image:
            raise Stall("ClusterPlacementDisabled", "this operator does not place training jobs on the cluster: "
                        "its configuration needs clusterPlacement.enabled and clusterPlacement.image (the chart's "
                        "clusterPlacement.enabled sets both); or use placement: SageMaker")
        spec = parse_spec_as(TrainingJobSpec, ctx.spec)
        assert spec.resourceConfig is not None and spec.resourceConfig.instanceType  # the CRD requires both
        instance_type = spec.resourceConfig.instanceType
        resources = settings.resources_for(instance_type)
        if resources is None:
            raise Stall("UnknownInstanceType", f"the operator's clusterPlacement.instanceTypes has no entry for "
                        f"{instance_type}: add its cpu, memory and gpu there, or choose a listed type")
        name = ctx.sagemaker_name
        job_name = ctx.status.get("clusterJob") or builders.cluster_job_name(name)
        document = builders.training_document(spec, name, job_name, ctx.namespace, ctx.region, settings)
        labels, annotations = kubeapi.owner_metadata(ctx)
        output = spec.outputDataConfig
        return cluster_training.ClusterTraining(
            name=name, job_name=job_name, uid=ctx.uid, instance_count=document["instanceCount"],
            job=builders.build_job(spec, document, job_name, labels, annotations, settings, resources),
            service=builders.build_service(job_name, labels, annotations) if builders.needs_service(spec) else None,
            model_artifacts=contract.model_artifacts(output.s3OutputPath, name, output.compressionType),
            max_runtime_seconds=builders.max_runtime_seconds(spec),
        )

    async def reconcile_on_cluster(self, ctx: ObjectContext) -> Plan:
        training = self.training_on_cluster(ctx)
        observed = cluster_training.ClusterObservation()
        # Status records the Job's name before anything is created: with none recorded there is nothing to read.
        if ctx.status.get("clusterJob"):
            job = await kubeapi.get(ctx, builders.JOB, training.job_name)
            selector = f"{builders.CLUSTER_JOB_LABEL}={training.job_name}"
            observed = cluster_training.ClusterObservation(
                job=job,
                service=await kubeapi.get(ctx, builders.SERVICE, training.job_name) if training.service else None,
                pods=await kubeapi.list_labelled(ctx, builders.POD, selector) if job is not None else [],
            )
        return cluster_training.plan_cluster(training, ctx.status, observed, ctx.region)

    async def cleanup_on_cluster(self, ctx: ObjectContext) -> Cleanup:
        """Deletes the Job, and with it its pods (a running job stops), then the Service; the finalizer
        stays until the pods are gone."""
        job_name = ctx.status.get("clusterJob")
        if not job_name:
            return Cleanup()  # never created anything
        calls = []
        service = await kubeapi.get(ctx, builders.SERVICE, job_name)
        if service is not None and kubeapi.owned(service, ctx.uid):
            calls.append(kubeapi.delete_request(builders.SERVICE, job_name))
        job = await kubeapi.get(ctx, builders.JOB, job_name)
        if job is None or not kubeapi.owned(job, ctx.uid):
            return Cleanup(calls)  # gone, or someone else's: never delete that
        waiting = f"waiting for the pods of Job {job_name} to stop"
        if job["metadata"].get("deletionTimestamp"):
            return Cleanup(calls, waiting)
        # Foreground: the Job goes only once its pods have.
        return Cleanup([kubeapi.delete_request(builders.JOB, job_name, "Foreground"), *calls], waiting,
                       [Event("Normal", "Stopping", f"deleting Job {job_name} and its training pods")])

    async def create_request(self, ctx: ObjectContext, client, name: str) -> dict:
        spec = parse_spec_as(TrainingJobSpec, ctx.spec)
        require_allowed_roles(ctx, ctx.spec.get("roleArn", ""), where="spec.roleArn")
        # The job registers its model into a package group, from a source package: both by ARN.
        packages = spec.modelPackageConfig
        if packages is not None:
            await require_referable(ctx, client, MODEL_PACKAGE_GROUP, packages.modelPackageGroupArn,
                                    "spec.modelPackageConfig.modelPackageGroupArn")
            if packages.sourceModelPackageArn:
                await require_referable(ctx, client, MODEL_PACKAGE, packages.sourceModelPackageArn,
                                        "spec.modelPackageConfig.sourceModelPackageArn")
        return build_create_training_job_request(spec, name, ctx.owner.tag_map())

    def recorded(self, ctx: ObjectContext) -> dict:
        applied = planner.applied_updatable(ctx.spec)
        return {"appliedUpdates": applied} if applied else {}  # none: no status write before the look

    async def plan_observed(self, ctx: ObjectContext, client, description: dict) -> Plan:
        spec = parse_spec_as(TrainingJobSpec, ctx.spec)
        update = build_update_training_job_request(spec, description["TrainingJobName"])
        return planner.plan_observed(ctx.spec, ctx.status, description, update, ctx.region,
                                     await self.log_streams(ctx, description))

    async def log_streams(self, ctx: ObjectContext, description: dict) -> list[str] | None:
        known = ctx.status.get("logStreams")
        settled = description.get("TrainingJobStatus") in planner.TERMINAL_STATES
        if description.get("SecondaryStatus") not in STATES_WITH_LOGS or (known and not settled):
            return known
        if known and ctx.status.get("trainingJobStatus") == description.get("TrainingJobStatus"):
            return known
        try:
            response = await call(
                ctx.client("logs"), "describe_log_streams", logGroupName=LOG_GROUP,
                logStreamNamePrefix=f"{description['TrainingJobName']}/",
            )
        except Exception as error:
            # An account whose jobs never logged has no log group yet: no streams, not a failure.
            if is_not_found(error):
                return known
            raise
        return [stream["logStreamName"] for stream in response.get("logStreams", [])] or known
