# rmaplab: the laboratory and its API in one uvicorn process on 0.0.0.0:8000 (which starts
# its own engine worker processes).
#
#   docker build -t rmaplab .
#   docker run -p 8000:8000 -v rmaplab-data:/data rmaplab
#
# Configuration is by environment variables (docs/workshop.md, docs/api.md "Limits"):
#   RMAPLAB_DB               the SQLite file; on the /data volume by default
#   RMAPLAB_STORE            redis://HOST:PORT/DB: the shared store of several containers
#                            (docs/deploy.md); unset: the SQLite file
#   RMAPLAB_MAX_PAGES, RMAPLAB_MAX_PROCESSES, RMAPLAB_MAX_FRAMES, RMAPLAB_MAX_PTES,
#   RMAPLAB_MAX_VMAS, RMAPLAB_MAX_STEPS, RMAPLAB_MAX_RUN_OPS, RMAPLAB_MAX_SESSIONS,
#   RMAPLAB_SESSION_TTL, RMAPLAB_CREATE_BURST, RMAPLAB_CREATE_PER_MINUTE, RMAPLAB_MAX_BODY,
#   RMAPLAB_MAX_RESPONSE, RMAPLAB_MAX_REQUEST_SECONDS, RMAPLAB_WORKERS,
#   RMAPLAB_LIVE_MEMORY_MB, RMAPLAB_SNAPSHOT_EVERY
#                            the limits; unset means the service's defaults
#   UVICORN_HOST, UVICORN_PORT   where uvicorn listens (the health check follows the port)
#
# BASE must provide python3 (3.11+) with venv and ensurepip: python:3.11-slim by default;
# CI passes a local Debian bookworm image made with debootstrap (scripts/docker-smoke.sh).
ARG BASE=python:3.11-slim
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    RMAPLAB_DB=/data/rmaplab.sqlite3 \
    UVICORN_HOST=0.0.0.0 \
    UVICORN_PORT=8000

WORKDIR /app

# Only what the service needs: the package (with app/static), the page templates, the
# built-in scenarios, and the two files the build reads.
COPY pyproject.toml README.md ./
COPY app/ app/
COPY templates/ templates/
COPY scenarios/ scenarios/

# An editable install: the service runs from /app exactly as from a checkout (templates/
# and scenarios/ beside app/), with the dependencies and the rmaplab command in the venv.
# The bytecode is compiled now because the service user cannot write /app.
RUN python3 -m venv /opt/venv \
    && pip install --no-cache-dir -e . \
    && python -m compileall -q app \
    && groupadd --system --gid 10001 rmaplab \
    && useradd --system --uid 10001 --gid rmaplab --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin rmaplab \
    && mkdir -p /data \
    && chown rmaplab:rmaplab /data

VOLUME /data
USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('UVICORN_PORT', '8000') + '/healthz', timeout=4)"]

# uvicorn reads --host and --port from UVICORN_HOST and UVICORN_PORT; the app is a factory
# (importing app.main does nothing). One process here: with RMAPLAB_STORE=redis://...
# several containers (deploy/compose.yaml) or `rmaplab serve --workers N` scale out.
CMD ["uvicorn", "--factory", "app.main:create_app"]
