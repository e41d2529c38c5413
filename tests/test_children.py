"""No process outlives ipxe-compat (issue 18, case 7): every external program runs through
ipxe_compat/runner.py, in a session of its own, and ends as a group on timeout, error, exit,
signal and when ipxe-compat itself is killed; nothing waits for end-of-file on a pipe a
grandchild holds.

Each test gives the processes it starts a token of its own in their command line and asserts,
from /proc, that none is left.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipxe_compat import runner
from tests import factory
from tests.conftest import require_tool


def _token() -> str:
    """Digits no other process has in its command line: ``sleep 300.TOKEN`` sleeps 300 s."""
    return str(uuid.uuid4().int)[:15]


def _command_lines() -> dict[int, str]:
    """Every live process's command line, from /proc (zombies have none: they are ended)."""
    lines = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:  # gone meanwhile
                continue
            if raw:
                lines[int(entry.name)] = raw.replace(b"\0", b" ").decode(errors="replace")
    return lines


def left(token: str, wait: float = 2.0) -> list[str]:
    """The processes whose command line holds ``token``, once the kernel has had ``wait``
    seconds to end those being killed."""
    deadline = time.monotonic() + wait
    while True:
        found = [f"{pid} {line}" for pid, line in _command_lines().items()
                 if token in line and pid != os.getpid()]
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@contextlib.contextmanager
def cleaned(*tokens: str) -> Iterator[None]:
    """Kill what a failing test left behind (by pid: such processes are no child of ours)."""
    try:
        yield
    finally:
        for token in tokens:
            for line in left(token, wait=0):
                with contextlib.suppress(OSError):
                    os.kill(int(line.split()[0]), signal.SIGKILL)


def sleeper(token: str) -> str:
    """A command line that sleeps, findable by ``token`` (a process of its own, not a shell)."""
    return f"sleep 300.{token}"


def test_a_background_child_holding_stdout_is_not_waited_for() -> None:
    """The command exits at once; its background child keeps stdout open. The old code waited
    for end-of-file: the full timeout ("-device help took over 30 s")."""
    token = _token()
    start = time.monotonic()
    result = runner.run(["sh", "-c", f"echo models; ({sleeper(token)} &); exit 0"], timeout=30)
    assert time.monotonic() - start < 5
    assert (result.status, result.stdout) == (0, b"models\n")
    assert left(token) == []


def test_a_hung_command_and_its_children_are_killed_on_timeout() -> None:
    token = _token()
    start = time.monotonic()
    with pytest.raises(runner.RunError, match="did not finish within 1 s"):
        runner.run(["sh", "-c", f"{sleeper(token)} & {sleeper(token)}"], timeout=1)
    assert time.monotonic() - start < 5
    assert left(token) == []


def test_a_wrapper_without_exec_is_killed_with_what_it_started() -> None:
    token = _token()
    with runner.Child(["sh", "-c", sleeper(token)]) as child:
        assert child.exited(0.2) is None
        assert len(left(token, wait=0)) >= 1
    assert left(token) == []


def test_a_killed_command_reports_its_signal_and_a_missing_one_names_its_package(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.run(["sh", "-c", "kill -TERM $$"], timeout=10).status == 128 + signal.SIGTERM
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(runner.ToolMissing,
                       match=r"cannot run zstd \(apt-get install zstd\): command not found"):
        runner.run(["zstd"], timeout=10)


def test_output_is_bounded() -> None:
    with pytest.raises(runner.RunError, match="printed more than 1000 bytes"):
        runner.run(["sh", "-c", "yes"], timeout=30, max_stdout=1000)
    result = runner.run(["sh", "-c", "yes flood | head -n 200000 >&2; echo why >&2; exit 3"],
                        timeout=30)
    assert len(result.stderr) == runner.MAX_STDERR
    assert (result.status, result.last_line()) == (3, "why")


DIES = """
import os, signal, sys, time
from ipxe_compat import runner
child = runner.Child(["sh", "-c", sys.argv[1]])
print(child.pid, flush=True)
time.sleep(0.5)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_sigkill_of_ipxe_compat_kills_its_children_too() -> None:
    """No code of ours runs after SIGKILL: the supervisor sees its lifeline end and kills the
    group."""
    token = _token()
    dead = subprocess.run([sys.executable, "-c", DIES, f"{sleeper(token)} & {sleeper(token)}"],
                          capture_output=True, text=True, check=False, timeout=30)
    assert dead.returncode == -signal.SIGKILL, dead.stderr
    assert left(token) == []


def test_kill_all_ends_what_runs_at_exit() -> None:
    token = _token()
    started = runner.Child(["sh", "-c", sleeper(token)])
    assert started.exited(0.2) is None
    runner.kill_all()
    assert left(token) == []


def _zombies() -> set[int]:
    """This process's children that have ended but were not reaped."""
    found = set()
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            state, ppid = (entry / "stat").read_text().rpartition(")")[2].split()[:2]
            if state == "Z" and int(ppid) == os.getpid():
                found.add(int(entry.name))
    return found


def test_detached_children_go_when_ipxe_compat_ends_not_before() -> None:
    """Review 2, item 7: ``setsid`` leaves the command's session, so the group kill missed it;
    its mark (the command's environment) ends it when ipxe-compat ends (kill_all). Not when its
    own command ends (review 3): a detached helper, say ssh's ControlPersist master, may serve
    commands still running. ipxe-compat is no subreaper: it is left no zombie."""
    mine, other = _token(), _token()
    zombies = _zombies()
    detach = "setsid {0} & (setsid {0} &); (setsid sh -c '{0} & exec {0}' &)"
    running = f"{detach.format(sleeper(other))}; exec {sleeper(other)}"
    ready = Path(tempfile.mkdtemp())
    # each detached process says when it has left the group, so the group kill at the end of
    # its command cannot catch it before (a race on a loaded machine)
    synced = ("setsid sh -c 'touch {d}/1; exec {s}' & (setsid sh -c 'touch {d}/2; exec {s}' &); "
              "(setsid sh -c '{s} & touch {d}/3; touch {d}/4; exec {s}' &); "
              "while [ $(ls {d} | wc -l) -lt 4 ]; do sleep 0.01; done").format(
                  d=ready, s=sleeper(mine))
    with cleaned(mine, other), runner.Child(["sh", "-c", running]):
        result = runner.run(["sh", "-c", f"{synced}; echo started"], timeout=10)
        shutil.rmtree(ready)
        assert result.stdout == b"started\n"
        deadline = time.monotonic() + 5
        while len(sleeping := [line for line in left(mine, wait=0)
                               if line.split()[1] == "sleep"]) < 4:
            assert time.monotonic() < deadline, sleeping
            time.sleep(0.05)
        assert len(sleeping) == 4  # the ended command's detached helpers serve on
        runner.kill_all()
        assert left(mine) == [] and left(other) == []
    assert _zombies() <= zombies


def test_a_runs_marks_are_its_own() -> None:
    """Review 3: a mark of pid and number alone was another ipxe-compat's too when it had our
    pid in a container (a PID namespace): a random nonce per run, new in a forked child."""
    parent = runner.Child(["true"])
    parent.kill()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one command, its token to the parent
        child = runner.Child(["true"])
        child.kill()
        os.write(write, child.token.encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as answer:
        token = answer.read().decode()
    assert token.split(".")[0] != parent.token.split(".")[0], (token, parent.token)
    assert len(parent.token.split(".")[0]) == 16


# --- through the command line -------------------------------------------------------------------

FAKE_QEMU = """#!/bin/sh
# TOKEN
if [ "$2" = help ]; then
    case "$FAKE" in
        background) (sleep 300.TOKEN &) ;;
        hang) sleep 300.TOKEN & sleep 300.TOKEN ;;
        setsid) setsid sleep 300.TOKEN & (setsid sleep 300.TOKEN &) ;;
    esac
    printf 'Network devices:\\nname "virtio-net-pci", bus PCI\\n\\n'
    exit 0
fi
exit 1
"""


def _fake_qemu(tmp_path: Path, token: str) -> Path:
    path = tmp_path / "fakeqemu"
    path.write_text(FAKE_QEMU.replace("TOKEN", token))
    path.chmod(0o755)
    return path


def _compat_dir(tmp_path: Path) -> Path:
    rom = factory.efi_rom()
    (tmp_path / "compat").mkdir()
    (tmp_path / "compat" / "256k-efi-virtio.rom").write_bytes(rom + b"\xff" * (262144 - len(rom)))
    return tmp_path / "compat"


def test_a_probe_whose_command_leaves_a_background_child_is_quick(tmp_path: Path) -> None:
    """-device help's background child held stdout: 30 s, then "took over 30 s" (case 7)."""
    token = _token()
    qemu = _fake_qemu(tmp_path, token)
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "ipxe_compat", "qemu-config",
                             str(_compat_dir(tmp_path)), "--qemu", f"./{qemu.name}",
                             "--fallback-builtin"], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "FAKE": "background"}, check=False, timeout=60)
    assert time.monotonic() - start < 10
    # the fake QEMU cannot start: a fallback, said on stderr, after a quick -device help
    assert result.returncode == 0, result.stderr
    assert "QEMU exited at start" in result.stderr and "using the built-in table" in result.stderr
    assert left(token) == []


def test_ctrl_c_prints_one_line_and_kills_a_hung_probe(tmp_path: Path) -> None:
    """Case 7 and 13: a hung command's children ran on after Ctrl-C, and click printed a blank
    line before 'interrupted'."""
    token = _token()
    qemu = _fake_qemu(tmp_path, token)
    probe = subprocess.Popen([sys.executable, "-m", "ipxe_compat", "qemu-config",
                              str(_compat_dir(tmp_path)), "--qemu", str(qemu)], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "FAKE": "hang"})  # ipxe-compat sets its own
    deadline = time.monotonic() + 20
    while len(left(token, wait=0)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    probe.send_signal(signal.SIGINT)
    stdout, stderr = probe.communicate(timeout=30)
    assert (probe.returncode, stdout, stderr) == (130, "", "ipxe-compat: error: interrupted\n")
    assert left(token) == []


def test_a_probe_whose_command_detaches_a_child_leaves_nothing(tmp_path: Path) -> None:
    """Review 2, item 7: a --qemu/--to-qemu wrapper's ``setsid`` child outlived ipxe-compat,
    re-parented to PID 1."""
    token = _token()
    qemu = _fake_qemu(tmp_path, token)
    with cleaned(token):
        result = subprocess.run([sys.executable, "-m", "ipxe_compat", "qemu-config",
                                 str(_compat_dir(tmp_path)), "--qemu", str(qemu),
                                 "--fallback-builtin"], cwd=tmp_path, capture_output=True,
                                text=True, env={**os.environ, "FAKE": "setsid"}, check=False,
                                timeout=60)
        assert result.returncode == 0, result.stderr
        assert left(token) == []


@pytest.mark.integration
def test_wrappers_without_exec_leave_no_qemu(tmp_path: Path) -> None:
    """A --qemu wrapper script that does not exec QEMU: qemu-config left the real QEMU running
    after exit 0, verify-migration left five (case 7)."""
    require_tool("qemu-system-x86_64")
    wrapper = tmp_path / "wrapper"
    wrapper.write_text(f"#!/bin/sh\n{shutil.which('qemu-system-x86_64')} \"$@\"\n")
    wrapper.chmod(0o755)
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # QEMU's argv names its private dir in it
    compat = _compat_dir(tmp_path)
    config = subprocess.run([sys.executable, "-m", "ipxe_compat", "qemu-config", str(compat),
                             "--qemu", "./wrapper"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, check=False, timeout=120)
    assert config.returncode == 0, config.stderr
    assert "-global virtio-net-pci-base.romfile=256k-efi-virtio.rom" in config.stdout
    assert left(str(tmp_path)) == []
    verify = subprocess.run([sys.executable, "-m", "ipxe_compat", "verify-migration", "--qemu",
                             str(wrapper), "--device", "e1000", "--device", "virtio-net-pci"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
                            timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "2 of 2 migrations completed" in verify.stdout
    assert left(str(tmp_path)) == []


def test_ipxe_compat_is_no_child_subreaper() -> None:
    """A subreaper inherits every orphan below it: the QEMU probes a libvirt session daemon
    daemonizes would stay its unreaped zombies, and that daemon waits for them to vanish."""
    import ctypes

    runner.run(["sh", "-c", "setsid true &"], timeout=10)
    libc = ctypes.CDLL(None, use_errno=True)
    flag = ctypes.c_int(-1)
    assert libc.prctl(37, ctypes.byref(flag), 0, 0, 0) == 0  # PR_GET_CHILD_SUBREAPER
    assert flag.value == 0
