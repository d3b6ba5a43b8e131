"""Type stubs for tornado_c._core, the native extension."""

import asyncio
from contextvars import Context
from typing import Any, Callable, Dict, Iterable, Optional, Tuple, Union, final

# C types that cannot share a subclass with another C layout (PEP 800).
from typing_extensions import disjoint_base

@disjoint_base
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

@final
class TimerHandle(Handle):
    """A callback scheduled for a time (asyncio.TimerHandle's interface)."""

    _when: float
    _scheduled: bool
    def when(self) -> float: ...

_FileLike = Union[int, Any]

@disjoint_base
class LoopBase:
    """The native core of tornado_c.Loop: ready queue, timers, fd watching."""

    _closed: bool
    _stopping: bool
    _debug: bool
    _clock_resolution: float
    _stall_before_poll: int  # tests only: microseconds between arming the timer and polling
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
    def get_debug(self) -> bool: ...
    def _run_once(self) -> None: ...
    def _add_reader(self, fd: _FileLike, callback: Callable[..., Any], *args: Any) -> Handle: ...
    def _add_writer(self, fd: _FileLike, callback: Callable[..., Any], *args: Any) -> Handle: ...
    def _remove_reader(self, fd: _FileLike, /) -> bool: ...
    def _remove_writer(self, fd: _FileLike, /) -> bool: ...
    def _add_callback(self, handle: Any, /) -> None: ...
    def _fd_events(self, fd: _FileLike, /) -> int: ...
    def _close_native(self) -> None: ...
    def _ready_count(self) -> int: ...
    def _timer_count(self) -> int: ...

class RequestProxyBase:
    """Base of httpclient._RequestProxy: request attributes with defaults."""

STREAM_UNSATISFIABLE: int
STREAM_BUFFER_FULL: int
STREAM_EOF: int
STREAM_READ_ERROR: int
STREAM_WRITE_ERROR: int
STREAM_DRAIN: int
STREAM_WRITTEN: int
STREAM_CONNECT: int
READ_PENDING: int
READ_DONE: int
READ_CLOSED: int
READ_FAILED: int
READ_FULL: int
READ_ERROR: int

@final
class Stream:
    """The native engine under IOStream: a libuv TCP or pipe handle on a
    duplicate of the given fd, a read buffer and a write queue."""

    watch_close: bool
    read_buffer_size: int
    write_buffer_size: int
    write_reqs: int
    closed: bool
    eof: bool
    reading: bool
    pending_read: Optional[Tuple[str, Any, Optional[int], bool]]
    max_buffer_size: int
    read_chunk_size: int
    on_event: Optional[Callable[[int, Any], None]]
    def __new__(
        cls,
        loop: LoopBase,
        fd: Any,
        kind: int = ...,
        on_event: Optional[Callable[[int, Any], None]] = ...,
        max_buffer_size: int = ...,
        read_chunk_size: int = ...,
    ) -> "Stream": ...
    def read_until(self, future: Any, delimiter: bytes, max_bytes: Optional[int]) -> int: ...
    def read_until_regex(self, future: Any, regex: Any, max_bytes: Optional[int]) -> int: ...
    def read_bytes(self, future: Any, num_bytes: int, partial: bool) -> int: ...
    def read_into(self, future: Any, buffer: Any, partial: bool) -> int: ...
    def read_until_close(self, future: Any) -> int: ...
    def cancel_read(self) -> None: ...
    def take_buffer(self, n: Optional[int] = ...) -> bytes: ...
    def unread(self, data: bytes) -> None: ...
    def peek(self) -> bytes: ...
    def take_error(self) -> Optional[BaseException]: ...
    def write(self, data: Any) -> int: ...
    def close(self) -> None: ...
    def set_nodelay(self, value: bool, /) -> None: ...
    def connect(
        self, family: int, host: str, port: int, flowinfo: int = ..., scope_id: int = ...
    ) -> Any: ...
    def fileno(self) -> int: ...

@disjoint_base
class Transport(asyncio.Transport):
    """An asyncio stream transport on a native Stream (csrc/transport.c); the
    loop makes the Python subclass tornado_c._transport.SocketTransport."""

    _loop: Any
    _protocol: Any
    _stream: Optional[Stream]
    _sock: Any
    _closing: bool
    _protocol_paused: bool
    _conn_lost: int
    _sock_fd: int
    def __new__(
        cls,
        loop: LoopBase,
        stream: Stream,
        protocol: asyncio.BaseProtocol,
        extra: Dict[str, Any],
        server: Any = ...,
    ) -> "Transport": ...
    def __init__(
        self,
        loop: LoopBase,
        stream: Stream,
        protocol: asyncio.BaseProtocol,
        extra: Dict[str, Any],
        server: Any = ...,
    ) -> None: ...
    def write(self, data: Union[bytes, bytearray, memoryview]) -> None: ...
    def writelines(self, list_of_data: Iterable[Union[bytes, bytearray, memoryview]]) -> None: ...
    def write_eof(self) -> None: ...
    def can_write_eof(self) -> bool: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...
    def is_closing(self) -> bool: ...
    def is_reading(self) -> bool: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def set_protocol(self, protocol: asyncio.BaseProtocol, /) -> None: ...
    def get_protocol(self) -> asyncio.BaseProtocol: ...
    def set_write_buffer_limits(self, high: Optional[int] = ..., low: Optional[int] = ...) -> None: ...
    def get_write_buffer_limits(self) -> Tuple[int, int]: ...
    def get_write_buffer_size(self) -> int: ...
    def get_extra_info(self, name: str, default: Any = ...) -> Any: ...
    def _make_empty_waiter(self) -> "asyncio.Future[None]": ...
    def _reset_empty_waiter(self) -> None: ...
    def _start(self) -> None: ...
    def _deliver(self) -> None: ...
    def _force_close(self, exc: Optional[BaseException], /) -> None: ...
    def _call_connection_lost(self, exc: Optional[BaseException], /) -> None: ...

@disjoint_base
class HTTP1Conn:
    """The native server side of an HTTP/1.x connection (csrc/http1.c); the
    Python subclass is http1connection._NativeHTTP1Connection."""

    no_keep_alive: bool
    _native_stream: Optional[Stream]
    def __init__(self, *args: Any, **kwargs: Any) -> None: ...
    def write_headers(self, start_line: Any, headers: Any, chunk: Optional[bytes] = ...) -> Any: ...
    def write(self, chunk: bytes) -> Any: ...
    def finish(self) -> None: ...
    def set_close_callback(self, callback: Optional[Callable[[], None]]) -> None: ...
    def set_body_timeout(self, timeout: float) -> None: ...
    def set_max_body_size(self, max_body_size: int) -> None: ...
    def _start(
        self,
        stream: Stream,
        server: Any,
        server_conn: Any,
        done_future: Any,
        chunk_size: int,
        max_header_size: int,
        max_body_size: int,
        header_timeout: float,
        body_timeout: float,
        no_keep_alive: bool,
    ) -> None: ...
    def _set_dispatch(self, config: Tuple[Any, ...]) -> None: ...
    def _resume(self) -> None: ...
    def _stream_closed(self) -> Tuple[Any, Optional[Callable[[], None]], bool]: ...
    def _release(self) -> None: ...

def http1_setup(
    HTTPHeaders: type,
    RequestStartLine: type,
    HTTPInputError: type,
    HTTPOutputError: type,
    ResponseStartLine: Optional[type] = None,
) -> None:
    """Give HTTP1Conn and HTTP1Client the Python classes they build and raise."""

@disjoint_base
class HTTP1Client:
    """The native client side of an HTTP/1.x connection (csrc/http1client.c);
    the Python subclass is http1connection._NativeHTTP1ClientConnection."""

    _native_reading: bool
    def _read(
        self,
        native_stream: Stream,
        delegate: Any,
        future: Any,
        chunk_size: int,
        max_header_size: int,
        is_head: bool,
    ) -> None: ...
    def _resume(self) -> None: ...
    def _fail(self, exc: BaseException) -> None: ...
    def _stream_closed(self) -> None: ...
    def _abandon(self) -> Optional[Tuple[Any, bool, Any]]: ...
    def _unhook(self) -> None: ...

@disjoint_base
class Fetch:
    """One HTTP client request done in C (csrc/fetch.c); the Python
    subclass is simple_httpclient._NativeFetch, which defines _fetched,
    _failed and _handover."""

    def __new__(
        cls,
        loop: LoopBase,
        family: int,
        host: str,
        port: int,
        payload: bytes,
        connect_timeout: float,
        request_timeout: float,
        max_header_size: int,
        max_body_size: int,
        is_head: bool,
        follow_redirects: bool,
        decompress: bool,
    ) -> Fetch: ...
    client: Any
    request: Any
    release_callback: Any
    final_callback: Any
    io_loop: Any
    start_time: float
    start_wall_time: float
    start_line: Any
    @property
    def pool_key(self) -> Optional[Tuple[str, int, int]]: ...
    @property
    def state(self) -> str: ...
    def start(self) -> None: ...
    def park(self) -> None: ...
    def close(self) -> None: ...

def fetch_begin(
    cls: type,
    client: Any,
    request: Any,
    release_callback: Any,
    final_callback: Any,
    no_pool: bool = ...,
) -> Any: ...
def fetch_setup(
    request_proxy_class: type, connection_class: type, user_agent: str, time_module: Any
) -> None: ...

def h1_request_head(start_line: Any, headers: Any) -> Tuple[bytes, bool, Optional[int]]:
    """A client request head serialized as HTTP1Connection.write_headers does:
    (bytes, chunking, expected Content-Length or None)."""

def versions() -> Dict[str, Any]:
    """libuv (runtime), libuv_build, llhttp versions and debug_build."""

def utf8(value: Any) -> Any:
    """value as UTF-8 bytes; bytes and None pass through (escape.utf8)."""

def to_unicode(value: Any) -> Any:
    """value as str, bytes decoded as UTF-8; None passes through."""

def xhtml_escape(value: Any) -> str:
    """value with & < > \" ' replaced by entity references (escape.xhtml_escape)."""

def _json_encode(value: Any) -> Any:
    """json.dumps(value) with "</" as "<\\/" for plain JSON data, else NotImplemented."""

@final
class Dispatch:
    """The per-request delegate an HTTP1Conn makes for a plain request callback
    or a router (csrc/dispatch.c; see HTTPServer._native_dispatch)."""

    request: Any
    delegate: Any
    def headers_received(self, start_line: Any, headers: Any) -> Any: ...
    def data_received(self, chunk: bytes, /) -> Any: ...
    def finish(self) -> None: ...
    def on_connection_close(self) -> None: ...

def _override_mask(cls: type, names: Tuple[str, ...], originals: Tuple[Any, ...]) -> int:
    """Bit i set when cls resolves names[i] to something other than originals[i]."""

def _route(router: Any, request: Any, env: Tuple[Any, ...]) -> Any:
    """router.find_handler(request) walked in C for the usual Application
    router shape; NotImplemented (nothing called) otherwise."""

def _tt_bytes(value: Any) -> bytes:
    """A template expression's value as the bytes a template appends."""

def _tt_xhtml(value: Any) -> bytes:
    """utf8(xhtml_escape(_tt_bytes(value)))."""

def _static_plain(handler: Any, path: Any, include_body: Any, env: Any) -> Any:
    """StaticFileHandler.get()'s short way for a GET of a whole file of one
    piece, in C: the pieces to write, or NotImplemented with nothing done
    (see csrc/static.c)."""

def _write(handler: Any, chunk: Any) -> Any:
    """RequestHandler.write(chunk) for bytes, str or a dict, in C for the
    usual case; NotImplemented, with nothing done, otherwise."""

def _http_date(seconds: Any) -> Optional[str]:
    """email.utils.formatdate(seconds, usegmt=True) for an int or float in
    datetime's range, or for a naive or timezone.utc datetime.datetime (not
    a subclass) the date of its utctimetuple(); None otherwise."""

def _timegm(time_tuple: Any) -> Optional[int]:
    """calendar.timegm(fields) for a tuple of ints with a valid year and month;
    None otherwise."""

def websocket_mask(mask: bytes, data: bytes) -> bytes:
    """data XOR the repeated 4-byte WebSocket mask."""

def normalize_header(name: str) -> str:
    """name in Http-Header-Case: each dash-separated part capitalized."""

def headers_fill(headers: Any, mapping: Any) -> bool:
    """Fill a new HTTPHeaders from a plain dict, as its constructor does;
    False (nothing done) when mapping is not exactly a dict."""

def request_setup(request_class: type, init: Callable[..., None], time_time: Callable[[], float],
                  parse_body: Optional[Callable[..., None]] = ...) -> None:
    """The HTTPServerRequest class (and its original __init__) the native
    server builds requests for in C; time_time is the builtin time.time;
    parse_body its original _parse_body."""

def web_setup(env: Tuple[Any, ...]) -> None:
    """web's Application, _HandlerDelegate and RequestHandler pieces the native
    server stands in for while they are the originals (csrc/handler.c)."""

def _log_request(application: Any, handler: Any) -> None:
    """application.log_request(handler), in C while that is web.py's."""

def _sha1_hex(data: bytes, hardware: bool = True) -> str:
    """hashlib.sha1(data).hexdigest(), computed in C (through the CPU's SHA
    extensions when it has them and hardware is true)."""

def _resolve_to(owners: Tuple[type, ...], names: Tuple[str, ...],
                originals: Tuple[Any, ...]) -> bool:
    """True when each class owners[i] resolves names[i] to originals[i] itself."""

def _finish(handler: Any) -> Any:
    """RequestHandler.finish() with no chunk, in C for the usual case (see
    csrc/handler.c); NotImplemented, with nothing done, otherwise."""

def _execute_plain(handler: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    """The first steps of RequestHandler._execute for the usual case, in C;
    the verb method, bound, or None (nothing done) for any other case."""

def _finish_when_due(handler: Any) -> None:
    """``if not handler._finished and handler._auto_finish: handler.finish()``,
    in C (the original finish()'s C step when neither the class nor the
    instance replaces it)."""

def _web_counts() -> Tuple[int, int, int]:
    """(_HandlerDelegates made, execute() steps run, handlers made) by the
    native server in C."""

def _set_header(handler: Any, name: str, value: Any) -> Any:
    """RequestHandler.set_header for a str or int value while the methods it
    calls are the originals; NotImplemented (nothing done) otherwise."""

def _peer_connected(fd: int) -> bool:
    """True when getpeername() succeeds on the socket fd (it is connected)."""

def _requests_built() -> int:
    """How many HTTPServerRequests the native server has built in C."""

def _debug_counters() -> Dict[str, int]:
    """Open libuv loops and handles."""

def _slotmap_checks() -> int:
    """Slot maps checked descriptor by descriptor (no version tag vouched)."""

def _running_loop() -> Any:
    """The native loop running callbacks in this thread, or None."""
