"""Writes the JSON Schema of every message under ``schemas/json/`` (``make schemas``)."""

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from schemas.messages import (
    IncidentAssessed,
    IncidentReported,
    InvalidMessage,
    NoticeDead,
    NoticeRequested,
    NoticeRetry,
    NoticeSent,
)
from schemas.report import Report

MODELS: dict[str, type[BaseModel]] = {
    "report": Report,
    "incident-reported": IncidentReported,
    "incident-assessed": IncidentAssessed,
    "notice-requested": NoticeRequested,
    "notice-sent": NoticeSent,
    "notice-dead": NoticeDead,
    "notice-retry": NoticeRetry,
    "invalid-message": InvalidMessage,
}

JSON_DIR = Path(__file__).resolve().parent / "json"


def render() -> dict[str, str]:
    """File name → JSON Schema text, exactly as ``write`` puts it on disk."""
    return {
        f"{name}.schema.json": json.dumps(
            model.model_json_schema(by_alias=True, mode="validation"), indent=2, sort_keys=True
        )
        + "\n"
        for name, model in MODELS.items()
    }


def write(directory: Path = JSON_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write(Path(sys.argv[1]) if len(sys.argv) > 1 else JSON_DIR):
        print(path)
