# Quickstart: `make demo` and `make test` work on a fresh clone; each sets itself up.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup test unit e2e lint soak demo image generate controlplane clean

setup: $(STAMP)

$(STAMP): pyproject.toml dev/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e . -e './dev[test]'
	touch $(STAMP)

# Builds from their Go modules, once, the Kubernetes binaries (one `kube` wrapper), etcd, the nodes'
# containerd, runc shim and pause image (tests/node), and Helm (chart tests); later runs find them cached.
controlplane: setup
	$(BIN)/kubemaker-dev build
	$(BIN)/python -c 'from kubemaker_dev.binaries import HELM, ensure_built; ensure_built(HELM)'

test: controlplane
	$(BIN)/python -m pytest -ra

# The fast loop: planners, models, generated files, the chart, and the controllers against botocore's
# Stubber; no control plane or emulator (Helm is built on first use, then cached).
unit: setup
	$(BIN)/python -m pytest -ra tests/unit tests/stubber

# The end-to-end suite: a real kube-apiserver, the emulator and `kubemaker run` from the built wheel.
e2e: controlplane
	$(BIN)/python -m pytest -ra tests/e2e

# ruff and mypy on the product package (configured in pyproject.toml); both run, so one pass shows
# every finding, and either failing fails the target.
lint: setup
	$(BIN)/ruff check operator/kubemaker; ruff=$$?; $(BIN)/mypy; mypy=$$?; test $$ruff = 0 -a $$mypy = 0

# Every kind under 30% SageMaker faults and 20 operator SIGKILLs; fails on duplicates or orphans.
soak: controlplane
	$(BIN)/python bench/soak.py

demo: controlplane
	$(BIN)/kubemaker-dev demo

# The operator image on a locally bootstrapped Debian base (no registry needed); prints its reference.
image: setup
	$(BIN)/kubemaker-dev image

# Regenerates the API shapes, the CRDs (crds/ and the chart's copies) and the API reference from the
# botocore service model.
generate: setup
	$(BIN)/python -m kubemaker_dev.codegen.generate

clean:
	rm -rf $(VENV) build *.egg-info dev/build dev/*.egg-info
