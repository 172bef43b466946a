"""Ownership tags: every SageMaker object the operator creates names the Kubernetes object that owns it.

The operator only updates or deletes what carries its owner's uid; anything else must be adopted
explicitly (and the namespace's policy must allow adoption).
"""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE_TAG = "kubemaker.io/namespace"
NAME_TAG = "kubemaker.io/name"
UID_TAG = "kubemaker.io/uid"
KIND_TAG = "kubemaker.io/kind"
OWNERSHIP_TAG_KEYS = (KIND_TAG, NAMESPACE_TAG, NAME_TAG, UID_TAG)


@dataclass(frozen=True)
class Owner:
    kind: str
    namespace: str
    name: str
    uid: str

    def tag_map(self) -> dict[str, str]:
        return {KIND_TAG: self.kind, NAMESPACE_TAG: self.namespace, NAME_TAG: self.name, UID_TAG: self.uid}


def tags_to_dict(tags: list[dict] | None) -> dict[str, str]:
    return {tag["Key"]: tag.get("Value", "") for tag in tags or []}


def owned_by(tags: list[dict] | None, owner: Owner) -> bool:
    return tags_to_dict(tags).get(UID_TAG) == owner.uid


def describe_owner(tags: list[dict] | None) -> str:
    values = tags_to_dict(tags)
    if UID_TAG not in values:
        return "no Kubemaker owner (created outside the operator)"
    return f"{values.get(KIND_TAG, '?')} {values.get(NAMESPACE_TAG, '?')}/{values.get(NAME_TAG, '?')}"
