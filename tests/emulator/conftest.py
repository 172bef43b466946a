"""Fixtures for the emulator tests: boto3 clients on the session's emulator (tests/conftest.py)."""

from __future__ import annotations

import uuid
from typing import Callable

import pytest


@pytest.fixture(scope="session")
def sagemaker(emulator):
    """botocore's standard retry mode, as the operator uses it."""
    return emulator.client("sagemaker", retries={"mode": "standard", "max_attempts": 3})


@pytest.fixture(scope="session")
def sagemaker_no_retry(emulator):
    # botocore's `max_attempts` counts retries; `total_max_attempts` counts the first attempt too.
    return emulator.client("sagemaker", retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture(scope="session")
def sagemaker_unchecked(emulator):
    """No client-side validation, so requests reach the emulator's own."""
    return emulator.client("sagemaker", parameter_validation=False, retries={"total_max_attempts": 1})


@pytest.fixture(scope="session")
def logs(emulator):
    return emulator.client("logs")


@pytest.fixture(scope="session")
def control(emulator):
    return emulator.control


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names no other test uses: the emulator is shared by the whole session."""
    return lambda stem: f"{stem}-{uuid.uuid4().hex[:8]}"
