# dispatch-bridge container image.
#
# Two stages: the build stage installs the package and its dependencies into a virtualenv (compilers and pip
# caches stay behind); the runtime stage copies only that virtualenv onto a fresh slim base and runs it as a
# numeric non-root user, so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
#
# Rules are data, not code: the default pack is baked in at /app/rules/default so the image runs on its own, and
# /app/rules is a volume so a deployment mounts its own reviewed pack over it (a ConfigMap in Kubernetes, a bind
# mount in compose). The service hot-reloads the directory it is given, so a mounted pack can change without a
# restart.
#
# Build from the repository root:  docker build -t dispatch-bridge:dev .
# (Not built on the project's development machines: they have no Docker engine. See deploy/README.md.)

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# A C compiler for the two compiled parts (setup.py: the decoder's safety scan and triage's normalisation), in this
# stage only: it stays behind with the rest of the stage. Debian's current gcc for the base image's release; the
# package would install without it too, with the same code in pure Python, about 2 us per event slower.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Metadata first so the dependency layer is cached across source-only changes.
COPY pyproject.toml setup.py README.md ./
COPY dispatch_bridge ./dispatch_bridge
RUN pip install --no-cache-dir . \
    && python -c "from dispatch_bridge.contracts import structs; from dispatch_bridge.triage import text; assert structs.SCAN_COMPILED and text.NORMALISE_COMPILED" \
    && python -m compileall -q /opt/venv

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="dispatch-bridge" \
      org.opencontainers.image.description="Flags behavioral-health crisis 911 calls and recommends CIT officers and mobile crisis teams" \
      org.opencontainers.image.licenses="Apache-2.0"
# Group 0 owns the writable paths so an arbitrary UID in group 0 (OpenShift's restricted SCC) can write too.
RUN useradd --uid 10001 --gid 0 --no-create-home --home-dir /app --shell /usr/sbin/nologin bridge \
    && mkdir -p /app/rules /app/data \
    && chown -R 10001:0 /app \
    && chmod -R g=u /app
COPY --from=build /opt/venv /opt/venv
COPY --chown=10001:0 rules/default /app/rules/default
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DISPATCH_BRIDGE_RULES_DIR=/app/rules/default \
    DISPATCH_BRIDGE_HTTP__HOST=0.0.0.0 \
    DISPATCH_BRIDGE_HTTP__PORT=8080 \
    DISPATCH_BRIDGE_LOG_FORMAT=json \
    DISPATCH_BRIDGE_STORE__URL=sqlite:////app/data/dispatch-bridge.db
# /app/data holds the embedded SQLite store for a single instance; with PostgreSQL (several instances) it stays
# empty. Both are volumes so the root filesystem can be mounted read-only.
VOLUME ["/app/rules", "/app/data"]
USER 10001:0
EXPOSE 8080
# Liveness, not readiness: /livez says the consume loop is iterating; a broker outage must not get a healthy
# container restarted (the service recovers by itself). urllib raises on any non-2xx answer, so exit 1.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/livez', timeout=4)"]
# SIGTERM: readiness turns 503, the consumer drains and commits, leaves the group, then the process exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["dispatch-bridge"]
CMD ["run"]
