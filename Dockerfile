# One image for every role: worker, beat, flower, web, devnet, migrate.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY config ./config
COPY sweeper ./sweeper
COPY tasks ./tasks
COPY devnet ./devnet
RUN pip install . && useradd --system --uid 10001 sweeper
USER sweeper

# The role is chosen by the command (see docker-compose.yml).
CMD ["sweeper", "--help"]
