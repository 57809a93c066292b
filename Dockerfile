# One image for every breachwire service; docker-compose.yml picks the service with
# `command: ["breachwire", "run", "<service>"]` and owns the healthchecks.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 breachwire \
 && useradd --system --uid 10001 --gid breachwire --home-dir /app --shell /usr/sbin/nologin breachwire

WORKDIR /app

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

# Editable: settings find templates/, rules/ and examples/ next to the packages (runtime.settings.PROJECT_ROOT).
RUN pip install --no-cache-dir -e '/app[postgres]' \
 && mkdir -p /app/.breachwire \
 && chown breachwire:breachwire /app/.breachwire

USER breachwire

CMD ["breachwire", "--help"]
