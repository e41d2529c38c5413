"""generate's output is one transaction: after a fault at any step, OUTDIR holds the complete old
output or the complete new one, and after the next run nothing else (package/output.py).

Each step is found by running a transaction with a hook that records them (``output._fault``),
then the fault is injected at each: an exception, a real SIGTERM/SIGINT/SIGHUP sent to this very
process, and SIGKILL (in a child process, then the next run recovers). The command-line cases of
issue 18 follow: the working directory inside the tree, OUTDIR spelled through the tree, two runs
at once, a mount point inside the old tree, cleanup that fails (exit 4), a rollback that fails
(exit 5).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from ipxe_compat.errors import Interrupted, OutputError, OutputRestoreError
from ipxe_compat.package import output
from ipxe_compat.package.output import publish
from tests import factory
from tests.cli_run import run_cli
from tests.conftest import _cannot, require_root, require_tool

ORIG, TREE = "pkg_1.0.orig.tar.xz", "pkg-1.0"
NAMES = [ORIG, TREE]
ENV = {**os.environ, "DEBFULLNAME": "Test Maintainer", "DEBEMAIL": "test@example.org",
       "SOURCE_DATE_EPOCH": "1700000000"}


def make(out: Path, what: str) -> None:
    """An output set in ``out``: an orig tarball and a tree, each saying ``what``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / ORIG).write_text(what)
    (out / TREE).mkdir()
    (out / TREE / "debian").mkdir()
    (out / TREE / "debian" / "changelog").write_text(what)


def state(out: Path, staging: bool = False) -> str:
    """``old`` or ``new`` when OUTDIR holds exactly one complete set and nothing else (with
    ``staging``, a run's staging directory aside), else a description of what it holds."""
    entries = sorted(p.name for p in out.iterdir()
                     if not (staging and p.name.startswith(".ipxe-compat-")))
    if entries == sorted(NAMES):
        orig = (out / ORIG).read_text()
        tree = (out / TREE / "debian" / "changelog").read_text()
        if orig == tree and sorted(os.listdir(out / TREE)) == ["debian"]:
            return orig
    return f"mixed: {entries}"


def write_new(stage: Path) -> None:
    (stage / ORIG).write_text("new")
    (stage / TREE).mkdir()
    (stage / TREE / "debian").mkdir()
    (stage / TREE / "debian" / "changelog").write_text("new")


def steps() -> list[str]:
    """The steps of a --force replacement of both outputs, in order."""
    seen: list[str] = []
    previous = output._fault
    output._fault = seen.append  # type: ignore[assignment]
    try:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            make(Path(tmp) / "out", "old")
            with publish(Path(tmp) / "out", NAMES, force=True) as (stage, _):
                write_new(stage)
    finally:
        output._fault = previous  # type: ignore[method-assign]
    return seen


STEPS = steps()
#: Before the journal the swap has not begun: a fault leaves the old output.
BEFORE_SWAP = STEPS[:STEPS.index("journal")]


@pytest.fixture
def fault_at(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, Callable[[], None]], None]:
    """``fault_at(step, action)``: ``action`` runs when the transaction reaches ``step``."""
    def arm(step: str, action: Callable[[], None]) -> None:
        def hook(name: str) -> None:
            if name == step:
                action()
        monkeypatch.setattr(output, "_fault", hook)
    return arm


def test_the_steps_are_the_documented_ones() -> None:
    documented = ["made outdir", "locked", "made staging", "written", "journal",
                  *(f"aside {n}{d}" for n in sorted(NAMES) for d in ("", " done")),
                  *(f"in {n}{d}" for n in sorted(NAMES) for d in ("", " done")),
                  "committed", "cleaned"]
    assert documented == STEPS
    doc = output.__doc__ or ""
    assert all(f"``{step.split()[0]}" in doc for step in STEPS), "the docstring names each step"


@pytest.mark.parametrize("step", [s for s in STEPS if s not in ("committed", "cleaned")])
def test_an_error_at_any_step_keeps_the_old_output(tmp_path: Path, step: str, fault_at: Callable[
        [str, Callable[[], None]], None]) -> None:
    out = tmp_path / "out"
    make(out, "old")

    def fail() -> None:
        raise OSError(5, "Input/output error")

    fault_at(step, fail)
    with pytest.raises((OSError, OutputError), match="Input/output error"), \
            publish(out, NAMES, force=True) as (stage, _):
        write_new(stage)
    assert state(out) == "old"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP],
                         ids=["TERM", "INT", "HUP"])
@pytest.mark.parametrize("step", STEPS)
def test_a_signal_at_any_step_leaves_one_complete_output(
        tmp_path: Path, step: str, signum: int,
        fault_at: Callable[[str, Callable[[], None]], None]) -> None:
    """Before the swap a signal interrupts (old output); once it began, the run completes and
    says nothing of the signal: the output on disk is complete (issue 18, case 6)."""
    out = tmp_path / "out"
    make(out, "old")
    fault_at(step, lambda: os.kill(os.getpid(), signum))
    if step in BEFORE_SWAP:
        with pytest.raises(Interrupted, match=f"signal {signum}"), \
                publish(out, NAMES, force=True) as (stage, _):
            write_new(stage)
        assert state(out) == "old"
    else:
        with publish(out, NAMES, force=True) as (stage, report):
            write_new(stage)
        assert (state(out), report.left) == ("new", [])


KILLED = """
import os, signal, sys
from pathlib import Path
from ipxe_compat.package import output
def hook(name):
    if name == sys.argv[2]:
        os.kill(os.getpid(), signal.SIGKILL)
output._fault = hook
with output.publish(Path(sys.argv[1]), ["pkg-1.0", "pkg_1.0.orig.tar.xz"], force=True) as (s, _):
    (s / "pkg_1.0.orig.tar.xz").write_text("new")
    (s / "pkg-1.0" / "debian").mkdir(parents=True)
    (s / "pkg-1.0" / "debian" / "changelog").write_text("new")
"""


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_any_step_is_put_right_by_the_next_run(tmp_path: Path, step: str) -> None:
    out = tmp_path / "out"
    make(out, "old")
    killed = subprocess.run([sys.executable, "-c", KILLED, str(out), step], check=False,
                            capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    heard: list[str] = []
    with publish(out, [], force=False, notify=heard.append):  # the next run, writing nothing
        pass
    completed = step in ("in pkg_1.0.orig.tar.xz done", "committed", "cleaned")
    assert state(out) == ("new" if completed else "old"), heard
    if step in ("made outdir", "locked", "cleaned"):
        assert heard == []  # it left nothing to put right
    else:
        assert len(heard) == 1 and ".ipxe-compat-" in heard[0], heard


def test_a_rollback_that_fails_says_where_the_old_output_is_and_the_next_run_restores_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    make(out, "old")

    def hook(name: str) -> None:
        if name == f"in {TREE}":  # the orig tarball is in, the tree is not: undo both
            raise OSError(28, "No space left on device")
        if name == f"back in {ORIG}":
            raise OSError(30, "Read-only file system")

    monkeypatch.setattr(output, "_fault", hook)
    with pytest.raises(OutputRestoreError, match="Read-only file system") as caught, \
            publish(out, NAMES, force=True) as (stage, _):
        write_new(stage)
    assert caught.value.exit_code == 5
    stage = next(out.glob(".ipxe-compat-*"))
    assert f"it is in {stage}/old" in str(caught.value)
    assert (stage / "old" / ORIG).read_text() == "old"  # kept, not removed
    monkeypatch.setattr(output, "_fault", lambda _: None)
    heard: list[str] = []
    with publish(out, [], force=False, notify=heard.append):
        pass
    assert state(out) == "old"
    assert heard == [f"{stage}: restored the previous {TREE}, {ORIG} of an interrupted run"]


def test_a_second_run_waits_for_the_first_and_never_mixes(tmp_path: Path) -> None:
    if "faketime" in os.environ.get("LD_PRELOAD", ""):
        # reprotest's time variation runs the package's build-time tests under libfaketime, whose
        # timed waits on threads never time out: the join(0.5) below would wait for ever
        pytest.skip("libfaketime stops timed thread waits")
    out = tmp_path / "out"
    make(out, "old")
    inside, release = threading.Event(), threading.Event()
    heard: list[str] = []

    def first() -> None:
        with publish(out, NAMES, force=True) as (stage, _):
            write_new(stage)
            (stage / ORIG).write_text("first")
            (stage / TREE / "debian" / "changelog").write_text("first")
            inside.set()
            release.wait(10)

    def second() -> None:
        with publish(out, NAMES, force=True, notify=heard.append) as (stage, _):
            write_new(stage)

    one = threading.Thread(target=first)
    one.start()
    assert inside.wait(10)
    two = threading.Thread(target=second)
    two.start()
    two.join(0.5)
    assert two.is_alive() and heard == [f"waiting for another ipxe-compat writing into {out}"]
    assert state(out, staging=True) == "old"
    release.set()
    one.join(10)
    two.join(10)
    assert state(out) == "new"  # the second's, whole


def test_cleanup_that_fails_is_reported_with_what_is_left(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """As an immutable file (chattr +i) or a 0555 directory (not root) in the old tree does."""
    out = tmp_path / "out"
    make(out, "old")
    real_unlink = os.unlink

    def unlink(path: str | Path, *args: object, **kwargs: object) -> None:
        if str(path).endswith(f"old/{TREE}/debian/changelog"):
            raise PermissionError(1, "Operation not permitted")
        real_unlink(path)

    monkeypatch.setattr(os, "unlink", unlink)
    with publish(out, NAMES, force=True) as (stage, report):
        write_new(stage)
    assert report.left == [f"{stage.parent}/old/{TREE}/debian/changelog: Operation not permitted"]
    assert (out / ORIG).read_text() == "new"
    monkeypatch.setattr(os, "unlink", real_unlink)
    heard: list[str] = []
    with publish(out, [], force=False, notify=heard.append):
        pass
    assert state(out) == "new"
    assert heard == [f"{stage.parent}: an interrupted run had put its output in place "
                     f"({TREE}, {ORIG}): removed what it replaced"]


def test_a_directory_that_is_not_ours_is_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    make(out, "old")
    (out / ".ipxe-compat-mine").mkdir()
    (out / ".ipxe-compat-mine" / "notes.txt").write_text("mine")
    heard: list[str] = []
    with publish(out, [], force=False, notify=heard.append):
        pass
    assert (out / ".ipxe-compat-mine" / "notes.txt").read_text() == "mine"
    assert heard == [f"{out}/.ipxe-compat-mine is not a staging directory of this ipxe-compat: "
                     "left alone (remove it when no ipxe-compat runs)"]


# --- the command line ---------------------------------------------------------------------------

def _sources(d: Path) -> list[str]:
    (d / "src").mkdir()
    rom = factory.efi_rom()
    (d / "src" / "efi-virtio.rom").write_bytes(rom + b"\xff" * (256 * 1024 - len(rom)))
    (d / "cr").write_text(factory.COPYRIGHT)
    return [str(d / "src"), "--origin-source", "ipxe", "--origin-version", "1.0-1",
            "--origin-copyright", str(d / "cr")]


GEN_TREE = "ipxe-qemu-256k-compat-1.0"
GEN_ORIG = "ipxe-qemu-256k-compat_1.0.orig.tar.xz"


def ipxe_compat(*argv: str | Path, cwd: Path,
                prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    if not prefix:  # a process of its own, without a new interpreter (tests/cli_run.py)
        return run_cli(argv, cwd, ENV)
    return subprocess.run([*prefix, sys.executable, "-m", "ipxe_compat", *map(str, argv)],
                          cwd=cwd, env=ENV, capture_output=True, text=True, check=False,
                          timeout=120)


@pytest.fixture
def generated(tmp_path: Path) -> tuple[list[str], Path]:
    """generate's arguments and an OUTDIR holding its first output."""
    args = _sources(tmp_path)
    first = ipxe_compat("generate", *args, "-o", tmp_path / "out", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    return args, tmp_path / "out"


def _date(out: Path) -> str:
    return (out / GEN_TREE / "debian" / "changelog").read_text().splitlines()[-1]


@pytest.mark.parametrize("spelling", ["cwd", "through"])
def test_force_from_inside_the_tree_or_through_it(generated: tuple[list[str], Path],
                                                  spelling: str) -> None:
    """cd OUT/TREE && generate -o .. --force, and -o OUT/TREE/..: the new output in place
    (issue 18, case 1: the old tree was hidden in the staging directory and nothing put back)."""
    args, out = generated
    if spelling == "cwd":
        result = ipxe_compat("generate", *args, "-o", "..", "--force", "--date", "@1800000000",
                             cwd=out / GEN_TREE)
    else:
        result = ipxe_compat("generate", *args, "-o", out / GEN_TREE / "..", "--force",
                             "--date", "@1800000000", cwd=out.parent)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [GEN_TREE, GEN_ORIG]
    assert "2027" in _date(out)


def test_an_immutable_file_in_the_old_tree_is_exit_4_naming_it(
        generated: tuple[list[str], Path]) -> None:
    """Issue 18, case 4: exit 0 and a staging directory with the old tree left in OUTDIR."""
    require_tool("chattr")
    args, out = generated
    stuck = out / GEN_TREE / "stuck"
    stuck.write_text("x")
    made = subprocess.run(["chattr", "+i", str(stuck)], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        _cannot(f"chattr +i needs CAP_LINUX_IMMUTABLE: {made.stderr.strip()}")
    try:
        result = ipxe_compat("generate", *args, "-o", out, "--force", "--date", "@1800000000",
                             cwd=out.parent)
    finally:
        for path in out.glob(".ipxe-compat-*/old/*/stuck"):
            subprocess.run(["chattr", "-i", str(path)], check=True)
    assert result.returncode == 4, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith(f"ipxe-compat: error: {out}: the new output is complete, but what it "
                           "replaced could not all be removed: ")
    assert f"/old/{GEN_TREE}/stuck: Operation not permitted (remove it by hand" in line
    assert "2027" in _date(out)
    again = ipxe_compat("generate", *args, "-o", out, "--force", cwd=out.parent)
    assert again.returncode == 0, again.stderr  # the next run removes what is left
    assert sorted(p.name for p in out.iterdir()) == [GEN_TREE, GEN_ORIG]


def test_an_append_only_outdir_is_reported_not_ignored(tmp_path: Path) -> None:
    require_tool("chattr")
    args = _sources(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    made = subprocess.run(["chattr", "+a", str(out)], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        _cannot(f"chattr +a needs CAP_LINUX_IMMUTABLE: {made.stderr.strip()}")
    try:
        fresh = ipxe_compat("generate", *args, "-o", out, cwd=tmp_path)
        forced = ipxe_compat("generate", *args, "-o", out, "--force", cwd=tmp_path)
    finally:
        subprocess.run(["chattr", "-a", str(out)], check=True)
    assert fresh.returncode == 4, fresh.stderr  # complete, but its staging directory stays
    assert "could not all be removed" in fresh.stderr and "Operation not permitted" in fresh.stderr
    assert forced.returncode == 2, forced.stderr  # nothing can be moved aside: nothing replaced
    assert "cannot replace: Operation not permitted (nothing was replaced)" in forced.stderr
    assert (out / GEN_TREE).is_dir()
    assert [line for line in forced.stderr.splitlines() if "error" in line][-1].startswith(
        "ipxe-compat: error: ")


def test_a_mount_point_inside_the_old_tree_is_never_crossed(
        generated: tuple[list[str], Path]) -> None:
    """Issue 18, case 5: --force deleted the files of a directory bind-mounted into the tree."""
    require_root("a bind mount in a private mount namespace")
    require_tool("unshare", "mount")
    args, out = generated
    precious = out.parent / "precious"
    precious.mkdir()
    (precious / "file").write_text("keep\n")
    (out / GEN_TREE / "mnt").mkdir()
    inside = (f"mount --bind {precious} {out / GEN_TREE / 'mnt'} && exec \"$0\" \"$@\"")
    result = ipxe_compat("generate", *args, "-o", out, "--force", cwd=out.parent,
                         prefix=("unshare", "-m", "--propagation", "private", "sh", "-c", inside))
    if "unshare failed" in result.stderr or result.stderr.startswith("unshare: "):
        # e.g. sbuild's unshare chroot: "cannot change root filesystem propagation"
        _cannot(f"no mount namespace here: {result.stderr.strip()}")
    assert result.returncode == 2, result.stderr
    assert (f"{out / GEN_TREE}/mnt is a mount point: an output holding one is never replaced"
            in result.stderr)
    assert (precious / "file").read_text() == "keep\n"
    assert sorted(p.name for p in out.iterdir()) == [GEN_TREE, GEN_ORIG]


# --- every step of a --force --build-source run, through the command line -----------------------

DRIVER = """
import os, signal, sys
from ipxe_compat.package import output
step, signum = sys.argv[1], int(sys.argv[2])
def hook(name):
    if name == step:
        os.kill(os.getpid(), signum)
output._fault = hook
from ipxe_compat.cli import main
main(sys.argv[3:])
"""
#: A dpkg-source that does its work, then signals ipxe-compat (its supervisor's parent) and
#: hangs: a signal that lands while a tool runs.
SIGNALLING_DPKG_SOURCE = """#!/bin/sh
{real} "$@" || exit $?
kill -{signal} "$(ps -o ppid= -p "$PPID" | tr -d ' ')"
exec sleep 300.{token}
"""


def _consistent(out: Path) -> str:
    """``old`` or ``new`` (by the changelog date) when OUTDIR holds the five outputs of one run,
    each checksum in the .changes and .dsc matching the file beside it, and nothing else."""
    import hashlib
    entries = sorted(p.name for p in out.iterdir())
    if len(entries) != 5 or any(name.startswith(".") for name in entries):
        return f"mixed: {entries}"
    for listing in [*out.glob("*.changes"), *out.glob("*.dsc")]:
        text = listing.read_text()
        sums = text.split("Checksums-Sha256:\n", 1)[1].split("\n")
        for line in sums:
            if not line.startswith(" "):
                break
            digest, _, name = line.split()
            if hashlib.sha256((out / name).read_bytes()).hexdigest() != digest:
                return f"mixed: {listing.name} does not match {name}"
    changelog = next(out.glob("*/debian/changelog")).read_text()
    changes_date = next(out.glob("*.changes")).read_text().split("\nDate: ", 1)[1].split("\n")[0]
    if changes_date not in changelog:
        return "mixed: the .changes is of another run than the tree"
    return "new" if "2027" in changes_date else "old"


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL],
                         ids=["TERM", "INT", "KILL"])
def test_a_signal_at_every_step_of_a_forced_build_source_run(tmp_path: Path, signum: int) -> None:
    """Issue 18's "done when": a SIGTERM, SIGINT or SIGKILL at every step of a --force
    --build-source run leaves the complete old output or the complete new one, and after the
    next run nothing else; no process outlives ipxe-compat."""
    require_tool("dpkg-source", "dpkg-genchanges")
    args = [*_sources(tmp_path), "--build-source", "--distribution", "bookworm"]
    out = tmp_path / "out"
    token = _token()
    real = subprocess.run(["sh", "-c", "command -v dpkg-source"], capture_output=True,
                          text=True, check=True).stdout.strip()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dpkg-source").write_text(SIGNALLING_DPKG_SOURCE.format(
        real=real, signal=signum, token=token))
    (bin_dir / "dpkg-source").chmod(0o755)
    recorded = tmp_path / "steps"
    record = DRIVER.replace("    if name == step:\n        os.kill(os.getpid(), signum)",
                            f"    open({str(recorded)!r}, 'a').write(name + chr(10))")
    assert record != DRIVER
    first = ipxe_compat("generate", *args, "-o", out, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    listed = subprocess.run([sys.executable, "-c", record, "-", "0", "generate", *args, "-o",
                             str(out), "--force"], cwd=tmp_path, env=ENV, capture_output=True,
                            text=True, check=False)
    assert listed.returncode == 0, listed.stderr
    steps = recorded.read_text().split("\n")[:-1]
    assert len(steps) == 27  # 5 outputs: 4 + 2 x 10 + 3
    swap = steps.index("journal")
    for index, step in enumerate(["dpkg-source", *steps]):
        subprocess.run([sys.executable, "-m", "ipxe_compat", "generate", *args, "-o", str(out),
                        "--force"], cwd=tmp_path, env=ENV, check=True, capture_output=True)
        env = {**ENV, "PATH": f"{bin_dir}:{ENV['PATH']}"} if step == "dpkg-source" else ENV
        run = subprocess.run([sys.executable, "-c", DRIVER, step, str(int(signum)), "generate",
                              *args, "-o", str(out), "--force", "--date", "@1800000000"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
                             timeout=120)
        # a signal that lands once the swap began waits for it ("dpkg-source" is index 0, so
        # steps[i] is index i + 1); a SIGKILL is put right by the next run: the new output only
        # if all of it was in
        completes = index > swap if signum != signal.SIGKILL else step in steps[-3:]
        where = f"{signal.Signals(signum).name} at {step}: {run.stderr}"
        if signum == signal.SIGKILL:
            assert run.returncode == -signal.SIGKILL, where
            assert left(token) == [], where  # the hanging dpkg-source went with its group
            after = ipxe_compat("generate", *args, "-o", out, cwd=tmp_path)  # the next run
            assert after.returncode == 2 and "use --force" in after.stderr, where
        elif completes:
            assert (run.returncode, run.stderr) == (0, ""), where
        else:
            assert (run.returncode, run.stderr) == (
                130, "ipxe-compat: error: interrupted\n"), where
            assert left(token) == [], where
        assert _consistent(out) == ("new" if completes else "old"), where


def _token() -> str:
    from tests.test_children import _token as token
    return token()


def left(token: str, wait: float = 2.0) -> list[str]:
    from tests.test_children import left as processes
    return processes(token, wait)
