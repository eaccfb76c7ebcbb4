"""Files of a run (or sweep) folder that survive crashes: atomic writes and a one-owner lock.

* :func:`atomic_write` writes to a temporary file ``NAME.XXXX.tmp`` in the same folder, flushes and
  fsyncs it, then ``os.replace``-s it over ``NAME``: a reader (or a crash) sees the old file or the
  new one, never half of one. A process killed while writing leaves the temporary file behind;
  :func:`remove_stale_temps` deletes those of known names when the folder's next owner starts.
* :class:`FolderLock` makes one process the owner of a folder: an exclusive ``flock`` on
  ``FOLDER/.lock``, which the operating system releases when the process ends in any way (also
  ``kill -9``), so a lock left by a dead process is free again. The owner writes its PID into the
  file so that a refused process can say who holds the folder. Without ``fcntl`` (Windows) there
  is no lock.
"""
from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import IO, Any, Iterator

from mamba_edu.training.errors import RunFolderBusyError

LOCK_NAME = ".lock"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: permissions of a new file (``mkstemp`` creates 0600; a run's files are as readable as any other)
_FILE_MODE = 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb", **kwargs: Any) -> Iterator[IO]:
    """``with atomic_write(path, "w") as f: f.write(...)``: the file appears complete at ``path`` when the
    block ends, or not at all if it raises (the temporary file is removed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            os.chmod(tmp, _FILE_MODE)
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_write(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def remove_stale_temps(folder: str | Path, names: tuple[str, ...]) -> list[Path]:
    """Delete ``folder/NAME.*.tmp`` left by a write that was killed, for each ``NAME`` in ``names``.
    Only the folder's owner may call it (another writer's temporary file would go too)."""
    removed = []
    for name in names:
        for tmp in Path(folder).glob(f"{name}.*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def _holder(path: Path) -> tuple[int | None, str]:
    """(PID, host) written by the lock's holder; it writes them right after locking, so wait a moment."""
    for _ in range(20):
        try:
            words = path.read_text().split()
        except OSError:
            words = []
        if words and words[0].isdigit():
            return int(words[0]), (words[1] if len(words) > 1 else "")
        time.sleep(0.05)
    return None, ""


class FolderLock:
    """``with FolderLock(folder, "run folder", hint):`` this process owns ``folder`` until the block ends.

    Raises :class:`~mamba_edu.training.errors.RunFolderBusyError` at once, naming the holder's PID and
    ``hint`` (what to do), if another live process holds it. Not re-entrant: a second lock on the same
    folder from the same process is refused too.
    """

    def __init__(self, folder: str | Path, what: str = "run folder", hint: str = "") -> None:
        self.folder, self.what, self.hint = Path(folder), what, hint
        self.path = self.folder / LOCK_NAME
        self.fh: IO | None = None

    def __enter__(self) -> "FolderLock":
        self.folder.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")   # not "w": the holder's PID must stay readable until we hold the lock
        try:
            import fcntl
        except ImportError:  # no fcntl (Windows): no protection against two owners
            self.fh = fh
            return self
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            pid, host = _holder(self.path)
            here = socket.gethostname()
            who = (f"PID {pid}" + (f" on {host}" if host and host != here else "")) if pid else "an unknown PID"
            raise RunFolderBusyError(f"{self.what} {self.folder} is in use by another process ({who}; lock "
                                     f"{self.path}){'; ' + self.hint if self.hint else ''}", pid) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()} {socket.gethostname()}\n")
        fh.flush()
        self.fh = fh
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.fh is not None:
            self.fh.close()      # releases the lock; the file stays (removing it would race a new owner)
            self.fh = None
