"""The AWS partition of a region (aws, aws-cn, aws-us-gov, ...), from the partition data botocore ships.

ARNs name their partition (`arn:aws-cn:sagemaker:cn-north-1:...`), so a resource's ARN depends on
the region it lives in. botocore's own endpoint-rules function decides, so the emulator and any
botocore-based client agree: a region a partition lists, else one its regionRegex matches, else aws.
"""

from __future__ import annotations

from functools import lru_cache

import botocore.loaders
from botocore.endpoint_provider import RuleSetStandardLibrary


@lru_cache(maxsize=1)
def _rules() -> RuleSetStandardLibrary:
    return RuleSetStandardLibrary(botocore.loaders.create_loader().load_data("partitions"))


@lru_cache(maxsize=256)
def partition_of(region: str) -> str:
    return _rules().aws_partition(region)["name"]
