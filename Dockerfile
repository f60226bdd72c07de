# edusoc: one image for the API, the collectors and the scheduler (see docker-compose.yml).
# The console is built by Node in a stage of its own; the image keeps only its build.
FROM node:20-slim AS console
WORKDIR /console
COPY soc_api/console/package.json soc_api/console/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY soc_api/console/ ./
RUN npm run build

FROM python:3.11-slim
WORKDIR /app
# OWASP CRS 3.3.4 (Debian's modsecurity-crs) for detection.crs; the libmodsecurity wheel brings the engine
RUN apt-get update && apt-get install -y --no-install-recommends modsecurity-crs && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY soc_core soc_core
COPY sensors sensors
COPY collectors collectors
COPY detection_rules detection_rules
COPY inventory inventory
COPY incidents incidents
COPY playbooks playbooks
COPY reports reports
COPY duty duty
COPY notices notices
COPY zero_reports zero_reports
COPY compliance compliance
COPY drills drills
COPY soc_api soc_api
COPY --from=console /console/dist soc_api/console/dist
COPY edusoc edusoc
COPY config config
RUN pip install --no-cache-dir . "psycopg[binary]>=3.1"
# pySigma's Elasticsearch backend declares pysigma<2 but works with pySigma 2 (tests/test_detection_scheduled.py)
RUN pip install --no-cache-dir --no-deps "pysigma-backend-elasticsearch==2.1.1"
RUN useradd --system --home /var/lib/edusoc edusoc && mkdir -p /var/lib/edusoc && chown edusoc /var/lib/edusoc
USER edusoc
ENV EDUSOC_DATA_DIR=/var/lib/edusoc
EXPOSE 8000
ENTRYPOINT ["edusoc"]
CMD ["run", "--host", "0.0.0.0", "--port", "8000"]
