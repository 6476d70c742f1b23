"""What a namespace instance sees of the CPUs: a /proc/cpuinfo and a
/sys/devices/system/cpu/online showing only its flavor's vCPUs, as lxcfs does for
containers (the kernel's own files list every host CPU whatever the cgroup says).

The netns driver writes both files into the instance's directory (``cpuinfo``,
``cpu-online``) on every reconcile, and ``boot.sh`` bind-mounts them over
``/proc/cpuinfo`` and ``/sys/devices/system/cpu/online`` inside the instance's mount
namespace, so ``grep -c ^processor /proc/cpuinfo`` (Tempest's
``test_verify_created_server_vcpus``) says the flavor's ``vcpus``. The CPUs the instance
may run on come from its cpuset (:meth:`kumo.agent.virt.cgroups.Cgroups.cpus`), so
``nproc`` (``sched_getaffinity``) agrees when the flavor fits the host; a flavor asking
for more vCPUs than the host has sees that many processors (host blocks repeated, as a
VM overcommitting its host would) while running on all host CPUs.
"""
from __future__ import annotations

import re
from pathlib import Path

_PROCESSOR = re.compile(r"^processor\s*:\s*(\d+)\s*$", re.M)


def _blocks(text: str) -> dict[int, str]:
    """``{processor number: its block}`` of a /proc/cpuinfo text."""
    out: dict[int, str] = {}
    for block in re.split(r"\n\s*\n", text.strip()):
        m = _PROCESSOR.search(block)
        if m:
            out[int(m.group(1))] = block
    return out


def cpuinfo_for(vcpus: int, cpus: list[int] | None, host_text: str) -> str:
    """The /proc/cpuinfo of an instance with ``vcpus`` vCPUs running on host CPUs
    ``cpus`` (None or empty: any), from the host's ``host_text``: one block per vCPU,
    numbered 0..vcpus-1, each copied from the host CPU it runs on (cycling), with
    ``siblings``/``cpu cores`` set to ``vcpus``. A text without processor blocks (an
    architecture that writes cpuinfo differently) gets minimal ``processor`` lines."""
    blocks = _blocks(host_text)
    n = max(int(vcpus), 1)
    source = [c for c in (cpus or []) if c in blocks] or sorted(blocks)
    out = []
    for i in range(n):
        if not source:
            out.append(f"processor\t: {i}")
            continue
        b = _PROCESSOR.sub(f"processor\t: {i}", blocks[source[i % len(source)]], count=1)
        b = re.sub(r"^(siblings\s*:\s*)\d+", rf"\g<1>{n}", b, flags=re.M)
        b = re.sub(r"^(cpu cores\s*:\s*)\d+", rf"\g<1>{n}", b, flags=re.M)
        b = re.sub(r"^(core id\s*:\s*)\d+", rf"\g<1>{i}", b, flags=re.M)
        out.append(b)
    return "\n\n".join(out) + "\n\n"


def online_for(vcpus: int) -> str:
    """/sys/devices/system/cpu/online for ``vcpus`` vCPUs (``0`` or ``0-N``)."""
    n = max(int(vcpus), 1)
    return "0\n" if n == 1 else f"0-{n - 1}\n"


def write(instance_dir: Path, vcpus: int, cpus: list[int] | None,
          host_cpuinfo: Path = Path("/proc/cpuinfo")) -> None:
    """Write ``cpuinfo`` and ``cpu-online`` into ``instance_dir`` (atomically: a
    running instance's bind mount keeps the old file until its next boot)."""
    try:
        text = host_cpuinfo.read_text()
    except OSError:
        text = ""
    for name, body in (("cpuinfo", cpuinfo_for(vcpus, cpus, text)),
                       ("cpu-online", online_for(vcpus))):
        tmp = instance_dir / f".{name}.tmp"
        tmp.write_text(body)
        tmp.chmod(0o444)  # read by the instance's users (the agent's umask may be 077)
        tmp.replace(instance_dir / name)
