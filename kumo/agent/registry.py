"""The one driver registry of the agent side: a name -> factory table with the same
registration (a class decorator) and lookup code for the data-plane drivers
(:data:`kumo.agent.drivers.DRIVERS`) and the compute drivers
(:data:`kumo.agent.virt.DRIVERS`).

Every factory is called with keyword arguments only: ``host`` (the host name served),
``settings`` (:class:`kumo.config.Settings` or None), ``client`` (the agent's client or
None), ``where`` (the :class:`kumo.agent.dataplane.netns.Host` to work in; None: the
machine) and ``state_dir`` (the driver's own directory or None), plus any extra keyword
the caller passes.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["Registry"]


class Registry(Generic[T]):
    """Drivers of one kind (``what``, e.g. ``"data-plane driver"``, used in errors)."""

    def __init__(self, what: str):
        self.what = what
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str):
        """Class decorator: make the driver available as ``name`` (a later registration
        of the same name replaces the earlier one)."""
        def deco(cls):
            self._factories[name] = cls
            return cls
        return deco

    def available(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._factories)

    def __contains__(self, name: str) -> bool:
        return name in self._factories

    def create(self, name: str, host: str, settings=None, *, client=None, where=None,
               state_dir: str | None = None, **extra) -> T:
        """A new driver ``name`` for ``host`` (see the module doc for the arguments);
        ``ValueError`` naming the available ones when ``name`` is unknown."""
        factory = self._factories.get(name)
        if factory is None:
            raise ValueError(f"unknown {self.what} {name!r}; available: "
                             f"{', '.join(self.available())}")
        return factory(host=host, settings=settings, client=client, where=where,
                       state_dir=state_dir, **extra)
