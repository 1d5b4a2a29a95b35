"""The data dir on disk: where it is, the PNGs under `outputs/<date>/`, and the owners' lock files.

A PNG is written to a temporary name and renamed, so a reader (or a crash) never sees half a file.
An owner is a server process that runs embedded jobs: it holds an exclusive `flock` on
`owners/<id>.lock` while it lives, and the OS drops the lock when the process dies, however it
dies (SIGKILL included), so another process can tell a dead owner's jobs from a live one's.
"""
import fcntl
import os
import time
import uuid
from pathlib import Path

from ..synthesis.paths import data_dir


def default_data_dir(environ=None) -> Path:
    """$ROBUST_CANVAS_DATA_DIR, else $XDG_DATA_HOME/robust-canvas, else ~/.local/share/robust-canvas."""
    return data_dir(environ)


def check_writable(data_dir: Path) -> None:
    """Create the data dir and write a file in it; OSError naming the dir when that fails."""
    try:
        (data_dir / "outputs").mkdir(parents=True, exist_ok=True)
        probe = data_dir / f".probe-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        error = OSError(f"the data dir {data_dir} is not writable ({e.strerror or e}): pass another "
                        "with --data-dir or ROBUST_CANVAS_DATA_DIR, or --no-store")
        error.errno = e.errno
        raise error from None


def write_png(data_dir: Path, created: float, name: str, data: bytes) -> str:
    """Write `outputs/<YYYY-MM-DD>/<name>.png` whole; returns its path relative to the data dir."""
    relative = Path("outputs") / time.strftime("%Y-%m-%d", time.localtime(created)) / f"{name}.png"
    path = data_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{name}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise
    return str(relative)


def read_png(data_dir: Path, relative: str) -> bytes | None:
    try:
        return (data_dir / relative).read_bytes()
    except FileNotFoundError:
        return None


def remove_png(data_dir: Path, relative: str) -> None:
    (data_dir / relative).unlink(missing_ok=True)


class Owner:
    """This process's owner id, held (an exclusive lock on its file) until `release`."""

    def __init__(self, data_dir: Path):
        self.folder = data_dir / "owners"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._file = open(self.folder / f"{self.id}.lock", "w")
        fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def alive(self, owner: str) -> bool:
        """Whether the owner `owner` (another process, or this one) still runs."""
        if owner == self.id or owner.startswith("ray:"):   # a Ray job store's jobs are its own (ray/store.py)
            return True
        path = self.folder / f"{owner}.lock"
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # got it: its process is gone
        except OSError:   # BlockingIOError: held by a live process
            return True
        finally:
            os.close(fd)
        path.unlink(missing_ok=True)
        return False

    def release(self) -> None:
        if not self._file.closed:
            (self.folder / f"{self.id}.lock").unlink(missing_ok=True)
            self._file.close()
