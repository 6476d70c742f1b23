"""Data-plane tests: real kernel objects inside network namespaces the tests create.

Skipped unless running as root with the ``ip`` and ``nft`` commands. Every namespace a
test makes is named ``kumo-t<hex>-...`` and removed in a ``finally``, pass or fail;
links live only inside those namespaces, so removing them removes everything. The
tests share the ``dataplane`` xdist group, so with ``--dist loadgroup`` they run on one
worker alongside the API tests.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from kumo.agent.dataplane import netns
from tests.dataplane import machines

HERE = Path(__file__).resolve().parent
REASON = machines.skip_reason("data-plane tests", ("ip", "nft"))


def pytest_collection_modifyitems(config, items):
    machines.mark_heavy(items, HERE, REASON)


@pytest.fixture
def tag() -> str:
    """A unique prefix for this test's objects: ``kumo-t<8 hex>``."""
    return machines.new_tag()


@pytest.fixture
def scratch(tag):
    """``make(suffix) -> Netns``: a fresh namespace ``<tag>-<suffix>`` in the machine's
    /run/netns; every one made is deleted at teardown."""
    made: list[str] = []
    machine = netns.Host()

    def make(suffix: str) -> netns.Netns:
        name = f"{tag}-{suffix}"
        made.append(name)
        return netns.ensure_netns(machine, name)

    try:
        yield make
    finally:
        for name in made:
            netns.delete_netns(machine, name)


@pytest.fixture
def hosts(tag):
    """``make(suffix) -> Host``: a simulated host: a namespace ``<tag>-<suffix>`` whose
    own named namespaces live in a private run dir ``/run/<tag>-<suffix>/netns``.
    Teardown removes the host's namespaces, its run dir and the host namespace."""
    made: list[netns.Host] = []
    machine = netns.Host()

    def make(suffix: str) -> netns.Host:
        root = netns.ensure_netns(machine, f"{tag}-{suffix}")
        host = netns.Host(netns=root.path, run_dir=f"/run/{tag}-{suffix}/netns")
        made.append(host)
        return host

    try:
        yield make
    finally:
        for host in made:
            try:
                netns.remove_run_dir(host)
                os.rmdir(os.path.dirname(host.run_dir))
            except OSError:
                pass
            netns.delete_netns_path(host.netns)
