# One image for every Millrace role; the command picks the role:
#   docker run millrace:latest api --host 0.0.0.0        (the default)
#   docker run millrace:latest worker bias
#   docker run millrace:latest serve --host 0.0.0.0 --port 8080
# The compiled KFP pipeline (deploy/pipeline.yaml) names this image as millrace:latest.
#
#   docker build -t millrace:latest .

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# The CPU wheel first: once torch==2.13.0 is satisfied, `pip install .` never reaches for
# the default index's CUDA build (gigabytes of libraries a CPU service never loads).
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

WORKDIR /build
COPY pyproject.toml README.md ./
COPY src/ ./src/
RUN pip install ".[kafka]" && pip check


FROM python:3.11-slim

# LightGBM and XGBoost link against the system's OpenMP runtime.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 millrace \
    && useradd --system --uid 10001 --gid millrace --home-dir /home/millrace \
        --create-home --shell /usr/sbin/nologin millrace \
    && mkdir -p /var/lib/millrace \
    && chown millrace:millrace /var/lib/millrace

COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MILLRACE_HOME=/var/lib/millrace \
    MPLCONFIGDIR=/tmp/matplotlib

USER millrace
WORKDIR /home/millrace
VOLUME ["/var/lib/millrace"]
EXPOSE 8000

# /health checks the database, storage and event bus for real and answers 503 if any is
# down, which urlopen raises on. Other roles override this check (see deploy/compose.yaml).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]

ENTRYPOINT ["millrace"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]
