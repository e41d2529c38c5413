"""QMP over a QEMU's stdio and the answers part 4 of issue 21 reads (docs/cli.md, "QEMU commands
anywhere"), with fake QEMUs: fast. Real QEMUs in roots are in tests/test_qemu_anywhere.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ipxe_compat.qemu.discover import incoming_port
from ipxe_compat.qemu.qmp import Qemu, QmpError

#: A QEMU that speaks QMP on stdio only if given -chardev stdio, and can create no file.
FAKE = f"""#!{sys.executable}
import json, sys
if "stdio,id=ipxe-compat-qmp,signal=off" not in sys.argv:
    sys.exit("no QMP on stdio")
out = sys.stdout
out.write('{{"QMP": {{"version": {{}}, "capabilities": []}}}}\\n')
out.flush()
for line in sys.stdin:
    name = json.loads(line)["execute"]
    if name == "chardev-add":
        out.write('{{"error": {{"class": "GenericError", "desc": "No such file"}}}}\\n')
    else:
        out.write('{{"return": {{"qemu": {{"major": 10, "minor": 0, "micro": 13}}}}}}\\n')
    out.flush()
    if name == "quit":
        break
"""


def test_qmp_over_stdio_and_a_qemu_that_sees_no_private_directory(tmp_path: Path) -> None:
    fake = tmp_path / "fake-qemu"
    fake.write_text(FAKE)
    fake.chmod(0o755)
    with Qemu([str(fake)], tmp_path, "probe", [], 10) as qemu:
        assert qemu.command("query-version") == {"qemu": {"major": 10, "minor": 0, "micro": 13}}
        assert qemu.sees_workdir() is False
    assert not (tmp_path / "probe.seen").exists()


@pytest.mark.parametrize(("answer", "port"), [
    ({"status": "setup", "socket-address": [
        {"port": "37761", "ipv4": True, "host": "127.0.0.1", "type": "inet"}]}, 37761),
    ({"socket-address": [{"type": "unix", "path": "/x"},
                         {"type": "inet", "host": "127.0.0.1", "port": "5"}]}, 5),
])
def test_incoming_port_from_query_migrate(answer: object, port: int) -> None:
    assert incoming_port(answer) == port


@pytest.mark.parametrize("answer", [
    {"status": "setup"}, {"socket-address": "x"}, None,
    {"socket-address": [{"type": "inet", "port": "0"}]},
    {"socket-address": [{"type": "inet", "port": "65536"}]},
    {"socket-address": [{"type": "inet", "port": "٣"}]},  # a digit, but not ASCII
    {"socket-address": [{"type": "inet", "port": 80}]},
], ids=["none", "not-a-list", "null", "zero", "too-big", "arabic-digit", "a-number"])
def test_incoming_port_refuses_other_answers(answer: object) -> None:
    with pytest.raises(QmpError, match="query-migrate"):
        incoming_port(answer)
