# GridEdge gateway image: python:3.11-slim, dependencies built in a separate stage, non-root.
#   docker build -t gridedge .
#   docker run -v gridedge-journal:/var/lib/gridedge -p 127.0.0.1:8080:8080 gridedge
# docs/install.md covers configuration, secrets and the compose stack (docker-compose.yml).

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# gcc compiles the rules' hot path with mypyc (rules/native.py); the image has the Python headers.
# Unpinned: the base image's Debian release fixes the versions, and gcc only builds (not in the final image).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/gridedge/venv
COPY requirements.txt requirements-build.txt /tmp/
# opencv-python-headless (in requirements.txt): no X11/GL libraries needed in the runtime image.
RUN /opt/gridedge/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt -r /tmp/requirements-build.txt
WORKDIR /opt/gridedge/app
COPY pyproject.toml edge.py ./
COPY gateway/ gateway/
COPY adapters/ adapters/
COPY detectors/ detectors/
COPY rules/ rules/
RUN /opt/gridedge/venv/bin/python -m rules.native_build
# The still-image flame network (detectors/backbone_fetch.py: pinned, sha256-checked, not in git). If the
# fetch fails the image still builds, and still images get the colour model (docs/detectors.md).
RUN /opt/gridedge/venv/bin/python -m detectors.backbone_fetch \
 || { echo "WARNING: flame-image network not fetched; still images get the colour model" >&2; mkdir -p .models; }

FROM python:3.11-slim
LABEL org.opencontainers.image.title="GridEdge" \
      org.opencontainers.image.description="Edge gateway for city grid management"
ENV PATH=/opt/gridedge/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 gridedge \
 && useradd --system --uid 10001 --gid gridedge --home-dir /var/lib/gridedge --no-create-home \
      --shell /usr/sbin/nologin gridedge \
 && mkdir -p /var/lib/gridedge /etc/gridedge \
 && chown gridedge:gridedge /var/lib/gridedge
COPY --from=build /opt/gridedge/venv /opt/gridedge/venv
WORKDIR /opt/gridedge/app
COPY edge.py ./
COPY gateway/ gateway/
COPY adapters/ adapters/
COPY detectors/ detectors/
COPY rules/ rules/
# Built from these same sources, so its stamp matches and the compiled rules run.
COPY --from=build /opt/gridedge/app/.native .native/
COPY --from=build /opt/gridedge/app/.models .models/
COPY config/ /etc/gridedge/
COPY deploy/docker/edge.yaml /etc/gridedge/edge.yaml
# Numeric, so Kubernetes runAsNonRoot and hosts without this user in /etc/passwd can check it.
USER 10001:10001
# The journal (readings not yet in InfluxDB, the dispatch outbox, rule state): keep it across upgrades.
VOLUME ["/var/lib/gridedge"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
# SIGTERM: stop taking input, flush the journal, drain for up to 10 s, exit 0. Give it a longer stop
# timeout than that (docker run --stop-timeout 30; compose sets stop_grace_period: 30s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "edge.py", "run", "--config", "/etc/gridedge/edge.yaml"]
