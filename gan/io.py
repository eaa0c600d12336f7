"""Files written so that a crash never leaves half of one, and content hashes of files and tensors.

Every finished result of this project (checkpoints, metric caches, the classifier, status.json) goes through these
writers: a temporary file beside the target, fsynced, then renamed over it, so a reader or a process killed at any
instant sees either the old complete file or the new one.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

# Hashing reads the file in chunks of this size: memory stays flat for multi-GB checkpoints.
HASH_CHUNK_BYTES = 1 << 20
# Temporary files are named ".<target name>.<pid>.tmp"; `remove_stale_temporaries` finds them by this pattern.
TEMP_SUFFIX = ".tmp"


def _write_atomic(path: str | os.PathLike, write: Any) -> None:
    """Call `write(handle)` on a temporary file beside `path`, fsync it, rename it over `path`, fsync the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The pid keeps two writers (e.g. two DDP ranks by mistake) from sharing one temporary file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """`torch.save` to a temporary file beside `path`, fsync it, then rename it over `path`.

    `os.replace` is atomic on POSIX and Windows when both names are on one filesystem (hence the temporary file in the
    same directory).
    """
    import torch  # here, not at the top: gan-compare and the run-record readers use this module without torch

    _write_atomic(path, lambda handle: torch.save(obj, handle))


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Text through the same temporary-file-fsync-rename path as checkpoints: a reader never sees half a file."""
    data = text.encode()
    _write_atomic(path, lambda handle: handle.write(data))


def write_json_atomic(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2))


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms (Windows) cannot open directories; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


