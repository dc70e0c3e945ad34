"""Files that ship beside the code (models/, alembic/, config/): found from the current
directory or from the repository the package runs from (an editable install, the image)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["REPO_ROOT", "find"]

REPO_ROOT = Path(__file__).resolve().parents[2]  # src/sentinel -> the repository


def find(relative: str | Path, marker: str = "", *, repo_first: bool = False) -> Path | None:
    """The first of ``./relative`` and ``<repository>/relative`` (the repository's first when
    ``repo_first``) in which ``marker`` exists (the path itself when ``marker`` is empty)."""
    bases = (REPO_ROOT, Path.cwd()) if repo_first else (Path.cwd(), REPO_ROOT)
    for base in bases:
        candidate = base / relative
        if (candidate / marker if marker else candidate).exists():
            return candidate
    return None
