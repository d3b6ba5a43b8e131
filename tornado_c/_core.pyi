"""Type stubs for tornado_c._core, the native extension."""

from contextvars import Context
from typing import Any, Callable, Dict, Optional, Tuple, Union

class Handle:
    """A callback scheduled on the native loop (asyncio.Handle's interface)."""

    _callback: Optional[Callable[..., Any]]
    _args: Optional[Tuple[Any, ...]]
    _loop: Any
    _cancelled: bool
    _source_traceback: Any
    def cancel(self) -> None: ...
    def cancelled(self) -> bool: ...
    def get_context(self) -> Context: ...
    def _run(self) -> None: ...

class TimerHandle(Handle):
    """A callback scheduled for a time (asyncio.TimerHandle's interface)."""

    _when: float
    _scheduled: bool
    def when(self) -> float: ...

_FileLike = Union[int, Any]

class LoopBase:
    """The native core of tornado_c.Loop: ready queue, timers, fd watching."""

    _closed: bool
    _stopping: bool
    _debug: bool
    _clock_resolution: float
    def call_soon(
        self, callback: Callable[..., Any], *args: Any, context: Optional[Context] = None
    ) -> Handle: ...
    def call_soon_threadsafe(
        self, callback: Callable[..., Any], *args: Any, context: Optional[Context] = None
    ) -> Handle: ...
    def call_later(
        self,
        delay: float,
        callback: Callable[..., Any],
        *args: Any,
        context: Optional[Context] = None,
    ) -> TimerHandle: ...
    def call_at(
        self,
        when: float,
        callback: Callable[..., Any],
        *args: Any,
        context: Optional[Context] = None,
    ) -> TimerHandle: ...
    def time(self) -> float: ...
    def _run_once(self) -> None: ...
    def _add_reader(self, fd: _FileLike, callback: Callable[..., Any], *args: Any) -> Handle: ...
    def _add_writer(self, fd: _FileLike, callback: Callable[..., Any], *args: Any) -> Handle: ...
    def _remove_reader(self, fd: _FileLike) -> bool: ...
    def _remove_writer(self, fd: _FileLike) -> bool: ...
    def _add_callback(self, handle: Any) -> None: ...
    def _fd_events(self, fd: _FileLike) -> int: ...
    def _close_native(self) -> None: ...
    def _ready_count(self) -> int: ...
    def _timer_count(self) -> int: ...

def versions() -> Dict[str, Any]:
    """libuv (runtime), libuv_build, llhttp versions and debug_build."""

def websocket_mask(mask: bytes, data: bytes) -> bytes:
    """data XOR the repeated 4-byte WebSocket mask."""

def _debug_counters() -> Dict[str, int]:
    """Open libuv loops and handles."""
