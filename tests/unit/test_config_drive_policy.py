"""Whether a new server gets a config drive (Nova's ``configdrive.required_by``): asked
for, forced by the cloud (``compute_force_config_drive``) or by the image
(``img_config_drive=mandatory``); the fake driver records it."""
from __future__ import annotations

import pytest

from kumo.compute.servers import config_drive_of


@pytest.mark.parametrize("asked, force, policy, want", [
    (None, False, None, ""), (False, False, None, ""), ("no", False, "optional", ""),
    (True, False, None, "True"), ("yes", False, None, "True"), ("1", False, None, "True"),
    (None, True, None, "True"), ("False", True, None, "True"),
    (None, False, "mandatory", "True"), (False, False, "mandatory", "True"),
])
def test_config_drive_of(asked, force, policy, want):
    assert config_drive_of(asked, force, policy) == want


def test_fake_driver_records_the_drive():
    from kumo.agent.virt.fake import FakeComputeDriver
    drv = FakeComputeDriver("h")
    drv.reconcile({"id": "a", "name": "instance-00000001", "config_drive": True})
    drv.reconcile({"id": "b", "name": "instance-00000002"})
    assert drv.instances["a"]["config_drive"] is True
    assert drv.instances["b"]["config_drive"] is False
    assert "config drive: /dev/sr0 (config-2)" in drv.console("a")
    assert "config drive" not in drv.console("b")
