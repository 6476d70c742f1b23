"""Rescue for the netns driver (Compute API "Rescue Server (rescue Action)"): the
instance boots the rescue image (``rescue_image_ref``, or the server's own image) on a
fresh layer, with the server's own root filesystem mounted at ``/mnt/rescue`` inside
(Nova attaches the original disk as a second disk; an overlay root has no block device,
so the netns driver shows it as a mounted tree: what a rescuer does with the second
disk, mount it and mend files, is done there). Unrescue boots the server's own root
again; the rescue layer is thrown away (as Nova's rescue disk is).

The desired instance carries ``"rescue": {image facts} | None``; the change restarts
the guest once (the API's rescue also bumps ``reboot_seq``, taken in the same restart).
Files: ``rescue-upper``/``rescue-work``/``rescue-root`` in the instance's directory
(``rescue-root`` is a copy of the rescue image's tree without overlayfs).
"""
from __future__ import annotations

import shutil
import subprocess

RESCUE_DIRS = ("rescue-upper", "rescue-work", "rescue-root")


class InstanceRescue:
    """The netns driver's part for rescue (mixed into
    :class:`kumo.agent.virt.netns.NetnsDriver`; uses its ``_dir``, ``_save``, ``_stop``,
    ``images`` and ``overlay``)."""

    def _rescue_changed(self, iid: str, instance: dict, meta: dict) -> bool:
        """Bring the instance's files to the desired rescue state; True when it changed
        (the guest was stopped and must boot again)."""
        want = (instance.get("rescue") or {}).get("id") or None
        if want == meta.get("rescue"):
            return False
        self._stop(iid, meta.get("name") or "", hard=True)
        d = self._dir(iid)
        for sub in RESCUE_DIRS:
            shutil.rmtree(d / sub, ignore_errors=True)
        if want:
            base = self.images.rootfs(instance["rescue"])
            if self.overlay:
                for sub in RESCUE_DIRS:
                    (d / sub).mkdir()
                (d / "rescue-upper").chmod(0o755)
            else:
                proc = subprocess.run(["cp", "-a", str(base), str(d / "rescue-root")],
                                      capture_output=True, text=True, timeout=600)
                if proc.returncode != 0:
                    raise RuntimeError(f"copying the rescue image: {proc.stderr[:300]}")
                (d / "rescue-root").chmod(0o755)
            meta.update(rescue=want, rescue_base=str(base))
        else:
            meta.pop("rescue", None)
            meta.pop("rescue_base", None)
        meta["reboot_seq"] = int(instance.get("reboot_seq") or 0)
        meta["power"] = None
        self._save(iid, meta)
        return True
