"""Atomic file writes.

A file is written to a hidden temporary file in the same folder
(``.<name>.tmp-<pid>-<thread>``), flushed to disk with ``fsync`` and then
``os.replace``-d onto its final name, so a reader (or a resumed run) never sees a
half-written file: the final path either does not exist or is complete. On error
the temporary file is removed and the final path is left untouched.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_CHUNK = 1 << 20


def temp_path_for(final_path: str | os.PathLike[str]) -> Path:
    """Temporary sibling of ``final_path`` used by :func:`atomic_path`."""
    final = Path(final_path)
    return final.parent / f".{final.name}.tmp-{os.getpid()}-{threading.get_ident()}"


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(final_path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path; on success move it onto ``final_path``.

    The caller writes the complete file to the yielded path. When the block
    exits normally the file is fsync'd and atomically renamed to ``final_path``
    (replacing an existing file). When the block raises, or writes nothing, the
    temporary file is removed and the error propagates (a block that creates no
    file raises ``FileNotFoundError``). The parent folder is created if missing.
    """
    final = Path(final_path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(final)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(final.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the final path."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically with ``\\n`` newlines."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()
