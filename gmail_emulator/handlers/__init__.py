"""HTTP-free handlers, one module per Gmail resource; ``HANDLERS`` maps route handler names."""

from __future__ import annotations

from ..routes import ROUTES
from . import drafts, labels, messages, threads, users

_MODULES = (drafts, labels, messages, threads, users)


def _find(name: str):
    for module in _MODULES:
        if hasattr(module, name):
            return getattr(module, name)
    raise LookupError(f"route handler {name!r} is not implemented")


HANDLERS = {route.handler: _find(route.handler) for route in ROUTES}
