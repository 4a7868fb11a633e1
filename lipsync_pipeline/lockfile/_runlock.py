"""One live run per lockfile: ``renders.lock.run``, an ``flock`` that the kernel
drops when its holder dies, so two runs never interleave and a ``kill -9`` never
leaves a stale lock."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from lipsync_pipeline._fs import open_nofollow
from lipsync_pipeline.errors import RunLockHeld
from lipsync_pipeline.lockfile._paths import RUN_SUFFIX, run_lock_path

__all__ = ["RunLock"]


class RunLock:
    """One live run per lockfile: ``fcntl.flock`` on ``<lock>.run``.

    The kernel drops a flock when its holder dies (even by kill -9), so a dead holder
    never blocks the next run; the file's JSON ({pid, host, since}) only explains a refusal.
    """

    def __init__(self, lock_path: Path) -> None:
        self.path = run_lock_path(Path(lock_path))
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def acquire(self) -> None:
        """Take the lock or raise RunLockHeld; OSError when the file cannot be written
        (the caller may then decide that a run with nothing to write needs no lock)."""
        while True:
            # Never through a link: a committed `renders.lock.run -> ~/.bashrc` would
            # otherwise get our JSON written into it.
            fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_holder(fd)
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                lock = self.path.with_name(self.path.name.removesuffix(RUN_SUFFIX))
                raise RunLockHeld(f"another run is using {lock}: {holder}") from None
            # The previous holder unlinks the file before releasing it; if we locked that
            # unlinked inode, the path now names another file (or none): start over.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        except OSError:
            # Disk full at start: take back the file we may have just created (we hold
            # its flock, so it is ours to remove) rather than leave a 0-byte run lock.
            self._fd = fd
            self.release()
            raise
        self._fd = fd

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # while still holding it: see the inode check in __enter__
        os.close(self._fd)
        self._fd = None


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0))
        return f"held by pid {info['pid']} on {info['host']} since {info['since']}"
    except (ValueError, KeyError, TypeError, OSError):
        # The holder has locked the file but not yet written who it is.
        return "held by another run (not yet identified)"
