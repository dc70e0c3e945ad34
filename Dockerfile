# syntax=docker/dockerfile:1
#
# sentinel: the daemon with the CPU build of torch and the bundled model.
#
#   docker build -t sentinel .
#   docker run -p 127.0.0.1:9464:9464 -v sentinel-data:/var/lib/sentinel sentinel
#   docker run --rm -i sentinel classify < posts.jsonl
#
# The code finds alembic/, config/ and models/ relative to the repository root (src/..), so
# the image keeps the repository layout under /app and installs the package in editable mode
# into a virtual environment; the build stage's compilers and caches stay behind.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch first, from the CPU index and pinned exactly: the default index would pull the CUDA
# build (gigabytes), and pyproject's torch==2.13.0 is then already satisfied.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
# the base dependencies only: the train extra (scikit-learn, scipy) is not the daemon's
RUN pip install --no-cache-dir -e . \
 && python -m compileall -q /app/src

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="sentinel" \
      org.opencontainers.image.description="Crisis early-warning daemon for Chinese social media" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    MALLOC_ARENA_MAX=2 \
    SENTINEL_HEALTHCHECK_URL=http://127.0.0.1:9464/healthz
# a fixed, unprivileged uid/gid, so that volumes and Kubernetes' runAsNonRoot line up
RUN groupadd --system --gid 10001 sentinel \
 && useradd --system --uid 10001 --gid sentinel --home-dir /var/lib/sentinel --no-create-home \
      --shell /usr/sbin/nologin sentinel \
 && install -d -o sentinel -g sentinel -m 0750 /var/lib/sentinel \
 && install -d -m 0755 /etc/sentinel
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# code, migrations, taxonomy and the model are root-owned: the daemon cannot change them
COPY --from=build /app /app
COPY alembic.ini ./
COPY alembic ./alembic
COPY config/taxonomy.yaml ./config/taxonomy.yaml
COPY models/default ./models/default
COPY deploy/sentinel.toml /etc/sentinel/sentinel.toml
USER 10001:10001
VOLUME ["/var/lib/sentinel"]
EXPOSE 9464
# python -c rather than curl: the slim image has no curl, and a probe needs no extra package
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(urllib.request.urlopen(os.environ['SENTINEL_HEALTHCHECK_URL'], timeout=4).status != 200)"]
ENTRYPOINT ["sentinel"]
CMD ["run", "--config", "/etc/sentinel/sentinel.toml"]
