"""Whether a new server gets a config drive (Nova's ``configdrive.required_by``): asked
for, forced by the cloud (``compute_force_config_drive``) or by the image
(``img_config_drive=mandatory``)."""
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
