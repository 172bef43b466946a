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
OWNER_TAG_KEYS = (NAMESPACE_TAG, NAME_TAG, UID_TAG, KIND_TAG)


@dataclass(frozen=True)
class Owner:
    kind: str
    namespace: str
    name: str
    uid: str

    def tags(self) -> list[dict[str, str]]:
        return [
            {"Key": KIND_TAG, "Value": self.kind},
            {"Key": NAMESPACE_TAG, "Value": self.namespace},
            {"Key": NAME_TAG, "Value": self.name},
            {"Key": UID_TAG, "Value": self.uid},
        ]

    def with_user_tags(self, user_tags: list[dict] | None) -> list[dict[str, str]]:
        """The user's tags plus ours; ours win, so a manifest cannot claim another owner."""
        kept = [tag for tag in user_tags or [] if tag.get("Key") not in OWNER_TAG_KEYS]
        return kept + self.tags()


def tags_to_dict(tags: list[dict] | None) -> dict[str, str]:
    return {tag["Key"]: tag.get("Value", "") for tag in tags or []}


def owned_by(tags: list[dict] | None, owner: Owner) -> bool:
    return tags_to_dict(tags).get(UID_TAG) == owner.uid


def describe_owner(tags: list[dict] | None) -> str:
    values = tags_to_dict(tags)
    if UID_TAG not in values:
        return "no Kubemaker owner (created outside the operator)"
    return f"{values.get(KIND_TAG, '?')} {values.get(NAMESPACE_TAG, '?')}/{values.get(NAME_TAG, '?')}"
