"""Output directories: checked before work starts, locked while written, replaced only on success.

Contract (imports nothing from bnn2hw but ``bnn2hw.errors``; every stage may use it):

* ``check_output_dir(path, option)`` refuses with ``OutputDirError`` a path that is a file, lies
  below a file, or whose nearest existing ancestor is not a writable directory. Creates nothing.
* ``lock_output(path)`` (context manager) holds an exclusive ``fcntl.flock`` on
  ``PARENT/.NAME.lock``, beside the directory so that it also guards a directory being swapped;
  a second writer gets ``OutputDirError`` at once. The lock file is removed on release; one left
  by a killed process holds no lock (the kernel drops it) and is reused.
* ``replace_on_success(target)`` (context manager) yields a new empty temporary sibling
  ``PARENT/.NAME.tmp-PID``; when the block ends normally the temporary becomes ``target`` and
  the previous ``target`` is removed only after that; when it raises, the temporary is removed
  and ``target`` is untouched. For directories whose files hold only relative paths.
* ``restore_on_failure(target)`` (context manager) moves ``target`` aside to
  ``PARENT/.NAME.backup-PID`` and yields; the block writes a fresh ``target`` in place (for
  tools that record absolute paths, like FINN). On success the backup is removed; on an
  exception the partial ``target`` is removed and the backup moved back.
* Both first clean up what a killed writer left (``recover_interrupted(target)``, also for readers;
  call it under ``lock_output``): temporaries and trash are removed, a backup is restored in place
  of the partial directory beside it, and a moved-aside old directory is restored if the swap never
  happened.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
from pathlib import Path

from bnn2hw.errors import OutputDirError


def check_output_dir(path, option: str = "--out") -> Path:
    """``path`` as a Path, or ``OutputDirError`` if it cannot become a writable directory."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputDirError(f"{option} {path}: exists and is not a directory")
    ancestor = path
    while not ancestor.exists():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise OutputDirError(f"{option} {path}: {ancestor} is a file, not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputDirError(f"{option} {path}: {ancestor} is not writable")
    return path


def _sibling(target: Path, kind: str, pid: int | str = "") -> Path:
    target = Path(os.path.abspath(target))
    return target.parent / f".{target.name}.{kind}{'-' if pid != '' else ''}{pid}"


@contextlib.contextmanager
def lock_output(path):
    """Exclusive lock on the output directory ``path`` for the block (see module docstring)."""
    lock = _sibling(Path(path), "lock")
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputDirError(f"{path}: cannot create {lock.parent} ({err.strerror or err})") from None
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise OutputDirError(f"{path}: cannot create its lock file {lock} ({err.strerror or err})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EAGAIN, errno.EACCES):
                raise OutputDirError(f"{path}: another bnn2hw process is writing it (lock {lock}); "
                                     f"wait for it to finish") from None
            raise
        try:
            same_file = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same_file = False
        if same_file:
            break
        os.close(fd)  # the holder before us removed the file between our open and flock: retry
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
        yield Path(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _discard(path: Path) -> None:
    """Remove a directory by renaming it to trash first, so a kill mid-way leaves only trash."""
    trash = _sibling(path, "trash", os.getpid())
    os.rename(path, trash)
    _remove(trash)


def recover_interrupted(target: Path) -> None:
    """Undo what a killed writer of ``target`` left behind (module docstring)."""
    target = Path(os.path.abspath(target))
    if not target.parent.is_dir():
        return
    prefix = f".{target.name}."
    for leftover in sorted(target.parent.iterdir()):
        if not leftover.name.startswith(prefix):
            continue
        kind = leftover.name[len(prefix):].split("-", 1)[0]
        if kind in ("tmp", "trash"):
            _remove(leftover)
        elif kind == "backup":  # restore_on_failure was killed: target is partial
            if target.exists():
                _discard(target)
            os.rename(leftover, target)
        elif kind == "old":  # replace_on_success was killed between its two renames
            if target.exists():
                _discard(leftover)
            else:
                os.rename(leftover, target)


@contextlib.contextmanager
def replace_on_success(target):
    """Yield an empty temporary sibling of ``target``; it becomes ``target`` on success."""
    target = Path(target)
    recover_interrupted(target)
    tmp = _sibling(target, "tmp", os.getpid())
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    old = _sibling(target, "old", os.getpid())
    if target.exists():
        os.rename(target, old)
    os.rename(tmp, target)
    if old.exists():
        _discard(old)


@contextlib.contextmanager
def restore_on_failure(target):
    """Move ``target`` aside and yield it; put the old one back if the block raises."""
    target = Path(target)
    recover_interrupted(target)
    backup = _sibling(target, "backup", os.getpid())
    if target.exists():
        os.rename(target, backup)
    try:
        yield target
    except BaseException:
        if target.exists():
            _discard(target)
        if backup.exists():
            os.rename(backup, target)
        raise
    if backup.exists():
        _discard(backup)
