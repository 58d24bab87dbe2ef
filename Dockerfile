# syntax=docker/dockerfile:1
# Altaviz service image: `docker build -t altaviz .` (see README, "Deploy").
# Stage 1 installs the project into a venv the way `make` does (Makefile, $(STAMP)), without the
# dev extra (test tools) and the spark extra (it needs a JVM; DuckDB is the default engine), and not
# editable; with the connectors extra (the compose `connector` service) and the server extra (uvloop, Uvicorn's
# faster event loop). tests/deploy/test_containers.py checks these commands against the Makefile.
FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN python3 -m venv /opt/venv
RUN /opt/venv/bin/pip install --quiet --upgrade pip
RUN /opt/venv/bin/pip install --quiet .[connectors,server]

# Stage 2: only the venv, run as an unprivileged user. No demo data: the database is PostgreSQL
# (DATABASE_URL), migrated by `altaviz db upgrade` before the service starts (compose.yaml: migrate).
FROM python:3.11-slim AS runtime
RUN groupadd --system --gid 10001 altaviz \
 && useradd --system --uid 10001 --gid altaviz --home-dir /data --shell /usr/sbin/nologin altaviz \
 && mkdir -p /data \
 && chown altaviz:altaviz /data
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ALTAVIZ_ENV=production \
    ALTAVIZ_DATA_DIR=/data \
    ALTAVIZ_HOST=0.0.0.0 \
    ALTAVIZ_PORT=8000
WORKDIR /data
USER altaviz:altaviz
EXPOSE 8000
# 200 only when the database answers (503 "degraded" otherwise); two probes a minute from 127.0.0.1
# count against that address's RATE_LIMIT_PER_MINUTE, well under the default 60.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=3).status == 200 else 1)"]
CMD ["altaviz", "serve"]
