"""The README's quick start, run as written.

The code block under "Terminal 2" in README.md's "Quick start" is parsed from the
README itself and run, every line as written (the first ``export OS_CLOUD=kumo``
included), by one ``bash`` inside a simulated machine whose ``kumo up`` is Terminal 1.
Only what the README marks as the reader's to fill in is substituted:

- ``<vm2's fixed IP>``, ``<vm1's id>`` (any ``<NAME's fixed IP>`` / ``<NAME's id>``):
  the server's, looked up with the ``openstack`` CLI when the line runs;
- the floating IP the README says "say it gives ...": the one the cloud gave.

A ``ping`` line is retried (bounded) until it is answered, and ``console log show``
until it shows the user data's output: a server answers once its guest has booted,
which a reader would wait for too. Then, as the README's "Stopping"
says, Ctrl-C (SIGTERM) and ``kumo down``: the machine must be back to how it was before
``kumo up`` (no Kumo-named namespaces, links, nft tables or processes). The machine is
torn down pass or fail.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from kumo.sim import BIN
from tests.dataplane.machines import new_tag, started

README = Path(__file__).resolve().parents[2] / "README.md"
#: Seconds the whole quick start may take inside the machine.
SCRIPT_TIMEOUT_S = 600
#: A ping line is tried this many times, 2 s apart.
PING_TRIES = 30

PLACEHOLDER = re.compile(r"<([A-Za-z0-9_-]+)'s (fixed IP|id)>")
SAY_IT_GIVES = re.compile(r"#\s*say it gives (\d+\.\d+\.\d+\.\d+)")
#: The user data script's output line (``printf '#!/bin/sh\necho hello...\n'``).
USER_DATA_ECHO = re.compile(r"^printf '.*\\necho ([^\\']+)\\n'")

#: Shell functions the substitutions call (the CLI, as the reader would look it up).
PRELUDE = r"""
kumo_id() { openstack server show "$1" -f value -c id; }
kumo_fixed_ip() {
  openstack server show "$1" -f json -c addresses | python3 -c '
import json, sys
addresses = json.load(sys.stdin)["addresses"]
if isinstance(addresses, str):  # older clients: "net1=192.168.50.12"
    print(addresses.split("=")[1].split(",")[0].strip())
else:
    print(next(iter(addresses.values()))[0])'
}
"""


def quick_start_block(text: str) -> list[str]:
    """The lines of the first code block after "Terminal 2" in the "## Quick start"
    section of the README ``text``."""
    section = text.split("\n## Quick start", 1)[1].split("\n## ", 1)[0]
    after = section.split("Terminal 2", 1)[1]
    block = after.split("```", 2)[1]
    lines = block.split("\n")[1:]  # past the fence's own line
    return [line for line in lines if line.strip()]


def script_of(lines: list[str]) -> tuple[str, list[str]]:
    """``(bash script, the README lines)``: the lines with the README's placeholders
    substituted, ping lines retried; raises ValueError for a placeholder it does not
    know (a README change this test must learn about)."""
    out = ["set -e", PRELUDE, "set -v"]
    fip = said_text = None
    for line in lines:
        if fip is not None:
            line = line.replace(fip, "$kumo_fip")
        line = PLACEHOLDER.sub(lambda m: "$(kumo_id %s)" % shlex.quote(m[1])
                               if m[2] == "id" else
                               "$(kumo_fixed_ip %s)" % shlex.quote(m[1]), line)
        left = re.search(r"<[^<>]*>", line.split("#", 1)[0])
        if left:
            raise ValueError(f"unknown placeholder {left[0]!r} in: {line}")
        if "console log show" in line and said_text:
            # the console shows the user data's output once the guest ran it
            out += ["kumo_try=0", "until {", line,
                    f"}} | tee -a /dev/stderr | grep -qF {shlex.quote(said_text)}",
                    f"do kumo_try=$((kumo_try + 1)); [ $kumo_try -lt {PING_TRIES} ] || "
                    "exit 1; sleep 2; done"]
        elif re.search(r"(^|\s)ping\s", line):
            # until: a failing try is not an error (set -e), a bounded number of tries
            out += ["kumo_try=0", "until", line,
                    f"do kumo_try=$((kumo_try + 1)); [ $kumo_try -lt {PING_TRIES} ] || "
                    "exit 1; sleep 2; done"]
        else:
            out.append(line)
        echoed = USER_DATA_ECHO.search(line)
        if echoed:
            said_text = echoed[1]
        said = SAY_IT_GIVES.search(line)
        if said:
            fip = said[1]
            out.append('kumo_fip=$(openstack floating ip list -f value '
                       '-c "Floating IP Address" | head -n 1)')
    return "\n".join(out) + "\n", lines


def test_parse_the_quick_start():
    """The parser finds the README's block, as written, and knows its placeholders."""
    lines = quick_start_block(README.read_text())
    assert lines[0].startswith("export OS_CLOUD=kumo")
    assert any("openstack server create" in line for line in lines)
    script, _ = script_of(lines)
    assert "<" not in script.replace("<<", "").split("set -v", 1)[1].replace(
        "-lt", "")  # every placeholder substituted
    assert "$(kumo_fixed_ip vm2)" in script and "$(kumo_id vm1)" in script
    assert "ping -c 3 $kumo_fip" in script
    assert "grep -qF 'hello from user data'" in script
    with pytest.raises(ValueError, match="unknown placeholder"):
        script_of(["openstack server show <the server>"])


@pytest.fixture
def machine(tmp_path):
    with started(tmp_path, f"{new_tag()}-readme") as m:
        yield m


def test_readme_quick_start_as_written(machine):
    m = machine
    script, lines = script_of(quick_start_block(README.read_text()))
    work = m.dir / "terminal-2"  # the reader's working directory (hello.sh goes here)
    work.mkdir()
    # The reader's shell: openstack on PATH (make up links it), the clouds in
    # ~/.config/openstack/clouds.yaml (HOME is the machine's), OS_CLOUD from the README.
    env = {"PATH": f"{BIN}:{m.env.get('PATH', '/usr/bin:/bin')}", "OS_CLOUD": "",
           "OS_CLIENT_CONFIG_FILE": ""}
    proc = m.run(["bash", "-c", f"cd {shlex.quote(str(work))}\n{script}"], check=False,
                 timeout=SCRIPT_TIMEOUT_S, env=env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"the quick start failed:\n{output[-6000:]}"
    assert "hello from user data" in output  # the console log line of the README
    assert "instance-00000001" in output      # the admin's server show

    # Terminal 1's Ctrl-C, then `make down`: the machine is as before kumo up
    assert m.stop_cloud() is None
    down = m.kumo("down")
    assert "2 servers" in down.stdout, down.stdout
    assert m.kumo_objects() == {"namespaces": [], "links": [], "nft_tables": [],
                                "processes": []}
    links = [line.split(":")[1].strip() for line in
             m.run(["ip", "-o", "link", "show"]).stdout.splitlines()]
    assert links == ["lo"], links
    assert m.run(["nft", "list", "ruleset"]).stdout.strip() == ""
