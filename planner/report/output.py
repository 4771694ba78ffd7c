"""Write output files atomically: all or nothing.

Each file is written to a temporary file in its target's directory, flushed
to disk, and renamed over the target only when every file of the set was
written. A failure leaves the old files as they were and no partial file
behind. planner is often run as root in CI, so the target is checked before
anything is written:

- **Regular files only.** An existing target that is a character or block
  device, a FIFO or a socket is refused (renaming over ``/dev/null`` would
  turn the device into a plain file; opening a FIFO would block). To send
  output to a pipe or discard it, the CLI takes ``-o -`` for standard output.
- **Symbolic links are followed**, as a shell's ``>`` follows them: the file
  the link finally points to is replaced atomically and the link stays a
  link. A dangling link is followed too (the file it names is created),
  but only into a directory that exists. A link to a non-regular file is
  refused like the file itself. Like the kernel's ``fs.protected_symlinks``,
  a link in a sticky, world-writable directory (``/tmp``) is refused unless
  it belongs to the user running planner or to the directory's owner: that
  is where someone else could plant ``/tmp/plan.csv -> /etc/passwd``.
  The links are resolved once, then every step works relative to the open
  directory, so swapping a link afterwards cannot redirect the write.
- **A replaced file keeps its permissions**, and its owner and group where
  the user may set them (root may; anyone may keep their own): a 0600 file
  stays 0600. A new file gets the mode the umask gives any new file. (A
  replaced file gets a new inode: other hard links to it keep the old text.)
- **Interrupted writes clean up.** While the files are written, SIGINT and
  SIGTERM remove the temporary files, then the previous handlers are put
  back and the signal is delivered again: SIGINT becomes KeyboardInterrupt
  (the CLI exits 130), SIGTERM terminates the process as it would have
  (exit status 143 in a shell, -15 from ``subprocess``). A signal ignored
  before the write stays ignored. SIGKILL cannot be caught: it can leave a
  temporary file, named ``.NAME.planner-XXXXXXXX.tmp`` next to ``NAME``,
  safe to delete (``find DIR -name '.*.planner-*.tmp' -delete``).
"""

from __future__ import annotations

import os
import secrets
import signal
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from planner.core.errors import OutputError

TEMP_MARK = ".planner-"  # in every temporary file's name: .NAME.planner-XXXXXXXX.tmp
_MAX_LINKS = 40  # the kernel's own limit on links followed in one path (ELOOP)
_KINDS = {
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
}


def _describe(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _file_mode() -> int:
    """What open() would give a new file under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _refuse_planted_link(link: Path, shown: Path) -> None:
    """Refuse a link someone else could have planted, by the kernel's protected_symlinks rule."""
    try:
        here = os.lstat(link)
        parent = os.stat(link.parent if str(link.parent) else ".")
    except OSError:
        return
    shared = parent.st_mode & stat.S_ISVTX and parent.st_mode & stat.S_IWOTH
    if shared and here.st_uid not in (os.geteuid(), parent.st_uid):
        raise OutputError(f"cannot write '{shown}': it is a symbolic link owned by another user "
                          f"in the shared directory '{link.parent}'",
                          hint="remove the link or choose another -o path")


def _resolve(path: Path) -> Path:
    """The file `path` names once its symbolic links are followed; the directory must exist."""
    target = path
    for _ in range(_MAX_LINKS):
        directory = target.parent if str(target.parent) else Path(".")
        if not directory.is_dir():
            missing = (f"'{directory}' is not a directory" if directory.exists()
                       else f"directory '{directory}' does not exist")
            if target != path:
                missing = f"it is a symbolic link to '{target}', and {missing}"
            raise OutputError(f"cannot write '{path}': {missing}",
                              hint="choose another -o path" if directory.exists()
                              else "create the directory first or choose another -o path")
        if not target.is_symlink():
            return Path(os.path.realpath(directory)) / target.name
        _refuse_planted_link(target, path)
        target = directory / os.readlink(target)
    raise OutputError(f"cannot write '{path}': too many levels of symbolic links",
                      hint="point -o at a file, not a loop of links")


def _check_existing(path: Path, target: Path, dir_fd: int) -> os.stat_result | None:
    """The existing target's status (None if there is none); refuse anything but a regular file."""
    try:
        status = os.stat(target.name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    where = "" if target == path else f" (the symbolic link's target '{target}')"
    if stat.S_ISDIR(status.st_mode):
        raise OutputError(f"cannot write '{path}': it is a directory{where}", hint="give a file name with -o")
    if not stat.S_ISREG(status.st_mode):
        kind = _KINDS.get(stat.S_IFMT(status.st_mode), "not a regular file")
        raise OutputError(f"cannot write '{path}': it is {kind}{where}, and planner replaces only regular files",
                          hint="use -o - for standard output, to pipe or discard it, or choose a file")
    return status


def _keep_owner_and_mode(fd: int, old: os.stat_result | None, new_mode: int) -> None:
    if old is None:
        os.fchmod(fd, new_mode)
        return
    if os.geteuid() in (0, old.st_uid):
        try:  # before the chmod: chown clears the set-user-ID and set-group-ID bits
            os.fchown(fd, old.st_uid, old.st_gid)
        except OSError:
            pass  # best effort: a group the user is not in, a file system without owners
    os.fchmod(fd, stat.S_IMODE(old.st_mode))


class _Signalled(BaseException):
    """A signal arrived while the files were written; carries its number."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_signalled(signum: int, _frame: object) -> None:
    for other in (signal.SIGINT, signal.SIGTERM):  # a second signal must not cut the clean-up short
        if signal.getsignal(other) is _raise_signalled:
            signal.signal(other, signal.SIG_IGN)
    raise _Signalled(signum)


@contextmanager
def _signals_clean_up() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into an exception while inside; deliver them again once out."""
    previous: dict[int, object] = {}
    try:
        if threading.current_thread() is threading.main_thread():  # only there can handlers be set
            for signum in (signal.SIGINT, signal.SIGTERM):
                handler = signal.getsignal(signum)
                if handler is not signal.SIG_IGN:
                    previous[signum] = handler
                    signal.signal(signum, _raise_signalled)
        yield
    except _Signalled as caught:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        previous.clear()
        signal.raise_signal(caught.signum)
        # the previous handler returned: the write stays abandoned
        raise OutputError(f"cannot write output: interrupted by {signal.Signals(caught.signum).name}",
                          hint="nothing was written; run it again") from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]


def write_files(files: dict[Path, str | bytes]) -> None:
    """Write every (path, content) pair, or none of them; see the module docstring."""
    with _signals_clean_up():
        _write_all(files)


def _write_all(files: dict[Path, str | bytes]) -> None:
    mode = _file_mode()
    dir_fds: dict[Path, int] = {}
    staged: list[tuple[int, str, str]] = []  # (directory fd, temporary name, target name)
    try:
        plan = []
        for path, content in files.items():
            if path.is_dir():
                raise OutputError(f"cannot write '{path}': it is a directory", hint="give a file name with -o")
            target = _resolve(path)
            if target.parent not in dir_fds:
                try:
                    dir_fds[target.parent] = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                except OSError as exc:
                    raise OutputError(f"cannot write '{path}': {_describe(exc)}",
                                      hint="check that the directory is readable") from None
            dir_fd = dir_fds[target.parent]
            old = _check_existing(path, target, dir_fd)
            plan.append((path, target, dir_fd, old, content))
        for path, target, dir_fd, old, content in plan:
            data = content.encode("utf-8") if isinstance(content, str) else content
            tmp = f".{target.name}{TEMP_MARK}{secrets.token_hex(4)}.tmp"
            staged.append((dir_fd, tmp, target.name))  # before it exists, so a signal cannot orphan it
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                             dir_fd=dir_fd)
            except OSError as exc:
                staged.pop()  # never remove a file this run did not create
                raise OutputError(f"cannot write '{path}': {_describe(exc)}",
                                  hint="check that the directory is writable") from None
            try:
                _keep_owner_and_mode(fd, old, mode)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
        for dir_fd, tmp, name in staged:
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        staged.clear()
        for dir_fd in dir_fds.values():
            try:
                os.fsync(dir_fd)  # make the renames durable
            except OSError:
                pass
    except OSError as exc:
        raise OutputError(f"cannot write output: {_describe(exc)}", hint="check the path and free space") from None
    finally:
        for dir_fd, tmp, _name in staged:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except OSError:
                pass
        for dir_fd in dir_fds.values():
            os.close(dir_fd)
