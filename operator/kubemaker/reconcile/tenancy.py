"""Tenancy judgements, pure: which roles a request passes, whether a namespace may use a SageMaker
object by name, and whether an existing object may be adopted. The handlers fetch tags and
definitions; these functions decide, and say in a refusal what the user or the platform team changes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..aws.ownership import KIND_TAG, NAME_TAG, NAMESPACE_TAG, UID_TAG, Owner, describe_owner, tags_to_dict
from ..conditions import Health
from ..config import NamespacePolicy

ROLE_NOT_ALLOWED = "RoleNotAllowed"
REFERENCE_NOT_ALLOWED = "ReferenceNotAllowed"
OWNED_BY_ANOTHER_OBJECT = "OwnedByAnotherObject"


# Roles ---------------------------------------------------------------------------------------------


@dataclass
class DefinitionRoles:
    """The roles a pipeline definition passes: literal ARNs, the parameters whose values are used as
    roles (with their defaults), and role values no check can read (expressions)."""

    literal: set[str] = field(default_factory=set)
    parameters: dict[str, str | None] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)


def _role_members(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every member whose name ends in RoleArn (RoleArn, ExecutionRoleArn, ...), wherever it sits."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and key.endswith("RoleArn"):
                yield where, value
            else:
                yield from _role_members(value, where)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _role_members(item, f"{path}[{index}]")


def definition_roles(document: dict[str, Any]) -> DefinitionRoles:
    """The roles a pipeline definition's steps pass. A step's role is a literal ARN or a pipeline
    parameter ({"Get": "Parameters.X"}), whose value an execution may override."""
    defaults = {
        parameter.get("Name"): parameter.get("DefaultValue")
        for parameter in document.get("Parameters") or [] if isinstance(parameter, dict)
    }
    roles = DefinitionRoles()
    for path, value in _role_members(document.get("Steps") or [], "Steps"):
        if isinstance(value, str):
            roles.literal.add(value)
            continue
        reference = value.get("Get") if isinstance(value, dict) and len(value) == 1 else None
        if isinstance(reference, str) and reference.startswith("Parameters."):
            name = reference.removeprefix("Parameters.")
            roles.parameters[name] = defaults.get(name)
        else:
            roles.unreadable.append(path)
    return roles


def role_refusal(namespace: str, policy: NamespacePolicy, roles: Iterable[tuple[str, str | None]]) -> Health | None:
    """Stalled for the first role (where it comes from, its ARN) the namespace may not pass."""
    for where, role in roles:
        if role and not policy.allows_role(role):
            return Health.stalled(
                ROLE_NOT_ALLOWED,
                f"namespace {namespace} may not use execution role {role} ({where}; operator configuration: "
                "allowedRoleArns)",
            )
    return None


def pipeline_definition_refusal(namespace: str, policy: NamespacePolicy, document: dict[str, Any],
                                source: str) -> Health | None:
    """A definition passes its steps' roles: literal ones and parameters' defaults must be allowed,
    and a role built by an expression cannot be checked, so it is refused."""
    roles = definition_roles(document)
    if roles.unreadable:
        return Health.stalled(
            ROLE_NOT_ALLOWED,
            f"the pipeline definition in {source} computes the role at {roles.unreadable[0]}: the operator cannot "
            "check it against allowedRoleArns; give the ARN, or a pipeline parameter whose values are checked",
        )
    return role_refusal(namespace, policy, [
        *((f"{source}", role) for role in sorted(roles.literal)),
        *((f"default of pipeline parameter {name} in {source}", default)
          for name, default in sorted(roles.parameters.items())),
    ])


def execution_role_refusal(namespace: str, policy: NamespacePolicy, document: dict[str, Any],
                           parameters: list[dict[str, Any]] | None) -> Health | None:
    """The values an execution gives for the parameters its pipeline uses as roles."""
    role_parameters = definition_roles(document).parameters
    return role_refusal(namespace, policy, [
        (f"spec.pipelineParameters {parameter.get('Name')}", parameter.get("Value"))
        for parameter in parameters or [] if parameter.get("Name") in role_parameters
    ])


# References by name --------------------------------------------------------------------------------


def reference_refusal(namespace: str, policy: NamespacePolicy, noun: str, name: str, arn: str,
                      tags: list[dict] | None, field_name: str) -> Health | None:
    """A SageMaker object used by name: fine when its ownership tags name this namespace or the
    policy lists its ARN; otherwise Stalled, naming the owner and the policy."""
    if tags_to_dict(tags).get(NAMESPACE_TAG) == namespace or policy.allows_reference(arn):
        return None
    return Health.stalled(
        REFERENCE_NOT_ALLOWED,
        f"namespace {namespace} may not use the SageMaker {noun} {name} ({field_name}): it belongs to "
        f"{describe_owner(tags)}; use an object of this namespace, or ask for {arn} in the namespace's "
        "allowedSageMakerReferences (operator configuration)",
    )


# Adoption ------------------------------------------------------------------------------------------


def adoption_refusal(owner: Owner, noun: str, name: str, tags: list[dict] | None) -> Health | None:
    """Adoption takes only what no other Kubemaker object owns. An object left behind (Retain) by an
    earlier object of the same kind, namespace and name is that object's own: it may be taken back."""
    values = tags_to_dict(tags)
    if not any(key in values for key in (UID_TAG, NAMESPACE_TAG)) or values.get(UID_TAG) == owner.uid:
        return None
    tagged = (values.get(KIND_TAG), values.get(NAMESPACE_TAG), values.get(NAME_TAG))
    if tagged == (owner.kind, owner.namespace, owner.name):
        return None
    return Health.stalled(
        OWNED_BY_ANOTHER_OBJECT,
        f"the SageMaker {noun} {name} belongs to {describe_owner(tags)} (namespace "
        f"{values.get(NAMESPACE_TAG, '?')}, name {values.get(NAME_TAG, '?')}): adoption never takes an object "
        "another Kubemaker object owns; choose another name",
    )
