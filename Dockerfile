# One image for the API, the Ray head and the Ray workers.
# CPU torch by default; for GPU workers build with --build-arg TORCH_INDEX=<a CUDA wheel index>.
FROM python:3.11-slim
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends dataset-fashion-mnist \
    && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir --index-url ${TORCH_INDEX} torch==2.13.0
COPY pyproject.toml README.md alembic.ini ./
COPY nas nas
COPY workers workers
COPY api api
COPY migrations migrations
COPY examples examples
# Editable: the server finds alembic.ini and migrations/ beside the package in /app.
RUN pip install --no-cache-dir -e .
ENV RAY_USAGE_STATS_ENABLED=0
EXPOSE 8000
CMD ["nas", "serve"]
