"""The built-in templates and a newsletter's overrides of them, file by file."""

from __future__ import annotations

import difflib
import shutil
from dataclasses import dataclass
from pathlib import Path

from digest.config import Config
from digest.errors import DigestError
from digest.rendering.render import BUILTIN_TEMPLATES


@dataclass(frozen=True)
class TemplateStatus:
    name: str
    status: str  # "built-in", "overridden", "same as built-in", "custom"
    path: Path


def builtin_names() -> list[str]:
    return sorted(p.name for p in BUILTIN_TEMPLATES.glob("*.j2"))


def templates(config: Config) -> list[TemplateStatus]:
    """Every template the newsletter uses, and where it comes from."""
    folder = config.resolve(config.newsletter.templates)
    own = {p.name: p for p in folder.glob("*.j2")} if folder.is_dir() else {}
    rows = []
    for name in builtin_names():
        builtin = BUILTIN_TEMPLATES / name
        mine = own.pop(name, None)
        if mine is None or mine.resolve() == builtin.resolve():
            rows.append(TemplateStatus(name, "built-in", builtin))
        elif mine.read_bytes() == builtin.read_bytes():
            rows.append(TemplateStatus(name, "same as built-in", mine))
        else:
            rows.append(TemplateStatus(name, "overridden", mine))
    rows += [TemplateStatus(name, "custom", path) for name, path in sorted(own.items())]
    return rows


def copy_template(config: Config, name: str) -> Path:
    """Copy a built-in template into the newsletter's templates/ folder for editing."""
    names = builtin_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f'; did you mean "{close[0]}"?' if close else f"; templates: {', '.join(names)}"
        raise DigestError(f"no built-in template {name!r}{hint}")
    folder = config.resolve(config.newsletter.templates)
    target = folder / name
    if target.exists() and target.resolve() != (BUILTIN_TEMPLATES / name).resolve():
        raise DigestError(f"{config.newsletter.templates}/{name} already exists; edit it, or "
                          "delete it to go back to the built-in one")
    if target.exists():  # the built-in theme folder itself (this repository's sample)
        return target
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(BUILTIN_TEMPLATES / name, target)
    return target
