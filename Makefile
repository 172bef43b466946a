# Quickstart: `make demo` and `make test` work on a fresh clone; each sets itself up.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup test soak demo generate controlplane clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Builds kube-apiserver, etcd and Helm (chart tests) from their Go modules once; later runs find them in the cache.
controlplane: setup
	$(BIN)/kubemaker dev build
	$(BIN)/python -c 'from kubemaker.devenv.binaries import HELM, ensure_built; ensure_built(HELM)'

test: controlplane
	$(BIN)/python -m pytest -ra

# Every kind under 30% SageMaker faults and 20 operator SIGKILLs; fails on duplicates or orphans.
soak: controlplane
	$(BIN)/python bench/soak.py

demo: controlplane
	$(BIN)/kubemaker demo

# Regenerates the API shapes, CRDs and API reference from the botocore service model.
generate: setup
	$(BIN)/python -m kubemaker.api.generate

clean:
	rm -rf $(VENV) build *.egg-info
