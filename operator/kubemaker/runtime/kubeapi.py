"""Kubernetes objects a kind makes in its object's namespace (the Job and Service of a TrainingJob
placed on the cluster), reached through the Runtime's API client. A plan creates one with
`service=KUBERNETES` and the manifest as its request, a cleanup deletes one with a `Call` of
`delete_request`: the core executes both as it executes SageMaker calls, with the same create-once
protocol, "gone is done" and judgement. Ownership is a label with the owner's uid, as SageMaker
objects carry ownership tags; no ownerReference, so `deletionPolicy: Retain` keeps them when the
owner goes."""

from __future__ import annotations

from typing import Any

from .. import API_GROUP
from .context import ObjectContext
from .kubeclient import ApiError
from .outcomes import KUBERNETES, Call, KubernetesObject, Stall, Transient

CREATE, DELETE = "create_kubernetes_object", "delete_kubernetes_object"
OWNER_UID_LABEL = f"{API_GROUP}/owner-uid"
# The owner by kind and name, for people (a name may be longer than a label value can be).
OWNER_ANNOTATION = f"{API_GROUP}/owner"
# Refusals that only a change of the spec or of the operator's rights can lift: bad request, forbidden
# (the chart grants these rights only with clusterPlacement.enabled), invalid.
REFUSED_STATUSES = {400: "KubernetesBadRequest", 403: "KubernetesForbidden", 422: "KubernetesInvalid"}


def owner_metadata(ctx: ObjectContext) -> tuple[dict[str, str], dict[str, str]]:
    """The labels and annotations that make an object ours."""
    return {OWNER_UID_LABEL: ctx.uid}, {OWNER_ANNOTATION: f"{ctx.kind.lower()}/{ctx.name}"}


def owned(obj: dict, uid: str) -> bool:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(OWNER_UID_LABEL) == uid


def resource_path(api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
    """The REST path of a namespaced kind whose plural is its lowercased name plus s (Job, Service, Pod)."""
    group = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = f"{group}/namespaces/{namespace}/{kind.lower()}s"
    return f"{path}/{name}" if name else path


def delete_request(made: KubernetesObject, name: str, propagation: str = "Background") -> Call:
    """A cleanup call deleting one of our objects; Foreground waits for its dependents (a Job's pods)."""
    return Call(DELETE, {"apiVersion": made.api_version, "kind": made.kind, "name": name,
                         "propagationPolicy": propagation}, service=KUBERNETES)


def refusal(error: Exception, what: str) -> Stall | None:
    if isinstance(error, ApiError) and error.status in REFUSED_STATUSES:
        hint = " (the chart grants it with clusterPlacement.enabled)" if error.status == 403 else ""
        message = f"the Kubernetes API refused to {what}: {error.message}{hint}"
        return Stall(REFUSED_STATUSES[error.status], message)
    return None


async def request(ctx: ObjectContext, method: str, path: str, what: str, body: dict | None = None,
                  query: list[tuple[str, str]] | None = None) -> dict:
    try:
        return await ctx.runtime.kubernetes_request(method, path, body, query)
    except ApiError as error:
        refused = refusal(error, what)
        if refused is not None:
            raise refused from None
        raise


async def get(ctx: ObjectContext, made: KubernetesObject, name: str) -> dict | None:
    """The object of this namespace, or None when it does not exist."""
    try:
        return await request(ctx, "GET", resource_path(made.api_version, made.kind, ctx.namespace, name),
                             f"read {made.kind} {name}")
    except ApiError as error:
        if error.status == 404:
            return None
        raise


async def list_labelled(ctx: ObjectContext, made: KubernetesObject, selector: str) -> list[dict]:
    listing = await request(ctx, "GET", resource_path(made.api_version, made.kind, ctx.namespace), f"list {made.kind}s",
                            query=[("labelSelector", selector)])
    return listing.get("items") or []


async def send(ctx: ObjectContext, action: str, call: dict[str, Any]) -> dict:
    """A plan's or cleanup's call: create the manifest, or delete the named object, in the object's own
    namespace (a kind never writes outside it)."""
    if action == CREATE:
        kind, name = call["kind"], call["metadata"]["name"]
        manifest = {**call, "metadata": {**call["metadata"], "namespace": ctx.namespace}}
        return await request(ctx, "POST", resource_path(call["apiVersion"], kind, ctx.namespace),
                             f"create {kind} {name}", body=manifest)
    if action == DELETE:
        kind, name = call["kind"], call["name"]
        return await request(ctx, "DELETE", resource_path(call["apiVersion"], kind, ctx.namespace, name),
                             f"delete {kind} {name}", body={"propagationPolicy": call["propagationPolicy"]})
    raise ValueError(f"no Kubernetes action {action}")


def is_gone(error: BaseException) -> bool:
    return isinstance(error, ApiError) and error.status == 404


def already_exists(error: BaseException) -> bool:
    return isinstance(error, ApiError) and error.status == 409


async def require_ours(ctx: ObjectContext, made: KubernetesObject, manifest: dict) -> None:
    """A create found the name taken: ours (an interrupted pass made it), or someone else's: Stall."""
    name = manifest["metadata"]["name"]
    existing = await get(ctx, made, name)
    if existing is None:
        raise Transient(f"{made.kind} {name} exists, and is gone when read: being deleted")
    if not owned(existing, ctx.uid):
        raise Stall("NameInUse", f"a {made.kind} named {name} already exists in namespace {ctx.namespace} and does "
                    f"not belong to {ctx.kind} {ctx.name}; choose another spec.{ctx.info.name_field}",
                    status={"createPending": None})
    ctx.made.add(name)
