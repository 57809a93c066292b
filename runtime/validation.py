"""Turning pydantic's error locations into the field paths that error messages name."""

from pydantic import ValidationError


def field_path(loc: tuple[int | str, ...]) -> str:
    """('contact', 'email') → 'contact.email'; ('regions', 0) → 'regions[0]'; () → ''."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def field_errors(error: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """(field path, message) for each error; ``prefix`` names where the validated value sits."""
    result = []
    for e in error.errors():
        path = field_path(e["loc"])
        if prefix:
            path = f"{prefix}.{path}" if path and not path.startswith("[") else prefix + path
        result.append((path, e["msg"]))
    return result
