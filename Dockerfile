# One image for every breachwire service; docker-compose.yml picks the service with
# `command: ["breachwire", "run", "<service>"]` and owns the healthchecks.

# The wheel, built from the sources in a stage of its own: the image gets the installed package only, with
# templates/, rules/ and examples/datamap/ as its package data (runtime/resources.py), and no source tree.
FROM python:3.11-slim AS wheel

WORKDIR /src
# README.md* matches nothing harmlessly if the readme is absent; pyproject.toml always matches.
COPY pyproject.toml README.md* ./
COPY schemas/ schemas/
COPY runtime/ runtime/
COPY producers/ producers/
COPY consumers/ consumers/
COPY breachwire/ breachwire/
COPY templates/ templates/
COPY rules/ rules/
COPY examples/ examples/
RUN pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /wheels .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 breachwire \
 && useradd --system --uid 10001 --gid breachwire --home-dir /app --shell /usr/sbin/nologin breachwire

WORKDIR /app

# The wheel by its path (a name could be taken from an index instead), its dependencies from PyPI.
COPY --from=wheel /wheels/ /tmp/wheels/
RUN pip install --no-cache-dir "$(echo /tmp/wheels/breachwire-*.whl)[postgres]" \
 && rm -rf /tmp/wheels \
 && mkdir -p /app/.breachwire \
 && chown breachwire:breachwire /app/.breachwire

# Local state (the audit checkpoints): the folder docker-compose.yml keeps in a volume.
ENV BREACHWIRE_STATE_DIR=/app/.breachwire

USER breachwire

CMD ["breachwire", "--help"]
