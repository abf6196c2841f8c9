# syntax=docker/dockerfile:1
# imagebot: the in-cluster agent (`imagebot run`). Build: docker build -t imagebot .
#
# The base is pinned to an exact Python patch release on Debian bookworm; pin its digest too in
# your build pipeline (`python:3.11.11-slim-bookworm@sha256:...`) and let imagebot keep it fresh.
ARG PYTHON_IMAGE=docker.io/library/python:3.11.11-slim-bookworm

# --- build: install imagebot and its dependencies into a self-contained virtualenv -----------
# With the cloud extras (boto3, google-auth, azure-identity): `provider: aws | gcp | azure` in
# `registries[]` logs in with the pod's workload identity (docs/credentials.md).
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY imagebot ./imagebot
# Byte-code is compiled here (pip's default): the runtime's root filesystem is read-only and
# PYTHONDONTWRITEBYTECODE is set, so without .pyc files every process (a CronJob's `run --once`
# each time) would compile imagebot and its dependencies from source again (~0.3 s CPU for
# imagebot alone, more for pydantic, requests and urllib3).
RUN python -m venv /opt/imagebot \
 && /opt/imagebot/bin/pip install ".[cloud]" \
 && /opt/imagebot/bin/imagebot --version

# --- runtime: the virtualenv, git and ssh, a docker credential helper, a non-root user --------
# amazon-ecr-credential-helper is Debian's docker-credential-ecr-login, for a docker config
# that names it (`"credHelpers": {"<account>.dkr.ecr.<region>.amazonaws.com": "ecr-login"}`).
FROM ${PYTHON_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates amazon-ecr-credential-helper \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 imagebot \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin imagebot \
 && install -d -o 10001 -g 10001 -m 0750 /var/cache/imagebot
COPY --from=build /opt/imagebot /opt/imagebot
# The root filesystem is read-only in the cluster: the only writable places are the Git
# clones and tag cache (/var/cache/imagebot) and /tmp, both emptyDir volumes (deploy/).
ENV PATH=/opt/imagebot/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/var/cache/imagebot
USER 10001:10001
EXPOSE 8080
# Kubernetes probes /healthz and /readyz itself (deploy/deployment.yaml); this is for plain docker.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
ENTRYPOINT ["imagebot", "run"]
