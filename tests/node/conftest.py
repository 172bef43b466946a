"""A control plane of its own with real nodes: kube-controller-manager, kube-scheduler, and per
node containerd with runc and a kubelet (kubemaker_dev.node), started once for the tests in this
directory.

When a node does not become Ready the session fails with the kubelet's and containerd's own last
log lines; it never skips."""

from __future__ import annotations

import pytest

from tests.conftest import kubectl_for


# Two nodes, as a cluster has: host-network pods that declare the same port need a node each, so
# the chart's two replicas take one each.
NODE_COUNT = 2


@pytest.fixture(scope="session")
def nodes(tmp_path_factory):
    from kubemaker_dev.binaries import BuildError
    from kubemaker_dev.controlplane import ControlPlaneError, LocalControlPlane
    from kubemaker_dev.node import LocalNode, NodeError, nth_node

    control_plane = LocalControlPlane(tmp_path_factory.mktemp("node-controlplane"))
    try:
        control_plane.start()
    except ControlPlaneError as error:
        pytest.fail(f"the nodes' control plane did not start: {error}", pytrace=False)
    started = []
    try:
        for name, ip in map(nth_node, range(NODE_COUNT)):
            started.append(LocalNode(control_plane, tmp_path_factory.mktemp(name), name=name, ip=ip).start())
    except (NodeError, ControlPlaneError, BuildError) as error:
        for local_node in started:
            local_node.stop()
        control_plane.stop()
        pytest.fail(f"a local node did not become Ready: {error}", pytrace=False)
    yield started
    for local_node in started:
        local_node.stop()
    control_plane.stop()


@pytest.fixture(scope="session")
def node(nodes):
    return nodes[0]


@pytest.fixture(scope="session")
def node_kubectl(node):
    """kubectl(*args, input=None, check=True) as admin against the nodes' control plane."""
    return kubectl_for(str(node.control_plane.kubeconfig_path))


def image_on_nodes(nodes, build, what: str, archive_dir) -> str:
    """The image `build()` makes, imported into every node (there is no registry: pods run it with
    `pullPolicy: Never`); a build or import that fails fails the test, saying which image."""
    from kubemaker_dev.image import ImageError, save_image
    from kubemaker_dev.node import NodeError

    try:
        ref = build()
        archive = save_image(ref, archive_dir / "image.tar")
        for local_node in nodes:
            local_node.import_image(archive)
    except (ImageError, NodeError) as error:
        pytest.fail(f"the {what} image could not be built or loaded into the nodes: {error}", pytrace=False)
    return ref


@pytest.fixture(scope="session")
def operator_image(nodes, tmp_path_factory) -> str:
    """The operator image built from this tree (kubemaker_dev.image), imported into every node."""
    from kubemaker_dev.image import ensure_image

    return image_on_nodes(nodes, ensure_image, "operator", tmp_path_factory.mktemp("operator-image"))
