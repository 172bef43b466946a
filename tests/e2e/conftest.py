from __future__ import annotations

import pytest

from tests.conftest import REPO_ROOT


@pytest.fixture(scope="session")
def crds(kubectl) -> list[str]:
    """Installs every CRD in crds/ (server-side: their schemas are too large for the
    last-applied annotation) and waits until the API server serves them."""
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO_ROOT / "crds"))
    names = kubectl("get", "-f", str(REPO_ROOT / "crds"), "-o", "name").stdout.split()
    kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)
    return [name.split("/", 1)[1] for name in names]
