"""What a reader's browser (or a newsroom's page) posts to `digest serve`: form-encoded or JSON
fields, read within bounds."""

from __future__ import annotations

import json

from werkzeug.wrappers import Request

FORM_LIMIT = 16 * 1024  # a one-click body is 26 bytes; the sign-up form's hardly more


def posted_fields(request: Request) -> dict:
    """The posted fields, form-encoded or JSON, bounded: {name: value or [values]}."""
    request.max_content_length = FORM_LIMIT
    request.max_form_memory_size = FORM_LIMIT
    request.max_form_parts = 64
    if request.mimetype == "application/json":
        try:
            data = json.loads(request.get_data(cache=True) or b"{}")
        except (ValueError, RecursionError):  # not JSON, or nested past Python's stack
            return {}
        return data if isinstance(data, dict) else {}
    return {key: values if len(values) > 1 or key == "sections" else values[0]
            for key, values in request.form.lists()}


def one(value: object) -> str:
    """A field's one text value ("" when it is missing or not text)."""
    if isinstance(value, list):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


def many(value: object) -> list[str]:
    """A repeated field's text values, at most 32."""
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, str)][:32]
