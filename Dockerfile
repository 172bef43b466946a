# The operator image: `kubemaker run` (the chart's default) and the other `kubemaker` commands.
# Two stages so the final image carries the installed package and its dependencies, no build tools.
FROM python:3.11.14-slim-trixie AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11.14-slim-trixie
# The uid the chart's podSecurityContext runs as; no shell, no home: the operator needs neither.
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin kubemaker
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-compile /wheels/*.whl && rm -rf /wheels
# glibc gives each of the operator's I/O threads its own malloc arena; two keep its memory
# bounded at thousands of objects (docs/benchmarks.md).
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 MALLOC_ARENA_MAX=2
USER 10001:10001
# Liveness (/healthz) and Prometheus metrics, as in the chart's defaults.
EXPOSE 8080 9090
ENTRYPOINT ["kubemaker"]
CMD ["run"]
