"""The service models the operator's clients are made from: botocore's own, cut down to the
operations the operator calls (generated into data/ by `make generate`), and loaded once for every
session. botocore keeps a copy of each model per session, and the operator has a session per
assumed role and region; SageMaker's whole model is 14 MiB of Python objects.

The endpoint data (endpoints.json) is botocore's too, cut to the services the operator calls: whole,
it is 4 MiB of Python objects, and the partition lookups (aws.partitions) share this copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore.loaders

DATA_DIR = Path(__file__).with_name("data")


class OperatorLoader(botocore.loaders.Loader):
    """Looks in DATA_DIR before botocore's own data, and counts DATA_DIR's files as botocore's:
    they are its data, cut down. botocore passes endpoint data it takes for custom to the endpoint
    rules as a custom endpoint, so clients would resolve their endpoints differently."""

    def __init__(self) -> None:
        super().__init__(extra_search_paths=[str(DATA_DIR)])

    def is_builtin_path(self, path: str) -> bool:
        return Path(path).is_relative_to(DATA_DIR) or super().is_builtin_path(path)


LOADER = OperatorLoader()


def use_operator_models(session: Any) -> Any:
    """The botocore session, loading its models through the one shared loader."""
    session.register_component("data_loader", LOADER)
    return session
