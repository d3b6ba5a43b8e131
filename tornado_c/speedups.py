"""tornado_c.speedups: the native helpers Tornado's ``tornado.speedups`` provides.

Tornado ships ``websocket_mask`` in a small C extension of that name; here it
comes from tornado_c's one extension, so ``tornado.speedups`` (through the
alias) keeps working for code that imports it.
"""

from tornado_c._core import websocket_mask

__all__ = ["websocket_mask"]
