# redsweep: the controller and the worker daemons (see docker-compose.yml).
# Build: docker build -t redsweep .   Your training code goes in /code (mount or COPY it).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY redsweep ./redsweep
RUN pip install . && useradd --create-home --uid 1000 redsweep && mkdir /code \
    && chown redsweep /code

USER redsweep
WORKDIR /code
# No default Redis: set REDSWEEP_REDIS_URL (redis://:PASSWORD@host:6379/0 or rediss://).
CMD ["redsweep", "worker"]
