# The scoring service: one artifact, predictions with local importances over HTTP.
# Runtime only (numpy, onnxruntime, the service); no shap, no scikit-learn, no compilers.
#
#   docker build -t scorer .                                   # artifact mounted at /artifact
#   docker build -t scorer --build-arg ARTIFACT_DIR=artifacts/demo \
#       --build-arg ARTIFACT_PATH=/opt/artifact .              # artifact baked in
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY scoring_explainers ./scoring_explainers
COPY service ./service
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --no-compile ".[serve]" \
    && find /opt/venv -name "__pycache__" -prune -exec rm -rf {} + \
    && rm -rf /opt/venv/lib/python3*/site-packages/pip* /opt/venv/bin/pip*

FROM ${PYTHON_IMAGE}
ARG UID=10001
ARG ARTIFACT_DIR=packaging/no-artifact
ARG ARTIFACT_PATH=/artifact
# /data holds the explanation store's SQLite file (mount a volume there to keep it)
RUN useradd --system --uid "${UID}" --no-create-home --shell /usr/sbin/nologin scorer \
    && install -d -m 0770 -o scorer -g root /data
COPY --from=build /opt/venv /opt/venv
COPY ${ARTIFACT_DIR} /opt/artifact
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=1 \
    SCORING_ARTIFACT=${ARTIFACT_PATH} \
    SCORING_STORE_PATH=/data/explanations.sqlite3 \
    SCORING_HOST=0.0.0.0 \
    SCORING_PORT=8000
USER ${UID}
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["python", "-m", "service"]
