# The streamscore image: one image, the command picks the processor (score, join, ...).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY schemas ./schemas
COPY models ./models
RUN pip install --no-cache-dir -e . \
    && mkdir -p /var/lib/streamscore && chown 65534:65534 /var/lib/streamscore
ENV STREAMSCORE_MODEL_DIR=/app/models
USER 65534
ENTRYPOINT ["streamscore"]
