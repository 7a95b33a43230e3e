"""Replace a file in object storage whole: write a temporary sibling, then move it over the final name."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath


@contextmanager
def replacing(final: ObjectStoragePath) -> Iterator[ObjectStoragePath]:
    """A hidden ``.partial`` sibling of ``final`` to write; moved over ``final`` when the block ends, else removed.

    A reader of the folder never sees half a file, and a write that fails (or is killed) leaves none behind.
    """
    temporary = final.parent / f".{final.name}.{uuid.uuid4().hex}.partial"
    try:
        yield temporary
        temporary.move(final)
    except BaseException:
        try:
            if temporary.exists():
                temporary.unlink()
        except OSError:
            pass
        raise
