# syntax=docker/dockerfile:1
# One image, two commands: gunicorn (wsgi.py) for HTTP, and for /ws/ uvicorn serving
# asgi.py (python -m realtime.socket_server, docker-compose.yml's `ws`).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements.txt

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=taskmanager.settings \
    VAR_DIR=/app/var \
    MEDIA_ROOT=/app/var/media \
    STATIC_ROOT=/app/static
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# What runs, and only that: no tests, benchmarks, CI or deploy files (nginx and
# Prometheus read deploy/ from the host). tests/taskmanager/test_deploy_files.py runs
# Django from exactly these files.
COPY manage.py gunicorn.conf.py ./
COPY taskmanager/ taskmanager/
COPY accounts/ accounts/
COPY activity/ activity/
COPY projects/ projects/
COPY tasks/ tasks/
COPY comments/ comments/
COPY notifications/ notifications/
COPY files/ files/
COPY webhooks/ webhooks/
COPY sync/ sync/
COPY exports/ exports/
COPY monitoring/ monitoring/
COPY realtime/ realtime/
COPY templates/ templates/
# Served at /api/asyncapi/.
COPY docs/asyncapi.yaml docs/asyncapi.yaml
# Static files are collected into the image (hashed names, compressed) for WhiteNoise.
# The key and database here exist for this build step only.
RUN SECRET_KEY=collectstatic-build-only DATABASE_URL=sqlite:////tmp/build.sqlite3 \
        python manage.py collectstatic --noinput --verbosity 0 \
    && rm -f /tmp/build.sqlite3 \
    && mkdir -p /app/var/media \
    && chown -R app:app /app/var
USER app
EXPOSE 8000 8001
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-m", "monitoring.healthcheck"]
# The workers share their metrics through this directory (gunicorn.conf.py empties it
# at start), so a scrape sums them instead of seeing one worker. Set on this command
# only: migrate and the scheduler are single processes and run without it, and the
# socket server makes a directory of its own for its workers (realtime.socket_server).
# Two sync workers per core of the 2-core target: a write's worker waits on PostgreSQL's
# commit and Redis, time another worker uses (docs/decisions/web-workers.md).
CMD ["env", "PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus", \
     "gunicorn", "taskmanager.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4"]
