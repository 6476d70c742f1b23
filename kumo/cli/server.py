"""Serving the API and readying its database: :func:`prepare` (keys, schema, bootstrap
data), :func:`serve` (uvicorn in the foreground), and the commands ``kumo api``, ``kumo
db upgrade``, ``kumo bootstrap`` and ``kumo fernet rotate``."""
from __future__ import annotations

import gc
import sys
import time

from kumo import config
from kumo.cli.state import load_settings, secure_state_dir

#: When the ``kumo`` command started (for the "ready in ... s" line).
START = time.monotonic()


def prepare(settings: config.Settings, migrate: bool):
    """Keys, schema and bootstrap data; returns the ready :class:`~kumo.app.Cloud`."""
    from kumo import db
    from kumo.app import Cloud
    from kumo.identity.bootstrap import bootstrap
    from kumo.image.bootstrap import bootstrap as image_bootstrap
    from kumo.network.bootstrap import bootstrap as network_bootstrap

    secure_state_dir(settings.state_dir)
    if migrate:
        db.upgrade(settings.db_url)
    cloud = Cloud(settings)
    bootstrap(cloud.identity)
    network_bootstrap(cloud)
    image_bootstrap(cloud)
    cloud.volumes.bootstrap()
    return cloud


def serve(cloud, settings: config.Settings, banner: str = "", on_ready=None,
          on_shutdown=None, on_stopped=None, also_listen: tuple[str, ...] = ()) -> None:
    """Serve the API in the foreground; ``on_ready()`` runs once it listens,
    ``on_shutdown()`` when it starts shutting down (before open requests drain),
    ``on_stopped()`` once they drained (uvicorn may then re-raise the signal that
    stopped it, so code after this call may never run). ``also_listen``: more
    addresses to listen on (same port), e.g. the underlay address of ``--hosts``."""
    import uvicorn

    from kumo.app import App

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets)
            if self.started:
                print(f"{banner}kumo: ready on {settings.base_url} in "
                      f"{time.monotonic() - START:.2f} s", flush=True)
                if on_ready is not None:
                    on_ready()

        async def shutdown(self, sockets=None):
            if on_shutdown is not None:  # in a thread: the loop keeps serving meanwhile
                import asyncio
                await asyncio.get_running_loop().run_in_executor(None, on_shutdown)
            await super().shutdown(sockets)
            if on_stopped is not None:
                on_stopped()

    loop = "uvloop" if _has("uvloop") else "asyncio"
    uv = uvicorn.Config(App(cloud), host=settings.host, port=settings.port,
                        # Kumo's own logging (kumo.common.log) formats uvicorn's lines;
                        # kumo.access writes the access lines.
                        log_config=None, log_level="warning", access_log=False, loop=loop,
                        http="httptools" if _has("httptools") else "h11",
                        lifespan="off",
                        # The peer address is the connection's own: never rewritten
                        # from X-Forwarded-For (federation trusts proxies by address).
                        proxy_headers=False,
                        # Every connection is accepted and served: no concurrency cap
                        # (a request waiting for its body holds no worker thread, see
                        # kumo.app) and a deep accept backlog.
                        limit_concurrency=None, backlog=2048,
                        # Longer than clients' polling intervals (the CLI's --wait
                        # polls every 5 s): an idle connection closed by the server
                        # just as the client reuses it is a "connection reset".
                        timeout_keep_alive=75)
    # Startup's objects (modules, SQLAlchemy metadata, policies) live as long as the
    # process: keep them out of the cyclic GC, whose full collections would otherwise
    # walk them all (tens of ms in the middle of a 10,000-port list).
    gc.collect()
    gc.freeze()
    sockets = None
    if also_listen:
        import socket
        sockets = [socket.create_server((addr, settings.port), backlog=2048)
                   for addr in (settings.host, *also_listen)]
    Server(uv).run(sockets=sockets)


def _has(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False

def cmd_api(args) -> int:
    settings = load_settings(args)
    from kumo.app import Cloud
    from kumo.identity.bootstrap import ensure_catalog

    from kumo.common import periodic

    secure_state_dir(settings.state_dir)
    cloud = Cloud(settings)
    ensure_catalog(cloud.identity)
    runners = []

    def started():
        runner = periodic.start(cloud)
        if runner is not None:
            runners.append(runner)

    def stopping():
        for runner in runners:
            runner.stop()
        # ends the feeds' long polls at once (agents reconnect elsewhere)
        cloud.stop_watches()

    serve(cloud, settings, on_ready=started, on_shutdown=stopping)
    stopping()
    return 0


def cmd_db_upgrade(args) -> int:
    from kumo import db

    settings = load_settings(args)
    db.upgrade(settings.db_url)
    print(f"kumo: database at head ({settings.db_url.split('@')[-1]})")
    return 0


def cmd_bootstrap(args) -> int:
    settings = load_settings(args)
    prepare(settings, migrate=False).close()
    print("kumo: bootstrap done")
    return 0


def cmd_fernet_rotate(args) -> int:
    import sqlalchemy as sa

    from kumo.db import Database
    from kumo.identity.tokens import DatabaseKeyRepository

    settings = load_settings(args)
    db = Database(settings.db_url, pg_pool_size=1, pg_max_overflow=0)
    try:
        keys = DatabaseKeyRepository(db, settings.fernet_max_active_keys).rotate()
    except (LookupError, sa.exc.OperationalError, sa.exc.ProgrammingError) as e:
        print(f"kumo: cannot rotate the keys in {settings.db_url.split('@')[-1]}: "
              f"{str(e).splitlines()[0]} (start kumo up or kumo api once first)",
              file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(f"kumo: rotated the token keys (now {', '.join(map(str, keys))}; the primary is "
          f"{max(keys)}); API processes use them within cache_recheck_s "
          f"({settings.cache_recheck_s:g} s), no restart needed")
    return 0
