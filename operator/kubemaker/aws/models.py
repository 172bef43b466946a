"""The service models the operator's clients are made from: botocore's own, cut down to the
operations the operator calls (generated into data/ by `make generate`), and loaded once for every
session. botocore keeps a copy of each model per session, and the operator has a session per
assumed role and region; SageMaker's whole model is 14 MiB of Python objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore.loaders

DATA_DIR = Path(__file__).with_name("data")
# botocore looks in extra search paths before its own data; models not there come from botocore.
LOADER = botocore.loaders.Loader(extra_search_paths=[str(DATA_DIR)])


def use_operator_models(session: Any) -> Any:
    """The botocore session, loading its models through the one shared loader."""
    session.register_component("data_loader", LOADER)
    return session
