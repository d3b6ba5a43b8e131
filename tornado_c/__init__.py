"""tornado_c: Tornado's API on a native (libuv + llhttp) core.

``import tornado_c.web`` etc. gives Tornado's modules.  To run an unchanged
Tornado application, call :func:`install` before it imports ``tornado`` (or
start it with ``python -m tornado_c app.py``).

``version`` and ``version_info`` give the Tornado API level this package
provides (libraries compare ``tornado.version_info``); tornado_c's own release
is ``__version__``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The Tornado release whose API and behaviour tornado_c provides.
version = "6.5.2"
version_info = (6, 5, 2, 0)

# As in Tornado, __all__ lists the submodules, and each of them is importable
# lazily as an attribute (``tornado_c.web`` without ``import tornado_c.web``).
# tornado_c's own additions (install, new_event_loop, Loop, EventLoopPolicy)
# are public too but stay out of __all__, so ``from tornado import *`` and
# Tornado's import checks see exactly Tornado's names.
__all__ = sorted(
    """auth autoreload concurrent curl_httpclient escape gen http1connection
    httpclient httpserver httputil ioloop iostream locale locks log netutil
    options platform process queues routing simple_httpclient tcpclient
    tcpserver template testing util web""".split()
)

if TYPE_CHECKING:
    from tornado_c._loop import EventLoopPolicy, Loop


def new_event_loop() -> "Loop":
    """Return a new native event loop (an `asyncio.AbstractEventLoop`)."""
    from tornado_c._loop import Loop

    return Loop()


def install(alias: bool = True) -> None:
    """Make tornado_c the implementation an application gets.

    Sets `EventLoopPolicy` as asyncio's event loop policy, so ``asyncio.run()``
    and `IOLoop` use the native loop, and (unless ``alias`` is false) makes
    ``import tornado`` and ``import tornado.<module>`` return tornado_c's
    modules.  Call it before the application imports ``tornado``.
    """
    import asyncio

    from tornado_c._loop import EventLoopPolicy

    if alias:
        from tornado_c._alias import install_alias

        install_alias()
    if not isinstance(asyncio.get_event_loop_policy(), EventLoopPolicy):
        asyncio.set_event_loop_policy(EventLoopPolicy())


def __getattr__(name: str) -> Any:
    # Loop and EventLoopPolicy load the C extension; keep ``import tornado_c``
    # itself cheap and free of libuv state (fork safety, decision 8).
    if name in ("Loop", "EventLoopPolicy"):
        from tornado_c import _loop

        return getattr(_loop, name)
    if name in __all__:
        import importlib
        import sys

        module = importlib.import_module("." + name, __name__)
        # Under the drop-in alias this package is also ``tornado``: record the
        # submodule under that name as well, as a lazy ``tornado.web`` would.
        if sys.modules.get("tornado") is sys.modules.get(__name__):
            sys.modules.setdefault("tornado." + name, module)
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
