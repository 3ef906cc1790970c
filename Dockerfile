# One image for every production process: `imagehub api`, `imagehub worker`, `imagehub beat`,
# `imagehub migrate`. Built from the same pinned lock file as development.
# (No Docker engine runs where this was written; the file is kept simple and checked by
# reading. See README "Deploying".)
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/imagehub
COPY requirements.lock ./
RUN /opt/imagehub/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/imagehub/bin/pip install --no-cache-dir --no-deps .

FROM python:3.11-slim
RUN useradd --system --create-home --home-dir /var/lib/imagehub imagehub
COPY --from=build /opt/imagehub /opt/imagehub
ENV PATH=/opt/imagehub/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    IMAGEHUB_HOST=0.0.0.0 \
    IMAGEHUB_PORT=8000 \
    IMAGEHUB_DATA_DIR=/var/lib/imagehub \
    IMAGEHUB_LOG_FORMAT=json
USER imagehub
WORKDIR /var/lib/imagehub
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"
CMD ["imagehub", "api"]
