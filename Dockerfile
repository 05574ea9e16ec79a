# Sulh: one process, no extra services by default. See docs/operations.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SULH_DATA_DIR=/data \
    SULH_HOST=0.0.0.0

RUN useradd --system --home /app --uid 10001 sulh && mkdir -p /data && chown sulh /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY rooms ./rooms
COPY server ./server
COPY static ./static
COPY templates ./templates
RUN pip install --no-cache-dir .

USER sulh
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=3)" || exit 1
CMD ["python", "-m", "server"]
