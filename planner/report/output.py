"""Write output files atomically: all or nothing.

Each file is written to a temporary file in the same directory, flushed to
disk, and renamed over the target only when every file of the set was
written. A failure leaves the old files as they were and no partial file
behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from planner.core.errors import OutputError


def _describe(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _file_mode() -> int:
    """What open() would give a new file under the current umask (mkstemp uses 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_files(files: dict[Path, str | bytes]) -> None:
    """Write every (path, content) pair, or none of them."""
    staged: list[tuple[str, Path]] = []
    mode = _file_mode()
    try:
        for path, content in files.items():
            directory = path.parent if str(path.parent) else Path(".")
            if not directory.is_dir():
                raise OutputError(f"cannot write '{path}': directory '{directory}' does not exist",
                                  hint="create it first or choose another -o path")
            if path.is_dir():
                raise OutputError(f"cannot write '{path}': it is a directory", hint="give a file name with -o")
            data = content.encode("utf-8") if isinstance(content, str) else content
            try:
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
            except OSError as exc:
                raise OutputError(f"cannot write '{path}': {_describe(exc)}",
                                  hint="check that the directory is writable") from None
            staged.append((tmp, path))
            os.chmod(tmp, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        for tmp, path in staged:
            os.replace(tmp, path)
        staged.clear()
    except OSError as exc:
        raise OutputError(f"cannot write output: {_describe(exc)}", hint="check the path and free space") from None
    finally:
        for tmp, _path in staged:
            try:
                os.unlink(tmp)
            except OSError:
                pass
