"""SageMaker names derived from Kubernetes objects."""

from __future__ import annotations

import hashlib
import re

MAX_NAME_LENGTH = 63
HASH_LENGTH = 8
_INVALID = re.compile(r"[^a-zA-Z0-9-]+")


def derived_name(namespace: str, name: str, uid: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """`<namespace>-<name>-<hash of uid>`, fitted to SageMaker's `^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`.

    The uid hash keeps the name stable for the object's life and makes it new for a re-created
    object: SageMaker never accepts a job name twice.
    """
    suffix = hashlib.sha256(uid.encode()).hexdigest()[:HASH_LENGTH]
    stem = _INVALID.sub("-", f"{namespace}-{name}")
    stem = stem[: max_length - HASH_LENGTH - 1].strip("-")
    return f"{stem}-{suffix}"


def revision_name(base: str, revision: int, max_length: int = MAX_NAME_LENGTH) -> str:
    """The name of a later revision of something SageMaker cannot rename (models, endpoint configs)."""
    if revision <= 1:
        return base[:max_length]
    suffix = f"-r{revision}"
    return base[: max_length - len(suffix)].rstrip("-") + suffix
