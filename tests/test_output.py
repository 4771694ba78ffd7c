"""Output files: regular files only, links followed, modes kept, interrupted writes cleaned up."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap

import pytest

import planner.report.output as output
from planner.core.errors import EXIT_WRITE, OutputError
from planner.report.output import write_files

FIT_CSV = ("fit", "13B", "--latency", "100ms", "--format", "csv")
FIT_MARKDOWN = ("fit", "13B", "--latency", "100ms", "--gpu", "l4", "--format", "markdown")
CHARTS = ("plan-cost-latency.svg", "plan-memory.svg")  # written beside plan.md
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def _names(directory):
    return sorted(p.name for p in directory.iterdir())


def _refused(result, *words):
    assert result.exit_code == EXIT_WRITE, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr


# --- symbolic links: followed, the file they point to replaced atomically


def test_link_is_followed_and_stays_a_link(cli, tmp_path):
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "plan.csv"
    real.write_text("previous plan\n")
    link = tmp_path / "plan.csv"
    link.symlink_to(os.path.join("real", "plan.csv"))  # relative, as links usually are
    assert cli(*FIT_CSV, "-o", str(link)).exit_code == 0
    assert link.is_symlink() and os.readlink(link) == os.path.join("real", "plan.csv")
    assert real.read_text().startswith("line,acquisition,")
    assert _names(tmp_path / "real") == ["plan.csv"]


def test_dangling_link_creates_its_target_only_in_an_existing_directory(cli, tmp_path):
    link = tmp_path / "plan.csv"
    link.symlink_to(tmp_path / "made.csv")
    assert cli(*FIT_CSV, "-o", str(link)).exit_code == 0
    assert link.is_symlink() and (tmp_path / "made.csv").read_text().startswith("line,acquisition,")

    nowhere = tmp_path / "nowhere.csv"
    nowhere.symlink_to(tmp_path / "missing" / "plan.csv")
    _refused(cli(*FIT_CSV, "-o", str(nowhere)), "symbolic link", "does not exist")
    assert not (tmp_path / "missing").exists() and nowhere.is_symlink()


def test_link_to_a_fifo_or_a_loop_is_refused(cli, tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "plan.csv").symlink_to("pipe")
    _refused(cli(*FIT_CSV, "-o", str(tmp_path / "plan.csv")), "FIFO", "-o -")
    assert stat.S_ISFIFO(os.stat(tmp_path / "pipe").st_mode)
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    _refused(cli(*FIT_CSV, "-o", str(tmp_path / "a")), "too many levels of symbolic links")


@as_root
def test_link_planted_by_another_user_in_a_shared_directory_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    planted = shared / "plan.csv"
    planted.symlink_to(victim)
    os.lchown(planted, 4242, 4242)
    with pytest.raises(OutputError, match="owned by another user"):
        write_files({planted: "overwritten\n"})
    assert victim.read_text() == "precious\n"
    os.lchown(planted, os.geteuid(), os.getegid())  # one's own link is followed
    write_files({planted: "mine\n"})
    assert victim.read_text() == "mine\n"


# --- targets that are not regular files: refused, never replaced, never opened


def test_fifo_is_refused_without_blocking(cli, tmp_path):
    fifo = tmp_path / "plan.csv"
    os.mkfifo(fifo)
    _refused(cli(*FIT_CSV, "-o", str(fifo)), f"'{fifo}'", "FIFO", "-o -")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and _names(tmp_path) == ["plan.csv"]


def test_device_is_refused(cli, tmp_path):
    device = tmp_path / "null"
    try:
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    _refused(cli(*FIT_CSV, "-o", str(device)), "character device", "-o -")
    assert stat.S_ISCHR(os.lstat(device).st_mode) and _names(tmp_path) == ["null"]


def test_dash_is_standard_output(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli(*FIT_CSV, "-o", "-")
    assert result.exit_code == 0 and result.stdout.startswith("line,acquisition,")
    result = cli(*FIT_MARKDOWN, "-o", "-")
    assert result.exit_code == 0 and result.stdout.startswith("# Deployment plan")
    assert ".svg" not in result.stdout  # the Markdown alone, as without -o
    assert list(tmp_path.iterdir()) == []


# --- a replaced file keeps its mode (and, as root, its owner)


def test_replaced_file_keeps_its_mode_and_a_new_file_follows_the_umask(cli, tmp_path):
    secret = tmp_path / "plan.csv"
    secret.write_text("previous plan\n")
    secret.chmod(0o600)
    assert cli(*FIT_CSV, "-o", str(secret)).exit_code == 0
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and secret.read_text().startswith("line,")
    old = os.umask(0o027)
    try:
        write_files({tmp_path / "new.csv": "x\n"})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.csv").stat().st_mode) == 0o640


@as_root
def test_replaced_file_keeps_its_owner_as_root(tmp_path):
    shared = tmp_path / "plan.csv"
    shared.write_text("previous plan\n")
    os.chown(shared, 4242, 4343)
    shared.chmod(0o640)
    write_files({shared: "new plan\n"})
    status = shared.stat()
    assert (status.st_uid, status.st_gid, stat.S_IMODE(status.st_mode)) == (4242, 4343, 0o640)


# --- all or nothing, for the Markdown and its charts too


def test_markdown_and_charts_are_all_or_nothing(cli, tmp_path):
    report = tmp_path / "plan.md"
    report.write_text("previous report\n")
    os.mkfifo(tmp_path / CHARTS[-1])  # the last file of the set cannot be written
    _refused(cli(*FIT_MARKDOWN, "-o", str(report)), CHARTS[-1], "FIFO")
    assert report.read_text() == "previous report\n" and _names(tmp_path) == sorted(["plan.md", CHARTS[-1]])


def test_failure_while_writing_leaves_every_old_file(tmp_path, monkeypatch):
    first, second = tmp_path / "a.md", tmp_path / "b.svg"
    first.write_text("old a\n")
    calls = []

    def failing_fsync(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(output.os, "fsync", failing_fsync)
    with pytest.raises(OutputError, match="No space left on device"):
        write_files({first: "new a\n", second: "<svg/>"})
    assert first.read_text() == "old a\n" and _names(tmp_path) == ["a.md"]


# --- signals inside the write window


def test_sigint_mid_write_removes_the_temporary_file(cli, tmp_path, monkeypatch):
    target = tmp_path / "plan.csv"
    target.write_text("previous plan\n")
    before = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(output.os, "fsync", lambda fd: signal.raise_signal(signal.SIGINT))
    result = cli(*FIT_CSV, "-o", str(target))
    assert result.exit_code == 130 and "Traceback" not in result.stderr
    assert target.read_text() == "previous plan\n" and _names(tmp_path) == ["plan.csv"]
    assert signal.getsignal(signal.SIGINT) is before and signal.getsignal(signal.SIGTERM) is not output._raise_signalled


SLOW_WRITE = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    import planner.report.output as output

    def slow_fsync(fd):
        print("writing", flush=True)
        time.sleep(60)

    output.os.fsync = slow_fsync
    output.write_files({Path(sys.argv[1]): "new plan\\n"})
""")


def test_sigterm_mid_write_removes_the_temporary_file_and_terminates(tmp_path):
    target = tmp_path / "plan.csv"
    target.write_text("previous plan\n")
    child = subprocess.Popen([sys.executable, "-c", SLOW_WRITE, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "writing\n"  # inside the write window, the temporary file exists
        assert any(output.TEMP_MARK in name for name in _names(tmp_path))
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=10) == -signal.SIGTERM  # terminated by the signal, as without planner's handler
    finally:
        child.kill()
        child.stdout.close()
    assert target.read_text() == "previous plan\n" and _names(tmp_path) == ["plan.csv"]


def test_handlers_are_put_back_and_an_ignored_signal_stays_ignored(tmp_path):
    before = signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as under nohup
    try:
        sigint = signal.getsignal(signal.SIGINT)
        write_files({tmp_path / "plan.csv": "plan\n"})
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN and signal.getsignal(signal.SIGINT) is sigint
    finally:
        signal.signal(signal.SIGTERM, before)
