# The operator image: `kubemaker run` (the chart's default) and the other `kubemaker` commands.
# Two stages: the first builds the wheel and installs it into a virtualenv, the final image gets only
# that virtualenv (the product and its base dependencies): no pip, no build tools, no dev package.
#
# Any Python 3.11 base whose python3 has venv works; `make image` passes a Debian bookworm base
# bootstrapped locally (docs/development.md). The default is the public image, pinned by digest:
# python:3.11.14-slim-trixie
ARG BASE_IMAGE=python@sha256:193fdd0bbcb3d2ae612bd6cc3548d2f7c78d65b549fcaa8af75624c47474444d
# The build stage's base: the same, or the same plus what the build's network needs (a local build
# adds the CA of an intercepting proxy, which the final image must not carry).
ARG BUILD_BASE_IMAGE=${BASE_IMAGE}

FROM ${BUILD_BASE_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
# The same path as in the final image: a virtualenv's scripts name their interpreter by path.
RUN python3 -m venv /opt/kubemaker \
 && /opt/kubemaker/bin/pip wheel --no-cache-dir --wheel-dir /wheels . \
 && /opt/kubemaker/bin/pip install --no-cache-dir /wheels/*.whl \
 && /opt/kubemaker/bin/pip uninstall --yes pip setuptools

FROM ${BASE_IMAGE}
# The uid the chart's podSecurityContext runs as; no shell, no home: the operator needs neither.
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin kubemaker
# Bytecode compiled at install time: the read-only root filesystem could not cache it at run time.
COPY --from=build /opt/kubemaker /opt/kubemaker
# glibc gives each of the operator's I/O threads its own malloc arena; two keep its memory
# bounded at thousands of objects (docs/benchmarks.md).
ENV PATH=/opt/kubemaker/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 MALLOC_ARENA_MAX=2
USER 10001:10001
# Liveness (/healthz) and Prometheus metrics, as in the chart's defaults.
EXPOSE 8080 9090
ENTRYPOINT ["kubemaker"]
CMD ["run"]
