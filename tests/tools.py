"""Run external tools in tests so that a failure explains itself.

When dpkg-buildpackage, sbuild, lintian, apt-get or QEMU fails inside a test, the assertion
message must say which command, its exit status and what it printed on stderr (and stdout, which
is where sbuild and lintian write): an opaque "exit status 100" sends the reader to rerun by hand.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

TAIL = 3000


def explain(result: subprocess.CompletedProcess[str], tail: int = TAIL) -> str:
    """``COMMAND exited N`` with the last ``tail`` characters of its stderr and stdout."""
    argv = result.args if isinstance(result.args, str) else " ".join(map(str, result.args))
    parts = [f"{argv} exited {result.returncode}"]
    for name, text in (("stderr", result.stderr), ("stdout", result.stdout)):
        if text and text.strip():
            parts.append(f"--- {name} (last {tail} characters):\n{text[-tail:]}")
    return "\n".join(parts)


def run(argv: Sequence[str | Path], *, cwd: Path | None = None,
        env: Mapping[str, str] | None = None, umask: int | None = None, check: bool = True,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command with captured text output; with ``check``, a failure fails the test with
    :func:`explain`'s message. ``env`` is added to the current environment."""
    result = subprocess.run(
        [str(a) for a in argv], cwd=cwd, text=True, capture_output=True, check=False, input=input,
        env={**os.environ, **(env or {})},
        preexec_fn=None if umask is None else (lambda: os.umask(umask)),
    )
    if check and result.returncode != 0:
        pytest.fail(explain(result), pytrace=False)
    return result


def tool_error(result: subprocess.CompletedProcess[str]) -> RuntimeError:
    """For helpers outside a test body (fixtures' downloads): an exception carrying the story."""
    return RuntimeError(explain(result))
