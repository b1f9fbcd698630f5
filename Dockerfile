# Two targets, one for each kind of deployment:
#   production (the default): worker, beat, Flower, the receiver and migrate; no devnet inside.
#     docker build -t sweeper .
#   devnet: the same plus the local TRON node and provider simulators (sweeper devnet, sweeper demo).
#     docker build --target devnet -t sweeper-devnet .
# Dependencies are installed from the lock file (requirements/runtime.txt, see `make lock`) in a layer
# that holds no source, so editing the code never reinstalls them.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    PATH=/opt/venv/bin:$PATH
# The processes run as this user; /app is its working directory, the code is root's and read-only to it.
RUN groupadd --system --gid 10001 sweeper \
 && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /app --shell /usr/sbin/nologin sweeper
WORKDIR /app

# pip, uv and the build backend, pinned by requirements/tools.txt; they stay out of the final images.
FROM base AS tools
COPY requirements/tools.txt /tmp/requirements/
RUN python -m venv /opt/tools \
 && /opt/tools/bin/pip install --no-deps --require-hashes -r /tmp/requirements/tools.txt

# The dependency layer: exactly what the lock file pins, nothing resolved.
FROM tools AS deps
COPY requirements/runtime.txt /tmp/requirements/
RUN python -m venv --without-pip /opt/venv \
 && /opt/tools/bin/uv pip sync --python /opt/venv/bin/python --require-hashes --compile-bytecode \
      /tmp/requirements/runtime.txt

# The project itself, as a wheel: without the devnet package, and with it.
FROM tools AS source
COPY pyproject.toml README.md /src/
COPY config /src/config
COPY sweeper /src/sweeper
COPY tasks /src/tasks

FROM source AS wheel
RUN /opt/tools/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /dist /src

FROM source AS wheel-devnet
COPY devnet /src/devnet
RUN /opt/tools/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /dist /src

FROM base AS runtime
COPY --from=deps /opt/venv /opt/venv

# The base image's own pip puts one local wheel into /opt/venv: nothing to resolve, nothing downloaded.
FROM runtime AS devnet
COPY --from=wheel-devnet /dist/ /tmp/dist/
RUN /usr/local/bin/python -m pip --python /opt/venv/bin/python install --no-deps --no-index /tmp/dist/*.whl \
 && /usr/local/bin/python -m pip --python /opt/venv/bin/python check \
 && rm -rf /tmp/dist
USER 10001:10001
# the node and every provider simulator (its port offset from 9090); see docker-compose.yml
EXPOSE 9090-9109
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9090/wallet/getnowblock', timeout=4)"]
CMD ["sweeper", "devnet", "--host", "0.0.0.0", "--port", "9090"]

# Last, so that a plain `docker build .` gives this one.
FROM runtime AS production
COPY --from=wheel /dist/ /tmp/dist/
RUN /usr/local/bin/python -m pip --python /opt/venv/bin/python install --no-deps --no-index /tmp/dist/*.whl \
 && /usr/local/bin/python -m pip --python /opt/venv/bin/python check \
 && rm -rf /tmp/dist
USER 10001:10001
# Declared, not probed: in here 127.0.0.1 is this container, so loopback node, database and broker URLs are
# refused at start-up (tasks/startup.py). The devnet target runs the demo on loopback and leaves it unset.
ENV SWEEPER_CONTAINER=1
# Healthy while the ledger and the broker answer (every role needs both); one line per problem.
HEALTHCHECK --interval=60s --timeout=15s --start-period=30s --retries=3 \
  CMD ["python", "-m", "tasks.healthcheck"]
# The role is chosen by the command (see docker-compose.yml).
CMD ["sweeper", "--help"]
