"""The AWS partition of a region (aws, aws-cn, aws-us-gov, ...), from botocore's own partition data:
ARNs, service hostnames and console addresses differ between partitions."""

from __future__ import annotations

import functools

import botocore.exceptions
import botocore.regions

from .models import LOADER

# The console's address per partition; a partition without a public console gets none.
CONSOLES = {
    "aws": "https://{region}.console.aws.amazon.com",
    "aws-cn": "https://console.amazonaws.cn",
    "aws-us-gov": "https://console.amazonaws-us-gov.com",
}


@functools.cache
def partition(region: str) -> str:
    """A region botocore does not know is taken as the commercial partition's, as botocore's own
    endpoint resolution does: SageMaker then judges the region itself."""
    try:
        return botocore.regions.EndpointResolver(LOADER.load_data("endpoints")).get_partition_for_region(region)
    except botocore.exceptions.UnknownRegionError:
        return "aws"


@functools.cache
def dns_suffix(region: str) -> str:
    """amazonaws.com, amazonaws.com.cn, ...: where the region's service endpoints are."""
    partitions = LOADER.load_data("endpoints")["partitions"]
    return next(p["dnsSuffix"] for p in partitions if p["partition"] == partition(region))


def console_home(region: str, service: str) -> str | None:
    console = CONSOLES.get(partition(region))
    return None if console is None else f"{console.format(region=region)}/{service}/home?region={region}"
