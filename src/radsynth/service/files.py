"""Job output files: listing, confined path resolution, streamed zip archives."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path, PurePosixPath
from typing import Iterator


class PathRefused(ValueError):
    """A requested path would leave the job's output folder (``..``, absolute, a link out, NUL)."""


def list_files(root: Path) -> list[tuple[str, int]]:
    """(relative POSIX path, size) of every regular file under ``root``; links are not followed or listed."""
    out: list[tuple[str, int]] = []
    if not root.is_dir():
        return out
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        base = Path(folder)
        for name in sorted(files):
            p = base / name
            if p.is_symlink() or not p.is_file():
                continue
            out.append((p.relative_to(root).as_posix(), p.stat().st_size))
    return sorted(out)


def resolve_inside(root: Path, rel: str) -> Path:
    """The file ``root/rel``; :class:`PathRefused` when it is not inside ``root``; FileNotFoundError when absent."""
    if not rel or "\x00" in rel or "\\" in rel or rel.startswith("/"):
        raise PathRefused(rel)
    parts = PurePosixPath(rel).parts
    if any(p in ("..", "") for p in parts) or (parts and ":" in parts[0]):
        raise PathRefused(rel)
    base = root.resolve()
    try:
        target = (base / Path(*parts)).resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(rel) from None
    except (OSError, RuntimeError):  # symlink loops, names too long
        raise PathRefused(rel) from None
    if not target.is_relative_to(base):
        raise PathRefused(rel)
    if not target.is_file():
        raise FileNotFoundError(rel)
    return target


class _Sink(io.RawIOBase):
    """Write-only, non-seekable buffer that zipfile streams into (it then writes data descriptors)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self._buf += b
        self._pos += len(b)
        return len(b)

    def tell(self) -> int:
        return self._pos

    def take(self) -> bytes:
        data = bytes(self._buf)
        self._buf.clear()
        return data


def iter_zip(root: Path, files: list[str], *, prefix: str = "", chunk: int = 1 << 20) -> Iterator[bytes]:
    """Stream a zip of ``files`` (relative to ``root``) chunk by chunk; memory stays ~``chunk``."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True) as zf:
        for rel in files:
            src = root / rel
            info = zipfile.ZipInfo.from_file(src, arcname=f"{prefix}{rel}")
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(src, "rb") as fh, zf.open(info, "w", force_zip64=True) as dst:
                for block in iter(lambda: fh.read(chunk), b""):
                    dst.write(block)
                    data = sink.take()
                    if data:
                        yield data
            data = sink.take()
            if data:
                yield data
    data = sink.take()
    if data:
        yield data
