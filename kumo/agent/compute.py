"""The compute side of the per-host agent: runs the instances the controller placed on
its host with a compute driver (:mod:`kumo.agent.virt`).

Data flow (the same machinery as the data-plane :class:`kumo.agent.agent.Agent`)::

    Informer over /compute/kumo/v1/{state,changes}  --changed ids-->  WorkQueue
         |                                                              | workers
         v                                                              v
    desired instances  <---- latest instance ----  ComputeDriver.reconcile / destroy
                                                                        |
    POST /compute/kumo/v1/instances/{id}/status  <-- status + console tail (changes only)
    POST /compute/kumo/v1/hosts/heartbeat        <-- every agent_heartbeat_s and at start
                                                     (capacity; boot time, load, users)

- **Level-triggered**: a queued id means "look at this instance again"; the worker
  reads the latest desired instance (``None``: destroy it). Every ``resync_s`` all ids
  are queued again, the informer relists and orphans are destroyed.
- **Failures**: :class:`kumo.agent.virt.VirtError` is reported as the instance's
  ``error`` (the API reschedules or sets ERROR) and not retried until the instance's
  ``revision`` changes; other exceptions are retried per instance with backoff
  (0.5 s to 30 s).
- **Status**: after each reconcile, and every ``status_interval_s`` (0.5 s) from a
  monitor thread that asks :meth:`~kumo.agent.virt.ComputeDriver.status` and
  :meth:`~kumo.agent.virt.ComputeDriver.console` of idle instances, the agent posts
  ``{"host", "power_state", "reboot_seq", "rebuild_seq", "error", "console"}`` when
  anything changed since its last post (``console``: the last 64 KiB of the log when
  it changed, else ``null``). A 404/409 answer (gone, moved) is dropped.
- **Diagnostics**: the monitor also asks
  :meth:`~kumo.agent.virt.ComputeDriver.diagnostics` (CPU time, memory, NIC and disk
  counters) of each instance, at first and then every ``diagnostics_interval_s``
  (``agent_compute_diagnostics_interval_s``, 10 s), and adds them to the status post
  as ``diagnostics`` when they changed (the API keeps the last, for Nova's server
  diagnostics).
- **Snapshots**: an instance whose desired state carries ``snapshot`` (createImage,
  createBackup, shelve) is, after its reconcile, packed by the driver
  (:meth:`~kumo.agent.virt.ComputeDriver.snapshot`) into a temporary file and streamed
  to ``PUT /compute/kumo/v1/instances/{id}/snapshots/{image_id}``; a failure is posted
  to the same path (the API ends the task and deletes the image). See
  :mod:`kumo.compute.snapshots`.
- **Restarts**: the driver re-adopts what runs; nothing is restarted by an agent start.
- **Kernel drift**: a driver's optional ``watch`` (its own thread) requeues an instance
  whose host objects changed behind the agent's back (the netns driver: a deleted tap),
  so the repair comes in about a second, not at the next resync.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import socket
import threading
import time

from kumo.agent import client as api
from kumo.agent.controller import Backoff, Controller
from kumo.agent.virt import NOSTATE, ComputeDriver, InstanceStatus, VirtError

LOG = logging.getLogger(__name__)
KIND = "instances"
CONSOLE_MAX = 65536


class ComputeClient:
    """The agent's client for the compute routes (``<compute root>/kumo/v1/...``, the
    compute root being the catalog's compute endpoint without its version:
    ``http://h/compute/v2.1`` -> ``http://h/compute``; see :mod:`kumo.agent.client`)
    and image downloads (``<image root>/v2/images/{id}/file``, the catalog's image
    endpoint). Built on a :class:`kumo.agent.client.ControllerClient` for transport and
    errors (:class:`~kumo.agent.client.Gone`, ``NotFound``, ``ControllerUnavailable``,
    ``ControllerError``); the Informer uses :meth:`snapshot` and :meth:`changes`."""

    def __init__(self, transport: api.ControllerClient,
                 images: api.ControllerClient | None = None):
        self.transport = transport
        self.images = images or transport.for_service("image")

    @classmethod
    def from_controller(cls, ctrl: api.ControllerClient,
                        endpoint: str | None = None) -> "ComputeClient":
        """Share ``ctrl``'s session; the compute root is ``endpoint`` (e.g.
        ``http://h:5000/compute``) or, looked up on first use, the catalog's."""
        return cls(ctrl.for_service("compute", endpoint), ctrl.for_service("image"))

    @property
    def endpoint(self) -> str:
        """The compute root (a catalog lookup on first use)."""
        return self.transport.root()

    # The feed is the networking one's under the compute root: the same client code
    # (no ``fetch``: the Informer re-reads the per-host snapshot on changes).
    def snapshot(self, host: str) -> dict:
        """``GET /kumo/v1/state?host=H`` -> ``{"revision", "instances": [...]}``."""
        return self.transport.snapshot(host)

    def changes(self, since: int, host: str, wait: float = 0.0) -> dict:
        """``GET /kumo/v1/changes?since=R&host=H&wait=S`` (long poll; ``Gone`` on 410)."""
        return self.transport.changes(since, host, wait)

    def report_status(self, instance_id: str, body: dict) -> None:
        """``POST /kumo/v1/instances/{id}/status`` -> 204; ``NotFound`` (404) when the
        instance is gone, ``ControllerError`` 409 when it is no longer on the host."""
        self.transport.call("POST", f"/kumo/v1/instances/{instance_id}/status", body)

    def upload_snapshot(self, instance_id: str, image_id: str, host: str,
                        path: str) -> None:
        """``PUT /kumo/v1/instances/{id}/snapshots/{image_id}?host=H`` with the file at
        ``path`` (streamed) -> 204 (the image is active). ``NotFound`` (404),
        ``ControllerError`` (409/413...), ``ControllerUnavailable``."""
        with open(path, "rb") as f:
            resp = self.transport.request(
                "PUT", f"/kumo/v1/instances/{instance_id}/snapshots/{image_id}",
                params={"host": host}, data=f, timeout=600.0,
                headers={"Content-Type": "application/octet-stream",
                         "Content-Length": str(os.fstat(f.fileno()).st_size)})
        if resp.status_code == 404:
            raise api.NotFound(resp.text[:300])
        if resp.status_code >= 500:
            raise api.ControllerUnavailable(resp.text[:300], resp.status_code)
        if resp.status_code >= 300:
            raise api.ControllerError(resp.status_code, resp.text[:300])

    def snapshot_failed(self, instance_id: str, image_id: str, host: str,
                        error: str) -> None:
        """``POST /kumo/v1/instances/{id}/snapshots/{image_id}`` ``{"host", "error"}``:
        the snapshot ends failed (the API deletes the image) -> 204."""
        self.transport.call("POST", f"/kumo/v1/instances/{instance_id}/snapshots/"
                            f"{image_id}", {"host": host, "error": error[:60000]})

    def config_drive(self, instance_id: str, host: str) -> dict[str, bytes]:
        """``GET /kumo/v1/instances/{id}/config_drive?host=H`` -> the drive's files,
        ``{path: content}``. ``NotFound`` (404), ``ControllerError`` 409 (not on the
        host, or no config drive), ``ControllerUnavailable``."""
        body = self.transport.call("GET", f"/kumo/v1/instances/{instance_id}/config_drive",
                                   params={"host": host})
        return {k: base64.b64decode(v) for k, v in body["files"].items()}

    def heartbeat(self, body: dict) -> None:
        """``POST /kumo/v1/hosts/heartbeat`` -> 204."""
        self.transport.call("POST", "/kumo/v1/hosts/heartbeat", body)

    def image_url(self, image_id: str) -> str:
        """The Glance download URL of ``image_id`` (``<image root>/v2/images/{id}/file``)."""
        return self.images.root() + f"/v2/images/{image_id}/file"

    def download(self, image_id: str, chunk: int = 1 << 20):
        """An iterator over the image's data (``GET <image root>/v2/images/{id}/file``,
        streamed). ``NotFound``/``ControllerError``/``ControllerUnavailable``."""
        resp = self.images.request("GET", f"/v2/images/{image_id}/file", stream=True,
                                   timeout=120.0)
        if resp.status_code == 404:
            raise api.NotFound(f"image {image_id}")
        if resp.status_code >= 300:
            if resp.status_code >= 500:
                raise api.ControllerUnavailable(resp.text[:300], resp.status_code)
            raise api.ControllerError(resp.status_code, resp.text[:300])
        return resp.iter_content(chunk)


class ComputeAgent(Controller):
    """The compute agent of ``host``: watches ``client`` (a :class:`ComputeClient` or
    anything with its methods) and drives ``driver``. Times are in seconds."""

    kinds = (KIND,)
    name = "compute"
    #: Transient reconcile failures: retried per instance after ``RETRY_MIN_S``,
    #: doubling up to ``RETRY_MAX_S`` (no jitter).
    RETRY_MIN_S = 0.5
    RETRY_MAX_S = 30.0

    def __init__(self, client, host: str, driver: ComputeDriver, workers: int = 4,
                 resync_s: float = 120.0, heartbeat_s: float = 30.0, wait_s: float = 20.0,
                 status_interval_s: float = 0.5, availability_zone: str = "nova",
                 diagnostics_interval_s: float = 10.0):
        super().__init__(client, host, workers=workers, resync_s=resync_s,
                         heartbeat_s=heartbeat_s, wait_s=wait_s, batch=1)
        self.driver = driver
        self.status_interval_s = status_interval_s
        self.diagnostics_interval_s = diagnostics_interval_s
        self.availability_zone = availability_zone
        self._retry = Backoff(self.RETRY_MIN_S, self.RETRY_MAX_S, jitter=None)
        self._busy: dict[str, threading.Lock] = {}
        self._failures: dict[str, int] = {}
        #: instance id -> the desired revision whose boot failed for good
        self._failed: dict[str, tuple[int, str]] = {}
        self._sent: dict[str, tuple] = {}
        self._console_sent: dict[str, str] = {}
        #: instance id -> (monotonic time of the last look, digest of the diagnostics sent)
        self._diag_sent: dict[str, tuple[float, str]] = {}
        #: snapshot image ids taken (uploaded or reported failed), oldest first
        self._snapped: dict[str, None] = {}
        #: where snapshots are packed before the upload (None: the system's temp dir)
        self.snapshot_dir: str | None = getattr(driver, "snapshot_dir", None)
        self.heartbeats = 0

    # -- lifecycle ---------------------------------------------------------------
    def describe(self) -> str:
        return f"driver {self.driver.name}"

    def extra_threads(self):
        return [("monitor", self._monitor)]

    def watches(self):
        """The driver's ``watch`` (instance ids it requeues go to the queue)."""
        if type(self.driver).watch is ComputeDriver.watch:
            return []
        return [("driver", lambda stop: self.driver.watch(
            lambda iid: self.queue.add((KIND, iid)), stop))]

    def stop_drivers(self) -> None:
        """Stop the driver; instances keep running."""
        try:
            self.driver.stop()
        except Exception:  # noqa: BLE001
            LOG.exception("compute driver %s: stop failed", self.driver.name)

    # -- the desired state (the queue, workers and timer: Controller) -----------------
    def desired(self, instance_id: str) -> dict | None:
        return self.informer.get((KIND, instance_id))

    # -- workers -------------------------------------------------------------------
    def _busy_lock(self, instance_id: str) -> threading.Lock:
        with self._lock:
            return self._busy.setdefault(instance_id, threading.Lock())

    def process_batch(self, keys: list) -> None:
        for key in keys:
            self.process(key[1])

    def process(self, instance_id: str) -> bool:
        """Reconcile (or destroy) one instance and report; True when it succeeded."""
        inst = self.desired(instance_id)
        with self._busy_lock(instance_id):
            try:
                if inst is None:
                    self.driver.destroy(instance_id)
                    self._forget(instance_id)
                    return True
                rev = int(inst.get("revision") or 0)
                with self._lock:
                    failed = self._failed.get(instance_id)
                if failed is not None and failed[0] == rev:
                    return True  # failed for good at this revision; wait for a change
                status = self.driver.reconcile(inst)
            except VirtError as e:
                LOG.error("%s: reconcile of instance %s by driver %s failed (reported "
                          "to the API): %s", self.host, instance_id, self.driver.name, e)
                with self._lock:
                    self._failed[instance_id] = (rev, str(e) or type(e).__name__)
                    self._failures.pop(instance_id, None)
                try:
                    self.driver.destroy(instance_id)
                except Exception:  # noqa: BLE001
                    LOG.exception("cleaning failed instance %s", instance_id)
                self._report(instance_id, InstanceStatus(
                    NOSTATE, int(inst.get("reboot_seq") or 0),
                    int(inst.get("rebuild_seq") or 0), str(e) or type(e).__name__))
                return False
            except Exception:  # noqa: BLE001 - retried with backoff
                with self._lock:
                    n = self._failures[instance_id] = self._failures.get(instance_id, 0) + 1
                delay = self._retry.delay(n)
                LOG.exception("%s: reconcile of instance %s by driver %s failed "
                              "(attempt %d, retrying in %.1f s)", self.host, instance_id,
                              self.driver.name, n, delay)
                self.queue.add_after((KIND, instance_id), delay)
                return False
            with self._lock:
                self._failures.pop(instance_id, None)
                self._failed.pop(instance_id, None)
            if inst.get("snapshot"):
                try:
                    self._snapshot(instance_id, inst["snapshot"].get("image_id") or "")
                except Exception:  # noqa: BLE001 - the API is unreachable: again later
                    LOG.exception("%s: snapshot of instance %s not delivered; retrying",
                                  self.host, instance_id)
                    self.queue.add_after((KIND, instance_id), self.RETRY_MAX_S / 6)
            self._report(instance_id, status)
            return True

    def _snapshot(self, instance_id: str, image_id: str) -> None:
        """Take and upload the pending snapshot ``image_id`` (once per image; the feed
        drops it when the API recorded the end). A failure the API should know of
        (the driver cannot, the image was deleted, the store is full) is reported as the
        snapshot's failure; an unreachable API raises (the instance is retried)."""
        with self._lock:
            if image_id in self._snapped:
                return
        import tempfile
        error = None
        fd, path = tempfile.mkstemp(prefix=f".snap-{image_id}-", suffix=".tar.gz",
                                    dir=self.snapshot_dir)
        os.close(fd)
        try:
            try:
                self.driver.snapshot(instance_id, path)
                self.client.upload_snapshot(instance_id, image_id, self.host, path)
                LOG.info("%s: snapshot %s of instance %s uploaded (%d bytes)", self.host,
                         image_id, instance_id, os.path.getsize(path))
            except VirtError as e:
                error = str(e) or type(e).__name__
            except api.NotFound as e:
                error = f"the image or the instance is gone: {e}"
            except api.ControllerError as e:
                error = f"upload refused ({e.status}): {e}"
            except api.ControllerUnavailable:
                raise
            except Exception as e:  # noqa: BLE001 - a failure the API must hear of
                LOG.exception("snapshot %s of instance %s", image_id, instance_id)
                error = f"{type(e).__name__}: {e}"
            if error is not None:
                LOG.error("%s: snapshot %s of instance %s failed: %s", self.host,
                          image_id, instance_id, error)
                try:
                    self.client.snapshot_failed(instance_id, image_id, self.host, error)
                except (api.NotFound, api.ControllerError):
                    pass  # the instance or its snapshot is gone already
            with self._lock:
                self._snapped[image_id] = None
                while len(self._snapped) > 1024:
                    self._snapped.pop(next(iter(self._snapped)))
        finally:
            try:
                os.unlink(path)
            except OSError:
                pass

    def _forget(self, instance_id: str) -> None:
        with self._lock:
            for d in (self._sent, self._console_sent, self._diag_sent, self._failures,
                      self._failed):
                d.pop(instance_id, None)
            self._busy.pop(instance_id, None)

    # -- status reports ------------------------------------------------------------
    def _diagnostics_due(self, instance_id: str) -> tuple[dict, str] | None:
        """The driver's diagnostics of the instance and their digest when they are to
        be sent: never sent yet, or ``diagnostics_interval_s`` after the last look and
        changed since the last send; else None."""
        now = time.monotonic()
        with self._lock:
            last = self._diag_sent.get(instance_id)
        if last is not None and now - last[0] < self.diagnostics_interval_s:
            return None
        try:
            diag = self.driver.diagnostics(instance_id)
        except Exception:  # noqa: BLE001
            LOG.exception("diagnostics of %s", instance_id)
            return None
        if diag is None:
            return None
        digest = hashlib.sha1(json.dumps(diag, sort_keys=True).encode()).hexdigest()
        if last is not None and last[1] == digest:
            with self._lock:
                self._diag_sent[instance_id] = (now, digest)  # look again later
            return None
        return diag, digest

    def _report(self, instance_id: str, status: InstanceStatus,
                diagnostics: tuple[dict, str] | None = None) -> None:
        """Post ``status`` (and the console tail when it changed, and ``diagnostics``
        from :meth:`_diagnostics_due` when given) unless already sent."""
        version = (status.power_state, status.reboot_seq, status.rebuild_seq, status.error,
                   status.volumes)
        console = None
        try:
            console = self.driver.console(instance_id, CONSOLE_MAX)
        except Exception:  # noqa: BLE001
            LOG.exception("console of %s", instance_id)
        digest = hashlib.sha1(console.encode()).hexdigest() if console is not None else None
        with self._lock:
            same = self._sent.get(instance_id) == version
            console_same = digest is None or self._console_sent.get(instance_id) == digest
        if same and console_same and diagnostics is None:
            return
        body = {"host": self.host, "power_state": status.power_state,
                "reboot_seq": status.reboot_seq, "rebuild_seq": status.rebuild_seq,
                "error": status.error, "console": None if console_same else console}
        if status.volumes is not None:
            body["volumes"] = list(status.volumes)
        if diagnostics is not None:
            body["diagnostics"] = diagnostics[0]
        try:
            self.client.report_status(instance_id, body)
        except api.NotFound:
            pass  # deleted meanwhile: the feed will tell us
        except api.ControllerError as e:
            if e.status == 400 and diagnostics is not None:
                # counters the API refuses must not hold back the status itself: send
                # it without them (and do not offer the same figures again)
                LOG.warning("diagnostics of %s refused (%s): status sent without them",
                            instance_id, e)
                with self._lock:
                    self._diag_sent[instance_id] = (time.monotonic(), diagnostics[1])
                self._report(instance_id, status)
                return
            if e.status != 409:
                LOG.warning("status of %s (%s): %s", instance_id, status.power_state, e)
                return
        except Exception:  # noqa: BLE001
            LOG.exception("status of %s", instance_id)
            return
        with self._lock:
            self._sent[instance_id] = version
            if digest is not None:
                self._console_sent[instance_id] = digest
            if diagnostics is not None:
                self._diag_sent[instance_id] = (time.monotonic(), diagnostics[1])

    def _monitor(self) -> None:
        """Every ``status_interval_s``: report status/console changes of instances no
        worker is handling (init died, console grew), and their diagnostics when due."""
        while not self._stop.wait(self.status_interval_s):
            if not self.informer.synced.is_set():
                continue
            for key in self.informer.keys():
                if self._stop.is_set():
                    return
                if key[0] != KIND:
                    continue
                iid = key[1]
                with self._lock:
                    if iid in self._failed or iid in self._failures:
                        continue
                lock = self._busy_lock(iid)
                if not lock.acquire(blocking=False):
                    continue
                try:
                    status = self.driver.status(iid)
                    if status.power_state != NOSTATE:
                        self._report(iid, status, self._diagnostics_due(iid))
                except Exception:  # noqa: BLE001
                    LOG.exception("monitoring %s", iid)
                finally:
                    lock.release()

    # -- what the timer calls (Controller: heartbeats, resyncs, orphans) ------------
    def cleanup_orphans(self) -> list[str]:
        """Destroy instances the driver holds that are not desired on this host (each
        under its own per-instance lock, so a reconcile is never raced)."""
        gone = []
        try:
            held = self.driver.list_instances()
        except Exception:  # noqa: BLE001
            LOG.exception("listing instances on %s", self.host)
            return gone
        for iid in held:
            if self.desired(iid) is not None:
                continue
            with self._busy_lock(iid):
                if self.desired(iid) is not None:
                    continue
                try:
                    self.driver.destroy(iid)
                    gone.append(iid)
                except Exception:  # noqa: BLE001
                    LOG.exception("destroying orphan instance %s", iid)
            self._forget(iid)
        desired = {k[1]: v for k, v in
                   ((k, self.informer.get(k)) for k in self.informer.keys())
                   if k[0] == KIND and v is not None}
        try:
            gone += self.driver.cleanup_orphans(desired)
        except Exception:  # noqa: BLE001
            LOG.exception("orphan cleanup on %s", self.host)
        if gone:
            LOG.info("compute %s: removed orphan instances %s", self.host, gone)
        return gone

    def heartbeat(self) -> bool:
        """``POST /hosts/heartbeat`` with the host's capacity and, when the driver
        tells them, its boot time, load averages and users (contract shape); True
        when the controller took it."""
        try:
            res = self.driver.host_resources()
            body = {"host": self.host, "hypervisor_type": self.driver.hypervisor_type,
                    "hypervisor_hostname": res.get("hypervisor_hostname") or self.host,
                    "vcpus": int(res.get("vcpus", 0)),
                    "memory_mb": int(res.get("memory_mb", 0)),
                    "local_gb": int(res.get("local_gb", 0)),
                    "availability_zone": self.availability_zone,
                    "driver": self.driver.name, "host_ip": res.get("host_ip") or ""}
            body.update(self.driver.host_uptime())
            self.client.heartbeat(body)
            self.heartbeats += 1
            return True
        except api.ControllerError as e:
            LOG.warning("compute heartbeat of %s failed: %s", self.host, e)
        except Exception:  # noqa: BLE001
            LOG.exception("compute heartbeat of %s failed", self.host)
        return False


def from_settings(settings, client: ComputeClient, host: str | None = None,
                  driver: ComputeDriver | str | None = None, where=None,
                  state_dir: str | None = None) -> ComputeAgent:
    """A :class:`ComputeAgent` with the ``agent_*``/``agent_compute_*`` settings; the
    driver is ``driver`` (an instance or a registry name) or ``agent_compute_driver``."""
    from kumo.agent import virt

    host = host or settings.agent_host or socket.gethostname()
    if driver is None or isinstance(driver, str):
        driver = virt.build(driver or settings.agent_compute_driver, host, settings,
                            client=client, where=where, state_dir=state_dir)
    return ComputeAgent(client, host, driver, workers=settings.agent_workers,
                        resync_s=settings.agent_resync_s,
                        heartbeat_s=settings.agent_heartbeat_s,
                        wait_s=settings.agent_wait_s,
                        status_interval_s=settings.agent_compute_status_interval_s,
                        diagnostics_interval_s=(
                            settings.agent_compute_diagnostics_interval_s))
