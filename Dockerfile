# One image for every production process: `imagehub api`, `imagehub worker`, `imagehub beat`,
# `imagehub migrate`. Built from the same pinned runtime lock as `make run`.
# (No Docker engine runs where this was written: hadolint and the suite's reading of it are
# the checks. See README "Deploying".)
FROM python:3.11.13-slim-bookworm AS build
WORKDIR /src
RUN python -m venv /opt/imagehub
COPY requirements.lock ./
RUN /opt/imagehub/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/imagehub/bin/pip install --no-cache-dir --no-deps --no-build-isolation .

FROM python:3.11.13-slim-bookworm
# A fixed numeric id, so volumes and Kubernetes' runAsNonRoot can rely on it.
RUN groupadd --system --gid 10001 imagehub \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /var/lib/imagehub imagehub
COPY --from=build /opt/imagehub /opt/imagehub
ENV PATH=/opt/imagehub/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    IMAGEHUB_HOST=0.0.0.0 \
    IMAGEHUB_PORT=8000 \
    IMAGEHUB_DATA_DIR=/var/lib/imagehub \
    IMAGEHUB_LOG_FORMAT=json
USER 10001:10001
WORKDIR /var/lib/imagehub
EXPOSE 8000
# The API's check; the worker and beat containers set their own (docker-compose.yml).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD ["imagehub", "health", "api"]
CMD ["imagehub", "api"]
