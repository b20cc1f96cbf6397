"""sha256 of files, read in large blocks: inputs of a run, shards of a build, model weights."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["sha256_files"]


def sha256_files(*paths: str | Path) -> str:
    """Hex sha256 of the files' bytes, one after the other (one path: that file's hash).

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile(delete=False) as f:
    ...     _ = f.write(b"abc")
    >>> sha256_files(f.name)[:16]
    'ba7816bf8f01cfea'
    >>> os.unlink(f.name)
    """
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            while block := f.read(1 << 22):
                digest.update(block)
    return digest.hexdigest()
