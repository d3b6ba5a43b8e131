"""The web framework (Tornado's ``tornado.web``).

An `Application` maps URL patterns to `RequestHandler` subclasses; each
request gets a new handler instance whose ``get``/``post``/... method writes
the response.  This module also holds `StaticFileHandler`, the redirect,
error and fallback handlers, the `authenticated` / `addslash` /
`removeslash` / `stream_request_body` decorators, signed values (the format
behind `RequestHandler.set_signed_cookie`, compatible with Tornado's),
output transforms (`GZipContentEncoding`) and UI modules.

Example::

    class MainHandler(RequestHandler):
        def get(self):
            self.write("Hello, world")

    app = Application([(r"/", MainHandler)])
    app.listen(8888)
"""

from __future__ import annotations

import typing
from typing import Any, Awaitable, Callable, Dict, Generator, Iterable, List
from typing import Optional, Tuple, Type, TypeVar, Union, cast

# Runtime and text handling.
import asyncio
import sys
import re
import time
import datetime
import functools
import numbers
import threading
import traceback
import types
import warnings
from inspect import isclass
from types import TracebackType

# Crypto and encodings.
import hmac
import logging
import hashlib
import base64
import binascii

# Files, compression and the network.
import os.path
import posixpath
import stat
import mimetypes
import gzip
from io import BytesIO
import socket
import email.utils
import http.cookies
import urllib.parse
from urllib.parse import urlencode

import tornado_c
from tornado_c import _core, escape, gen, httputil, iostream, locale, netutil, routing, template
from tornado_c.concurrent import Future, future_set_result_unless_cancelled
from tornado_c.escape import _unicode, utf8
from tornado_c.httpserver import HTTPServer
from tornado_c.log import access_log, app_log, gen_log
from tornado_c.routing import AnyMatches, DefaultHostMatches, HostMatches, Rule
from tornado_c.routing import ReversibleRouter, ReversibleRuleRouter, URLSpec, _RuleList
from tornado_c.util import ObjectDict, _websocket_mask, unicode_type

url = URLSpec

_HeaderTypes = Union[bytes, unicode_type, int, numbers.Integral, datetime.datetime]

_CookieSecretTypes = Union[str, bytes, Dict[int, str], Dict[int, bytes]]

# Signed-value format versions: what decode accepts at the lowest and the
# highest, what create writes unless told otherwise, and the lowest version
# decode accepts unless told otherwise.
MIN_SUPPORTED_SIGNED_VALUE_VERSION = 1
MAX_SUPPORTED_SIGNED_VALUE_VERSION = 2
DEFAULT_SIGNED_VALUE_VERSION = 2
DEFAULT_SIGNED_VALUE_MIN_VERSION = 1


class _ArgDefaultMarker:
    pass


_ARG_DEFAULT: Any = _ArgDefaultMarker()

_UTC = datetime.timezone.utc

# Type of the per-verb handler methods.
_VerbMethod = Callable[..., Optional[Awaitable[None]]]

# RequestHandler methods the per-request path calls only when they are
# replaced.  `_override_mask` (C) works out, from the handler class's method
# cache, which of them the class resolves to something other than
# RequestHandler's own function -- an override in a subclass, or a patch on
# RequestHandler or any class in between.  It is asked again at each point
# of use, so instrumentation applied at any time is called from then on.
# Bits of the mask:
_MASK_NAMES = (
    "prepare",  # 1: no-op by default
    "on_finish",  # 2: no-op by default
    "set_default_headers",  # 4: no-op by default
    "_log",  # 8: finish() calls Application.log_request directly
    # 16 and up: what finish() does itself when none is replaced; the
    # first three only when it adds the Etag itself (none was set).
    "set_etag_header",
    "compute_etag",
    "check_etag_header",
    "_settle_headers",
    "set_header",
    "add_header",
    "_convert_header_value",
    "set_status",
    "clear_header",
    "_clear_representation_headers",
    "flush",
    "_break_cycles",
)
_PREPARE, _ON_FINISH, _SET_DEFAULT_HEADERS, _LOG = 1, 2, 4, 8
_SET_HEADER = 1 << _MASK_NAMES.index("set_header") | 1 << _MASK_NAMES.index(
    "_convert_header_value"
)
_JSON_TYPE = "application/json; charset=UTF-8"
_FINISH_PARTS = ~(_PREPARE | _ON_FINISH | _SET_DEFAULT_HEADERS | _LOG)
_override_mask = _core._override_mask
_set_header = _core._set_header
_log_request = _core._log_request
_finish = _core._finish
_execute_plain = _core._execute_plain
_finish_when_due = _core._finish_when_due
_write = _core._write
_SERVER_HEADER = "TornadoServer/" + tornado_c.version
_sha1 = hashlib.sha1
_new_tuple = tuple.__new__
_get_running_loop = asyncio.get_running_loop
_INFO, _WARNING, _ERROR = logging.INFO, logging.WARNING, logging.ERROR
_VERB_METHODS = {
    verb: verb.lower() for verb in ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")
}


# Marks an attribute that is not set yet (locale, current_user).
_NOT_LOOKED_UP = object()

# The Date header only changes once a second.
_date_cache: List[Any] = [None, ""]


def _raise_if_failed(future: Future[None]) -> None:
    # Surfaces anything that escaped RequestHandler._execute to the loop.
    future.result()


def _done_future() -> Future[None]:
    done: Future[None] = Future()
    done.set_result(None)
    return done


def _insert_at(doc: bytes, marker: bytes, extra: bytes, last: bool) -> bytes:
    # Put ``extra`` plus a newline just in front of the first (or last)
    # occurrence of ``marker``.
    cut = doc.rindex(marker) if last else doc.index(marker)
    return b"".join((doc[:cut], extra, b"\n", doc[cut:]))


class _LazyUI:
    """``RequestHandler.ui``: built on first use, since most requests never
    render a template.  A non-data descriptor, so assigning ``handler.ui``
    (as `RequestHandler._break_cycles` does) simply shadows it."""

    def __get__(self, handler: Any, owner: Any = None) -> Any:
        if handler is None:
            return self
        application = handler.application
        ui = ObjectDict(
            (name, handler._ui_method(method))
            for name, method in application.ui_methods.items()
        )
        # ``{% module Foo(...) %}`` in templates looks up ``_tt_modules``.
        ui["_tt_modules"] = ui["modules"] = _UIModuleNamespace(
            handler, application.ui_modules
        )
        # (Assigned, not put in handler.__dict__: reading __dict__ on
        # CPython 3.11+ turns the instance's inline attributes into a dict.)
        handler.ui = ui
        return ui


class RequestHandler:
    """Base class for HTTP request handlers.

    Subclasses define methods named after the HTTP verbs they serve
    (``get``, ``post``, ...); those methods may be coroutines.  Override
    `initialize` to take arguments from the URL rule, `prepare` for code
    common to every method and `on_finish` for clean-up.
    """

    SUPPORTED_METHODS: Tuple[str, ...] = ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")

    # The attributes __init__ and clear() always assign are slots (any
    # other goes in __dict__ as usual): the native path stores them straight
    # into a new handler (csrc/handler.c), one generic setattr each saved.
    __slots__ = ("request", "application", "_prepared_future", "_auto_finish",
                 "_headers_written", "_finished", "_headers", "_write_buffer",
                 "_status_code", "_reason", "__dict__", "__weakref__")

    _template_loaders: Dict[str, template.BaseLoader] = {}
    _template_loader_lock = threading.Lock()
    _remove_control_chars_regex = re.compile(r"[\x00-\x08\x0e-\x1f]")

    _stream_request_body = False

    # UI methods and modules for templates (an `ObjectDict`, made on first use).
    ui: ObjectDict = _LazyUI()  # type: ignore[assignment]

    # The request's output transforms, set by _execute.
    _transforms: List[OutputTransform] = None  # type: ignore

    # Set by _execute before prepare() runs.
    path_args: List[str] = None  # type: ignore
    path_kwargs: Dict[str, str] = None  # type: ignore

    # Made on first use (so absent until then): the cookies set by this
    # response, and the XSRF token in its masked and raw forms.
    _new_cookie: http.cookies.SimpleCookie
    _xsrf_token: bytes
    _raw_xsrf_token: Tuple[Optional[int], bytes, float]

    def __init__(
        self,
        application: Application,
        request: httputil.HTTPServerRequest,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.request = request
        self.application = application
        self._prepared_future: Optional[Future[None]] = None
        self._auto_finish = True
        self._headers_written = self._finished = False
        self.clear()
        connection = request.connection
        assert connection is not None
        # finish() unregisters this again, so a keep-alive connection does
        # not pin the handler in memory.
        connection.set_close_callback(self.on_connection_close)  # type: ignore
        if kwargs or type(self).initialize is not _ORIGINAL_INITIALIZE:
            self.initialize(**kwargs)  # type: ignore

    def _initialize(self) -> None:
        pass

    initialize: Callable[..., None] = _initialize  # type: ignore
    """Per-request set-up hook.

    It is given the keyword arguments from the third element of the URL
    rule, for example a database handle::

        class ProfileHandler(RequestHandler):
            def initialize(self, database):
                self.database = database
    """

    @property
    def settings(self) -> Dict[str, Any]:
        """Shortcut for `self.application.settings <Application.settings>`."""
        return self.application.settings

    def _unimplemented_method(self, *args: str, **kwargs: str) -> None:
        raise HTTPError(405)

    # Verbs a subclass does not define answer 405.
    get: _VerbMethod = _unimplemented_method
    head: _VerbMethod = _unimplemented_method
    post: _VerbMethod = _unimplemented_method
    put: _VerbMethod = _unimplemented_method
    patch: _VerbMethod = _unimplemented_method
    delete: _VerbMethod = _unimplemented_method
    options: _VerbMethod = _unimplemented_method

    def prepare(self) -> Optional[Awaitable[None]]:
        """Runs before the verb method on every request.

        May be a coroutine; if it finishes the response (``finish``,
        ``redirect``, ...) the verb method is skipped.
        """
        pass

    def on_finish(self) -> None:
        """Runs once the response has gone out (clean-up, logging)."""
        pass

    def on_connection_close(self) -> None:
        """Runs when the client drops a long-lived connection.

        Delivery is best-effort.  The base version aborts the pending read
        of a streamed request body.
        """
        if not _has_stream_request_body(type(self)):
            return
        body_future = self.request._body_future
        if body_future.done():
            return
        body_future.set_exception(iostream.StreamClosedError())
        body_future.exception()  # nobody else will look at it

    def clear(self) -> None:
        """Throw away every header and all output set so far."""
        # What HTTPHeaders({"Server": ..., "Content-Type": ..., "Date": ...})
        # makes, built directly (one per request); the Date text is
        # formatted once a second.
        now = time.time()
        second = int(now)
        if _date_cache[0] != second:
            _date_cache[1] = httputil.format_timestamp(now)
            _date_cache[0] = second
        date = _date_cache[1]
        headers = self._headers = _new_object(httputil.HTTPHeaders)
        headers._dict = {
            "Server": _SERVER_HEADER,
            "Content-Type": "text/html; charset=UTF-8",
            "Date": date,
        }
        headers._as_list = {
            "Server": [_SERVER_HEADER],
            "Content-Type": ["text/html; charset=UTF-8"],
            "Date": [date],
        }
        headers._last_key = None
        if _override_mask(type(self), _MASK_NAMES, _MASK_ORIGINALS) & _SET_DEFAULT_HEADERS:
            self.set_default_headers()
        self._write_buffer: List[bytes] = []
        self._status_code, self._reason = 200, "OK"

    def set_default_headers(self) -> None:
        """Hook for headers every response of this handler should carry;
        it runs again if an error page replaces the response."""
        pass

    def set_status(self, status_code: int, reason: Optional[str] = None) -> None:
        """Choose the status code; without ``reason`` the usual phrase for
        it is used (``"Unknown"`` for unregistered codes)."""
        if reason is None:
            reason = httputil.responses.get(status_code, "Unknown")
        self._reason = escape.native_str(reason)
        self._status_code = status_code

    def get_status(self) -> int:
        """The status code the response will carry."""
        return self._status_code

    def set_header(self, name: str, value: _HeaderTypes) -> None:
        """Give header ``name`` this single value (numbers and datetimes are
        formatted for HTTP)."""
        # (In C for a str or int value while the methods this calls are the
        # originals.)
        if _set_header(self, name, value) is NotImplemented:
            self._headers[name] = self._convert_header_value(value)

    def add_header(self, name: str, value: _HeaderTypes) -> None:
        """Append one more value for ``name`` (for repeatable headers)."""
        self._headers.add(name, self._convert_header_value(value))

    def clear_header(self, name: str) -> None:
        """Drop every value of header ``name``."""
        if name in self._headers:
            del self._headers[name]

    # Control characters (other than tab) and DEL would let a value split
    # or corrupt the header block; non-Latin-1 text can't be sent at all.
    _VALID_HEADER_CHARS = re.compile(r"[\x09\x20-\x7e\x80-\xff]*")

    def _convert_header_value(self, value: _HeaderTypes) -> str:
        if type(value) is str:
            # The common case first: the Integral check below is an ABC one.
            if RequestHandler._VALID_HEADER_CHARS.fullmatch(value) is None:
                raise ValueError("Unsafe header value %r", value)
            return value
        if type(value) is int:
            return str(value)
        # Tested before Integral, an ABC check (no class is both).
        if isinstance(value, datetime.datetime):
            return httputil.format_timestamp(value)
        if isinstance(value, numbers.Integral):
            return str(value)
        if isinstance(value, bytes):
            text = value.decode("latin1")  # maps every byte to one char
        elif isinstance(value, str):
            text = value
        else:
            raise TypeError("Unsupported header value %r" % value)
        if RequestHandler._VALID_HEADER_CHARS.fullmatch(text) is None:
            raise ValueError("Unsafe header value %r", text)
        return text

    @typing.overload
    def get_argument(self, name: str, default: str, strip: bool = True) -> str:
        pass

    @typing.overload
    def get_argument(  # noqa: F811
        self, name: str, default: _ArgDefaultMarker = _ARG_DEFAULT, strip: bool = True
    ) -> str:
        pass

    @typing.overload
    def get_argument(  # noqa: F811
        self, name: str, default: None, strip: bool = True
    ) -> Optional[str]:
        pass

    def get_argument(  # noqa: F811
        self,
        name: str,
        default: Union[None, str, _ArgDefaultMarker] = _ARG_DEFAULT,
        strip: bool = True,
    ) -> Optional[str]:
        """The last value given for ``name`` in the query or the body.

        A missing argument is a `MissingArgumentError` (400) unless a
        ``default`` is passed.  Control characters become spaces and the
        value is stripped unless ``strip=False``.
        """
        return self._get_argument(name, default, self.request.arguments, strip)

    def get_arguments(self, name: str, strip: bool = True) -> List[str]:
        """All values given for ``name`` in the query and the body."""
        # Catches get_arguments(name, "default"), a frequent slip.
        assert isinstance(strip, bool)
        return self._get_arguments(name, self.request.arguments, strip)

    @typing.overload
    def get_body_argument(self, name: str, default: str, strip: bool = True) -> str:
        pass

    @typing.overload
    def get_body_argument(  # noqa: F811
        self, name: str, default: _ArgDefaultMarker = _ARG_DEFAULT, strip: bool = True
    ) -> str:
        pass

    @typing.overload
    def get_body_argument(  # noqa: F811
        self, name: str, default: None, strip: bool = True
    ) -> Optional[str]:
        pass

    def get_body_argument(  # noqa: F811
        self,
        name: str,
        default: Union[None, str, _ArgDefaultMarker] = _ARG_DEFAULT,
        strip: bool = True,
    ) -> Optional[str]:
        """`get_argument` restricted to the request body."""
        return self._get_argument(name, default, self.request.body_arguments, strip)

    def get_body_arguments(self, name: str, strip: bool = True) -> List[str]:
        """`get_arguments` restricted to the request body."""
        return self._get_arguments(name, self.request.body_arguments, strip)

    @typing.overload
    def get_query_argument(self, name: str, default: str, strip: bool = True) -> str:
        pass

    @typing.overload
    def get_query_argument(  # noqa: F811
        self, name: str, default: _ArgDefaultMarker = _ARG_DEFAULT, strip: bool = True
    ) -> str:
        pass

    @typing.overload
    def get_query_argument(  # noqa: F811
        self, name: str, default: None, strip: bool = True
    ) -> Optional[str]:
        pass

    def get_query_argument(  # noqa: F811
        self,
        name: str,
        default: Union[None, str, _ArgDefaultMarker] = _ARG_DEFAULT,
        strip: bool = True,
    ) -> Optional[str]:
        """`get_argument` restricted to the query string."""
        return self._get_argument(name, default, self.request.query_arguments, strip)

    def get_query_arguments(self, name: str, strip: bool = True) -> List[str]:
        """`get_arguments` restricted to the query string."""
        return self._get_arguments(name, self.request.query_arguments, strip)

    def _get_argument(
        self,
        name: str,
        default: Union[None, str, _ArgDefaultMarker],
        source: Dict[str, List[bytes]],
        strip: bool = True,
    ) -> Optional[str]:
        found = self._get_arguments(name, source, strip=strip)
        if not found:
            if isinstance(default, _ArgDefaultMarker):
                raise MissingArgumentError(name)
            return default
        return found[-1]

    def _get_arguments(
        self, name: str, source: Dict[str, List[bytes]], strip: bool = True
    ) -> List[str]:
        cleanup = RequestHandler._remove_control_chars_regex.sub

        def tidy(raw: bytes) -> str:
            text = self.decode_argument(raw, name=name)
            if not isinstance(text, unicode_type):
                return text
            text = cleanup(" ", text)
            return text.strip() if strip else text

        return [tidy(raw) for raw in source.get(name, ())]

    def decode_argument(self, value: bytes, name: Optional[str] = None) -> str:
        """Turn a raw argument into text (UTF-8 unless overridden).

        ``name`` is None for arguments taken from the URL path.  Bytes that
        are not valid UTF-8 give a 400.
        """
        try:
            return _unicode(value)
        except UnicodeDecodeError:
            where = name or "url"
            raise HTTPError(400, f"Invalid unicode in {where}: {value[:40]!r}")

    @property
    def cookies(self) -> Dict[str, http.cookies.Morsel]:
        """Shortcut for `self.request.cookies <.httputil.HTTPServerRequest.cookies>`."""
        return self.request.cookies

    def get_cookie(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The raw value of request cookie ``name`` (``default`` if absent).

        Nothing is verified here; signed cookies go through `get_signed_cookie`.
        """
        jar = self.request.cookies
        morsel = jar.get(name) if jar is not None else None
        return default if morsel is None else morsel.value

    def set_cookie(
        self,
        name: str,
        value: Union[str, bytes],
        domain: Optional[str] = None,
        expires: Optional[Union[float, Tuple, datetime.datetime]] = None,
        path: str = "/",
        expires_days: Optional[float] = None,
        # Keyword-only from here on.
        *,
        max_age: Optional[int] = None,
        httponly: bool = False,
        secure: bool = False,
        samesite: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        """Add a ``Set-Cookie`` header to the response.

        ``expires`` takes a timestamp, time tuple or datetime, or give
        ``expires_days`` instead.  ``max_age``, ``httponly``, ``secure`` and
        ``samesite`` map to the cookie attributes of the same names; any
        other keyword (deprecated) is stored on the morsel as-is.
        """
        name, value = escape.native_str(name), escape.native_str(value)
        if re.search(r"[\x00-\x20]", name + value):
            raise ValueError(f"Invalid cookie {name!r}: {value!r}")
        if expires_days is not None and not expires:
            expires = datetime.datetime.now(_UTC) + datetime.timedelta(days=expires_days)
        attributes: List[Tuple[str, Any]] = [
            ("domain", domain),
            ("expires", httputil.format_timestamp(expires) if expires else None),
            ("path", path),
            ("max-age", str(max_age) if max_age else None),
            # For these flags SimpleCookie only needs a true value.
            ("httponly", httponly),
            ("secure", secure),
            ("samesite", samesite),
        ]
        try:
            jar = self._new_cookie
        except AttributeError:
            jar = self._new_cookie = http.cookies.SimpleCookie()
        jar.pop(name, None)
        jar[name] = value
        morsel = jar[name]
        for attr, setting in attributes:
            if setting:
                morsel[attr] = setting
        if not kwargs:
            return
        morsel.update(kwargs)
        legacy = set(kwargs.keys())
        message = "Deprecated arguments to set_cookie: %s (should be lowercase)" % legacy
        warnings.warn(message, DeprecationWarning)

    def clear_cookie(self, name: str, **kwargs: Any) -> None:
        """Expire cookie ``name`` on the client.

        Accepts `set_cookie`'s options apart from ``expires`` and
        ``max_age``; pass the ``domain`` and ``path`` (and where browsers
        insist, ``samesite``/``secure``) the cookie was created with.
        """
        bad = [key for key in ("expires", "max_age") if key in kwargs]
        if bad:
            raise TypeError(
                f"clear_cookie() got an unexpected keyword argument '{bad[0]}'"
            )
        last_year = datetime.datetime.now(_UTC) - datetime.timedelta(days=365)
        self.set_cookie(name, value="", expires=last_year, **kwargs)

    def clear_all_cookies(self, **kwargs: Any) -> None:
        """`clear_cookie` for each cookie sent with the request."""
        for cookie_name in list(self.request.cookies):
            self.clear_cookie(cookie_name, **kwargs)

    def set_signed_cookie(
        self,
        name: str,
        value: Union[str, bytes],
        expires_days: Optional[float] = 30,
        version: Optional[int] = None,
        **kwargs: Any,
    ) -> None:
        """Set a cookie whose value is signed and timestamped.

        Requires the ``cookie_secret`` setting; `get_signed_cookie` reads
        it back.  Remaining arguments behave as in `set_cookie`.
        """
        signed = self.create_signed_value(name, value, version=version)
        self.set_cookie(name, signed, expires_days=expires_days, **kwargs)

    set_secure_cookie = set_signed_cookie

    def create_signed_value(
        self, name: str, value: Union[str, bytes], version: Optional[int] = None
    ) -> bytes:
        """The signed form of ``value`` that `set_signed_cookie` would
        store, for use elsewhere (a header, a URL, ...)."""
        self.require_setting("cookie_secret", "secure cookies")
        settings = self.application.settings
        secret = settings["cookie_secret"]
        key_version = settings.get("key_version")
        if not isinstance(secret, dict):
            key_version = None
        elif key_version is None:
            raise Exception("key_version setting must be used for secret_key dicts")
        return create_signed_value(
            secret, name, value, version=version, key_version=key_version
        )

    def get_signed_cookie(
        self,
        name: str,
        value: Optional[str] = None,
        max_age_days: float = 31,
        min_version: Optional[int] = None,
    ) -> Optional[bytes]:
        """The payload of signed cookie ``name`` as bytes, or None if it is
        missing or fails verification.  Pass ``value`` to check a given
        string rather than the request's cookie."""
        self.require_setting("cookie_secret", "secure cookies")
        raw = self.get_cookie(name) if value is None else value
        secret = self.application.settings["cookie_secret"]
        return decode_signed_value(
            secret, name, raw, max_age_days=max_age_days, min_version=min_version
        )

    get_secure_cookie = get_signed_cookie

    def get_signed_cookie_key_version(
        self, name: str, value: Optional[str] = None
    ) -> Optional[int]:
        """Which key version signed cookie ``name`` (None if unknown)."""
        self.require_setting("cookie_secret", "secure cookies")
        raw = self.get_cookie(name) if value is None else value
        return None if raw is None else get_signature_key_version(raw)

    get_secure_cookie_key_version = get_signed_cookie_key_version

    def redirect(
        self, url: str, permanent: bool = False, status: Optional[int] = None
    ) -> None:
        """Send the client to ``url`` and finish (302 by default, 301 if
        ``permanent``; an explicit ``status`` must be a 3xx code)."""
        if self._headers_written:
            raise Exception("Cannot redirect after headers have been written")
        if status is not None:
            assert isinstance(status, int) and 300 <= status <= 399
            code = status
        else:
            code = 301 if permanent else 302
        self.set_status(code)
        self.set_header("Location", utf8(url))
        self.finish()

    def write(self, chunk: Union[str, bytes, dict]) -> None:
        """Append ``chunk`` to the output buffer.

        Dicts are sent as JSON (and switch the ``Content-Type``); lists are
        rejected, since a bare JSON array was once a cross-site leak.
        Nothing reaches the network until `flush` or `finish`.
        """
        # (In C for exact bytes, str and dict while what this calls is the
        # original; NotImplemented, with nothing done, otherwise.)
        if _write(self, chunk) is None:
            return
        if self._finished:
            raise RuntimeError("Cannot write() after finish()")
        if isinstance(chunk, bytes):
            data = chunk
        elif isinstance(chunk, str):
            data = chunk.encode("utf-8")
        elif isinstance(chunk, dict):
            headers = self._headers
            if (
                type(headers) is httputil.HTTPHeaders
                and not _override_mask(type(self), _MASK_NAMES, _MASK_ORIGINALS) & _SET_HEADER
            ):
                # set_header() with a constant, valid value, done directly.
                headers._dict["Content-Type"] = _JSON_TYPE
                headers._as_list["Content-Type"] = [_JSON_TYPE]
            else:
                self.set_header("Content-Type", _JSON_TYPE)
            data = escape.json_encode(chunk).encode("utf-8")
        else:
            problem = "write() only accepts bytes, unicode, and dict objects"
            if isinstance(chunk, list):
                problem += (
                    ". Lists not accepted for security reasons; see "
                    + "http://www.tornadoweb.org/en/stable/web.html#tornado.web.RequestHandler.write"  # noqa: E501
                )
            raise TypeError(problem)
        self._write_buffer.append(data)  # type: ignore[arg-type]

    def render(self, template_name: str, **kwargs: Any) -> Future[None]:
        """Finish the response with the rendered template.

        Resources declared by the page's UI modules (scripts, styles, head
        and body snippets) are spliced into the HTML.
        """
        if self._finished:
            raise RuntimeError("Cannot render() after finish()")
        page = self.render_string(template_name, **kwargs)
        active = getattr(self, "_active_modules", None)
        if not active:
            # No UI module was used: nothing to splice in.
            return self.finish(page)
        modules = list(active.values())

        def snippets(hook: str) -> List[bytes]:
            outputs = (getattr(mod, hook)() for mod in modules)
            return [utf8(out) for out in outputs if out]

        def file_list(hook: str) -> List[str]:
            names: List[str] = []
            for mod in modules:
                got = getattr(mod, hook)()
                if not got:
                    continue
                if isinstance(got, (unicode_type, bytes)):
                    names.append(_unicode(got))
                else:
                    names.extend(got)
            return names

        scripts = file_list("javascript_files")
        inline_js = snippets("embedded_javascript")
        sheets = file_list("css_files")
        inline_css = snippets("embedded_css")
        heads = snippets("html_head")
        bodies = snippets("html_body")

        # (marker, insert before its last occurrence?, content)
        edits: List[Tuple[bytes, bool, Optional[bytes]]] = [
            (b"</body>", True, utf8(self.render_linked_js(scripts)) if scripts else None),
            (b"</body>", True, self.render_embed_js(inline_js) if inline_js else None),
            (b"</head>", False, utf8(self.render_linked_css(sheets)) if sheets else None),
            (b"</head>", False, self.render_embed_css(inline_css) if inline_css else None),
            (b"</head>", False, b"".join(heads) if heads else None),
            (b"</body>", False, b"".join(bodies) if bodies else None),
        ]
        for marker, last, extra in edits:
            if extra is not None:
                page = _insert_at(page, marker, extra, last)
        return self.finish(page)

    def _unique_static_urls(self, files: Iterable[str]) -> List[str]:
        ordered: Dict[str, None] = {}
        for item in files:
            ordered.setdefault(item if is_absolute(item) else self.static_url(item))
        return list(ordered)

    def render_linked_js(self, js_files: Iterable[str]) -> str:
        """The ``<script src=...>`` tags `render` emits for module scripts."""
        template_ = '<script src="%s" type="text/javascript"></script>'
        urls = self._unique_static_urls(js_files)
        return "".join(template_ % escape.xhtml_escape(u) for u in urls)

    def render_embed_js(self, js_embed: Iterable[bytes]) -> bytes:
        """The inline ``<script>`` element `render` emits for module code."""
        body = b"\n".join(js_embed)
        return b'<script type="text/javascript">\n//<![CDATA[\n%s\n//]]>\n</script>' % body

    def render_linked_css(self, css_files: Iterable[str]) -> str:
        """The ``<link rel=stylesheet>`` tags `render` emits."""
        template_ = '<link href="%s" type="text/css" rel="stylesheet"/>'
        urls = self._unique_static_urls(css_files)
        return "".join(template_ % escape.xhtml_escape(u) for u in urls)

    def render_embed_css(self, css_embed: Iterable[bytes]) -> bytes:
        """The inline ``<style>`` element `render` emits."""
        return b'<style type="text/css">\n%s\n</style>' % b"\n".join(css_embed)

    def render_string(self, template_name: str, **kwargs: Any) -> bytes:
        """Return the rendered template as bytes (nothing is written).

        Template names are resolved against `get_template_path`, falling
        back to the directory of the calling module.
        """
        directory = self.get_template_path()
        if not directory:
            directory = _caller_directory()
        namespace = self.get_template_namespace()
        namespace.update(kwargs)
        return self._loader_for(directory).load(template_name).generate(**namespace)

    def _loader_for(self, directory: str) -> template.BaseLoader:
        loaders = RequestHandler._template_loaders
        with RequestHandler._template_loader_lock:
            found = loaders.get(directory)
            if found is None:
                found = loaders[directory] = self.create_template_loader(directory)
        return found

    def get_template_namespace(self) -> Dict[str, Any]:
        """Names available to every template: the handler, request, user,
        locale helpers, ``static_url``, ``xsrf_form_html``,
        ``reverse_url`` plus the UI methods and modules."""
        user_locale = self.locale
        namespace: Dict[str, Any] = {
            "handler": self,
            "request": self.request,
            "current_user": self.current_user,
            "locale": user_locale,
            "_": user_locale.translate,
            "pgettext": user_locale.pgettext,
            "static_url": self.static_url,
            "xsrf_form_html": self.xsrf_form_html,
            "reverse_url": self.reverse_url,
        }
        namespace.update(self.ui)
        return namespace

    def create_template_loader(self, template_path: str) -> template.BaseLoader:
        """Make the loader for templates under ``template_path``.

        A ``template_loader`` setting wins; otherwise a `.template.Loader`
        configured from ``autoescape`` and ``template_whitespace``.
        """
        settings = self.application.settings
        if "template_loader" in settings:
            return settings["template_loader"]
        # autoescape=None means "off", so only a missing key is skipped.
        options = {
            option: settings[key]
            for key, option in (("autoescape", "autoescape"), ("template_whitespace", "whitespace"))
            if key in settings
        }
        return template.Loader(template_path, **options)

    def flush(self, include_footers: bool = False) -> Future[None]:
        """Push buffered output to the connection.

        Headers go out with the first flush.  The returned future resolves
        once the data has been handed to the network.
        """
        connection = self.request.connection
        assert connection is not None
        data = b"".join(self._write_buffer)
        self._write_buffer = []
        omit_body = self.request.method == "HEAD"
        if self._headers_written:
            for transform in self._transforms:
                data = transform.transform_chunk(data, include_footers)
            return _done_future() if omit_body else connection.write(data)
        self._headers_written = True
        for transform in self._transforms:
            status, headers, data = transform.transform_first_chunk(
                self._status_code, self._headers, data, include_footers
            )
            self._status_code, self._headers = status, headers
        jar = getattr(self, "_new_cookie", None)
        if jar is not None:
            for morsel in jar.values():
                self.add_header("Set-Cookie", morsel.OutputString(None))
        if omit_body:
            # HEAD keeps the headers (Content-Length included) but no body.
            data = b""
        first_line = httputil.ResponseStartLine("", self._status_code, self._reason)
        return connection.write_headers(first_line, self._headers, data)

    def finish(self, chunk: Optional[Union[str, bytes, dict]] = None) -> Future[None]:
        """Complete the response, writing ``chunk`` first if given.

        Before the headers go out this adds an ``Etag`` and
        ``Content-Length`` and turns the reply into a 304 when the
        request's ``If-None-Match`` matches.  The future resolves once
        everything is written.
        """
        if chunk is not None:
            if self._finished:
                raise RuntimeError("finish() called twice")
            self.write(chunk)
        # The usual case, in C (csrc/handler.c) while the methods this and
        # _send_whole_response call are the originals; nothing done
        # (NotImplemented) otherwise.
        sent = _finish(self)
        if sent is not NotImplemented:
            return sent  # type: ignore[no-any-return]
        if self._finished:
            raise RuntimeError("finish() called twice")
        connection = self.request.connection
        assert connection is not None
        mask = _override_mask(type(self), _MASK_NAMES, _MASK_ORIGINALS)
        transforms = self._transforms
        if (
            mask & _FINISH_PARTS
            or transforms is None
            or transforms
            or self._headers_written
            or type(self._headers) is not httputil.HTTPHeaders
        ):
            self._settle_headers()
            # Release the reference taken in __init__.
            connection.set_close_callback(None)  # type: ignore
            sent = self.flush(include_footers=True)
        else:
            sent = self._send_whole_response(connection)
        connection.finish()
        if mask & _LOG:
            self._log()
        else:
            # self.application.log_request(self), in C while it is ours
            _log_request(self.application, self)
        self._finished = True
        if mask & _ON_FINISH:
            self.on_finish()
        if mask & _FINISH_PARTS:
            self._break_cycles()
        else:
            self.ui = None  # type: ignore
        return sent

    def _send_whole_response(self, connection: httputil.HTTPConnection) -> Future[None]:
        # What _settle_headers() and flush() do for a response that goes out
        # in one piece, for a handler that replaces none of the methods they
        # call (finish() checks) and has no output transforms.
        buffered = self._write_buffer
        body = b"".join(buffered)  # a single bytes piece is returned as is
        headers = self._headers
        fields = headers._dict
        code = self._status_code
        request = self.request
        method = request.method
        if code == 200 and (method == "GET" or method == "HEAD") and "Etag" not in fields:
            # compute_etag() + set_etag_header(); hex digits need no check.
            etag = '"' + _sha1(body).hexdigest() + '"'
            fields["Etag"] = etag
            headers._as_list["Etag"] = [etag]
            request_headers = request.headers
            asked = (
                "If-None-Match" in request_headers._dict
                if type(request_headers) is httputil.HTTPHeaders
                else "If-None-Match" in request_headers
            )
            if asked and self.check_etag_header():
                code = 304
                self.set_status(304)
                buffered = self._write_buffer = []
                body = b""
        if code == 204 or code == 304 or 100 <= code < 200:
            assert not buffered, "Cannot send body with %s" % code
            self._clear_representation_headers()
        elif "Content-Length" not in fields:
            length = str(len(body))
            fields["Content-Length"] = length
            headers._as_list["Content-Length"] = [length]
        # Release the reference taken in __init__.
        connection.set_close_callback(None)  # type: ignore
        # flush(include_footers=True) of the first and only chunk.
        self._write_buffer = []
        self._headers_written = True
        # (getattr, as flush() does: reading self.__dict__ would turn the
        # handler's inline attribute values into a dict on every request.)
        jar = getattr(self, "_new_cookie", None)
        if jar is not None:
            for morsel in jar.values():
                self.add_header("Set-Cookie", morsel.OutputString(None))
        if method == "HEAD":
            body = b""
        first_line = _new_tuple(
            httputil.ResponseStartLine, ("", code, self._reason)
        )
        return connection.write_headers(first_line, headers, body)

    def _settle_headers(self) -> None:
        # Final header fix-ups done by finish() when nothing is sent yet.
        if self._headers_written:
            return
        code = self._status_code
        cacheable = (
            code == 200
            and self.request.method in ("GET", "HEAD")
            and "Etag" not in self._headers
        )
        if cacheable:
            self.set_etag_header()
            if self.check_etag_header():
                code = 304
                self.set_status(code)
                self._write_buffer = []
        if code in (204, 304) or 100 <= code < 200:
            assert not self._write_buffer, "Cannot send body with %s" % code
            self._clear_representation_headers()
        elif "Content-Length" not in self._headers:
            self.set_header("Content-Length", sum(len(part) for part in self._write_buffer))

    def detach(self) -> iostream.IOStream:
        """Hand the underlying `.IOStream` to the caller; the handler counts
        as finished and the HTTP layer lets go of the connection."""
        self._finished = True
        # Connections that cannot be detached (HTTP/2) raise NotImplementedError.
        return self.request.connection.detach()  # type: ignore

    def _break_cycles(self) -> None:
        # UI method wrappers close over the handler; drop them.
        self.ui = None  # type: ignore

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        """Replace the response with an error page from `write_error`.

        Anything buffered is thrown away.  When the headers are already on
        the wire all that can be done is to finish.
        """
        if not self._headers_written:
            self.clear()
            reason = kwargs.get("reason")
            error = kwargs["exc_info"][1] if "exc_info" in kwargs else None
            if isinstance(error, HTTPError) and error.reason:
                reason = error.reason
            self.set_status(status_code, reason)
            try:
                self.write_error(status_code, **kwargs)
            except Exception:
                app_log.error("Uncaught exception in write_error", exc_info=True)
            if self._finished:
                return
            self.finish()
            return
        gen_log.error("Cannot send error response after headers written")
        if self._finished:
            return
        # A truncated body beats a connection left hanging.
        try:
            self.finish()
        except Exception:
            gen_log.error("Failed to flush partial response", exc_info=True)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Produce the error page body; override for custom pages.

        The exception, if any, is in ``kwargs["exc_info"]``; when the
        ``serve_traceback`` setting is on the page is the plain-text
        traceback.
        """
        exc_info = kwargs.get("exc_info")
        if exc_info is not None and self.settings.get("serve_traceback"):
            self.set_header("Content-Type", "text/plain")
            for text in traceback.format_exception(*exc_info):
                self.write(text)
            self.finish()
            return
        label = "%d: %s" % (status_code, self._reason)
        self.finish("<html><title>" + label + "</title><body>" + label + "</body></html>")

    @property
    def locale(self) -> tornado_c.locale.Locale:
        """The locale for this request (`get_user_locale`, falling back to
        `get_browser_locale`); computed once."""
        # getattr with a default: no AttributeError is raised and caught.
        known = getattr(self, "_locale", _NOT_LOOKED_UP)
        if known is not _NOT_LOOKED_UP:
            return known  # type: ignore[return-value]
        chosen = self.get_user_locale()
        if chosen is None:
            chosen = self.get_browser_locale()
            assert chosen
        self._locale = chosen
        return chosen

    @locale.setter
    def locale(self, value: tornado_c.locale.Locale) -> None:
        self._locale = value

    def get_user_locale(self) -> Optional[tornado_c.locale.Locale]:
        """Hook to pick the locale yourself (say from the user's profile);
        returning None defers to `get_browser_locale`."""
        return None

    def get_browser_locale(self, default: str = "en_US") -> tornado_c.locale.Locale:
        """Best locale according to ``Accept-Language`` (highest q first)."""
        header = self.request.headers.get("Accept-Language")
        if header is None:
            return locale.get(default)
        weighted: List[Tuple[float, str]] = []
        for item in header.split(","):
            code, _, params = item.strip().partition(";")
            weight = _accept_language_weight(params.split(";")[0].strip()) if params else 1.0
            if weight > 0:
                weighted.append((weight, code))
        if not weighted:
            return locale.get(default)
        weighted.sort(key=lambda entry: -entry[0])
        return locale.get(*[code for _, code in weighted])

    @property
    def current_user(self) -> Any:
        """The logged-in user as given by `get_current_user` (looked up
        once); can also be assigned, e.g. by an async `prepare`."""
        known = getattr(self, "_current_user", _NOT_LOOKED_UP)
        if known is not _NOT_LOOKED_UP:
            return known
        self._current_user = self.get_current_user()
        return self._current_user

    @current_user.setter
    def current_user(self, value: Any) -> None:
        self._current_user = value

    def get_current_user(self) -> Any:
        """Hook that identifies the user, e.g. from a signed cookie."""
        return None

    def get_login_url(self) -> str:
        """Where `authenticated` sends anonymous users (``login_url``)."""
        self.require_setting("login_url", "@tornado.web.authenticated")
        return self.application.settings["login_url"]

    def get_template_path(self) -> Optional[str]:
        """Directory holding the templates (``template_path`` setting)."""
        return self.application.settings.get("template_path")

    @property
    def xsrf_token(self) -> bytes:
        """This user's anti-XSRF token; the ``_xsrf`` cookie is set along
        the way when the client has none.

        Version 2 tokens (the default ``xsrf_cookie_version``) are
        re-masked per request, which defeats BREACH-style compression
        attacks.
        """
        try:
            return self._xsrf_token
        except AttributeError:
            pass
        cookie_version, raw, issued = self._get_raw_xsrf_token()
        style = self.settings.get("xsrf_cookie_version", 2)
        if style == 2:
            mask = os.urandom(4)
            masked = _websocket_mask(mask, raw)
            token = b"2|%s|%s|%d" % (
                binascii.b2a_hex(mask),
                binascii.b2a_hex(masked),
                int(issued),
            )
        elif style == 1:
            token = binascii.b2a_hex(raw)
        else:
            raise ValueError("unknown xsrf cookie version %d", style)
        self._xsrf_token = token
        if cookie_version is None:
            # No usable cookie yet: send one.
            options = self.settings.get("xsrf_cookie_kwargs", {})
            if self.current_user and "expires_days" not in options:
                options["expires_days"] = 30
            self.set_cookie(self.settings.get("xsrf_cookie_name", "_xsrf"), token, **options)
        return token

    def _get_raw_xsrf_token(self) -> Tuple[Optional[int], bytes, float]:
        # (cookie version, token bytes, timestamp); version None means the
        # token was just generated because the cookie was missing/invalid.
        try:
            return self._raw_xsrf_token
        except AttributeError:
            pass
        cookie = self.get_cookie(self.settings.get("xsrf_cookie_name", "_xsrf"))
        parsed = self._decode_xsrf_token(cookie) if cookie else (None, None, None)
        if parsed[1] is None:
            parsed = (None, os.urandom(16), time.time())
        assert parsed[1] is not None and parsed[2] is not None
        self._raw_xsrf_token = cast(Tuple[Optional[int], bytes, float], parsed)
        return self._raw_xsrf_token

    def _decode_xsrf_token(
        self, cookie: str
    ) -> Tuple[Optional[int], Optional[bytes], Optional[float]]:
        # Accepts the bare-hex version 1 format and the masked version 2
        # format; anything unparseable yields (None, None, None).
        try:
            raw = utf8(cookie)
            if _signed_value_version_re.match(raw) is None:
                try:
                    plain = binascii.a2b_hex(raw)
                except (binascii.Error, TypeError):
                    plain = raw
                return 1, plain, int(time.time())  # v1 has no timestamp
            fields = cookie.split("|")
            if int(fields[0]) != 2:
                raise Exception("Unknown xsrf cookie version")
            _, mask_hex, masked_hex, issued = fields
            mask = binascii.a2b_hex(utf8(mask_hex))
            return 2, _websocket_mask(mask, binascii.a2b_hex(utf8(masked_hex))), int(issued)
        except Exception:
            gen_log.debug("Uncaught exception in _decode_xsrf_token", exc_info=True)
            return None, None, None

    def check_xsrf_cookie(self) -> None:
        """403 unless the ``_xsrf`` argument (or an ``X-Xsrftoken`` /
        ``X-Csrftoken`` header) agrees with the ``_xsrf`` cookie.

        Called for you on every non-GET/HEAD/OPTIONS request when the
        ``xsrf_cookies`` setting is true.
        """
        headers = self.request.headers
        supplied = self.get_argument("_xsrf", None)
        if not supplied:
            supplied = headers.get("X-Xsrftoken") or headers.get("X-Csrftoken")
        if not supplied:
            raise HTTPError(403, "'_xsrf' argument missing from POST")
        submitted = self._decode_xsrf_token(supplied)[1]
        expected = self._get_raw_xsrf_token()[1]
        if not submitted:
            raise HTTPError(403, "'_xsrf' argument has invalid format")
        if not hmac.compare_digest(utf8(submitted), utf8(expected)):
            raise HTTPError(403, "XSRF cookie does not match POST argument")

    def xsrf_form_html(self) -> str:
        """Hidden form field carrying the XSRF token (sets the cookie)."""
        token = escape.xhtml_escape(self.xsrf_token)
        return '<input type="hidden" name="_xsrf" value="%s"/>' % token

    def static_url(
        self, path: str, include_host: Optional[bool] = None, **kwargs: Any
    ) -> str:
        """URL (with version hash) for ``path`` under ``static_path``.

        With ``include_host`` (defaulting to the handler's ``include_host``
        attribute) the scheme and host are prepended.
        """
        self.require_setting("static_path", "static_url")
        handler_class = self.settings.get("static_handler_class", StaticFileHandler)
        relative = handler_class.make_static_url(self.settings, path, **kwargs)
        if include_host is None:
            include_host = getattr(self, "include_host", False)
        if not include_host:
            return relative
        return f"{self.request.protocol}://{self.request.host}{relative}"

    def require_setting(self, name: str, feature: str = "this feature") -> None:
        """Fail loudly when application setting ``name`` is missing."""
        if self.application.settings.get(name):
            return
        raise Exception(
            "You must define the '%s' setting in your "
            "application to use %s" % (name, feature)
        )

    def reverse_url(self, name: str, *args: Any) -> str:
        """Same as `Application.reverse_url`."""
        return self.application.reverse_url(name, *args)

    def compute_etag(self) -> Optional[str]:
        """Etag for the buffered body (its SHA-1 by default); returning
        None suppresses the header."""
        digest = hashlib.sha1(b"".join(self._write_buffer)).hexdigest()
        return f'"{digest}"'

    def set_etag_header(self) -> None:
        """Store `compute_etag`'s result in the ``Etag`` header."""
        tag = self.compute_etag()
        if tag is not None:
            self.set_header("Etag", tag)

    _ETAG_LIST_RE = re.compile(rb'\*|(?:W/)?"[^"]*"')

    def check_etag_header(self) -> bool:
        """Whether the request's ``If-None-Match`` covers our ``Etag``
        (weak comparison; ``*`` matches everything)."""
        ours = utf8(self._headers.get("Etag", ""))
        if not ours:
            return False
        listed = RequestHandler._ETAG_LIST_RE.findall(
            utf8(self.request.headers.get("If-None-Match", ""))
        )
        if not listed:
            return False
        if listed[0] == b"*":
            return True
        target = ours[2:] if ours.startswith(b"W/") else ours
        return any((tag[2:] if tag.startswith(b"W/") else tag) == target for tag in listed)

    async def _execute(
        self, transforms: List[OutputTransform], *args: bytes, **kwargs: bytes
    ) -> None:
        """Run the request through prepare and the verb method."""
        self._transforms = transforms
        try:
            # The steps below up to the verb method's call, in C for the usual
            # case (csrc/handler.c); None when they are to be taken here.
            method = _execute_plain(self, args, kwargs)
            if method is not None:
                outcome = (
                    method(*self.path_args, **self.path_kwargs) if args or kwargs else method()
                )
                if outcome is None:
                    # The finish() below, in C.
                    _finish_when_due(self)
                    return
            else:
                request = self.request
                verb = request.method
                if verb not in self.SUPPORTED_METHODS:
                    raise HTTPError(405)
                streaming = type(self)._stream_request_body
                if not streaming:
                    # Parsing here turns a bad body into a normal 400 response.
                    try:
                        request._parse_body()
                    except httputil.HTTPInputError as e:
                        raise HTTPError(400, "Invalid body: %s" % e) from e
                if args or kwargs:
                    decode = self.decode_argument
                    self.path_args = [decode(item) for item in args]
                    self.path_kwargs = {
                        key: decode(item, name=key) for key, item in kwargs.items()
                    }
                else:
                    self.path_args, self.path_kwargs = [], {}
                safe_verb = verb in ("GET", "HEAD", "OPTIONS")
                if not safe_verb and self.application.settings.get("xsrf_cookies"):
                    self.check_xsrf_cookie()
                if _override_mask(type(self), _MASK_NAMES, _MASK_ORIGINALS) & _PREPARE:
                    pending = self.prepare()
                    if pending is not None:
                        await pending
                if self._prepared_future is not None:
                    # The connection may now start feeding us the body.
                    future_set_result_unless_cancelled(self._prepared_future, None)
                if self._finished:
                    return
                if streaming:
                    try:
                        await request._body_future
                    except iostream.StreamClosedError:
                        return
                method_name = _VERB_METHODS.get(verb) or verb.lower()
                outcome = getattr(self, method_name)(*self.path_args, **self.path_kwargs)
            if outcome is not None:
                await outcome
            if not self._finished and self._auto_finish:
                self.finish()
        except Exception as failure:
            outcome = None  # don't keep the verb method's awaitable alive
            try:
                self._handle_request_exception(failure)
            except Exception:
                app_log.error("Exception in exception handler", exc_info=True)
            waiting = self._prepared_future
            if waiting is not None and not waiting.done():
                # Failed before prepare() finished: release the connection.
                waiting.set_result(None)

    def data_received(self, chunk: bytes) -> Optional[Awaitable[None]]:
        """Called with each piece of the body for `stream_request_body`
        handlers; may return an awaitable to apply back-pressure."""
        raise NotImplementedError()

    def _log(self) -> None:
        self.application.log_request(self)

    def _request_summary(self) -> str:
        req = self.request
        return f"{req.method} {req.uri} ({req.remote_ip})"

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, Finish):
            # A deliberate early end, not a failure.
            if not self._finished:
                self.finish(*e.args)
            return
        exc_info = sys.exc_info()
        try:
            self.log_exception(*exc_info)
        except Exception:
            # An overridden log_exception blew up; carry on regardless.
            app_log.error("Error in exception logger", exc_info=True)
        if not self._finished:
            # (Already finished means on_finish or similar raised; nothing
            # more can be sent.)
            code = e.status_code if isinstance(e, HTTPError) else 500
            self.send_error(code, exc_info=exc_info)

    def log_exception(
        self,
        typ: "Optional[Type[BaseException]]",
        value: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        """Record an exception that escaped the handler.

        An `HTTPError` produces a single warning line, and only when it has
        a log message; other exceptions are logged as errors with the
        request and the traceback.
        """
        if not isinstance(value, HTTPError):
            summary = self._request_summary()
            failure = (typ, value, tb)
            app_log.error("Uncaught exception %s\n%r", summary, self.request, exc_info=failure)  # type: ignore[arg-type]
            return
        detail = value.get_message()
        if detail:
            gen_log.warning("%d %s: %s", value.status_code, self._request_summary(), detail)

    def _ui_module(self, name: str, module: Type[UIModule]) -> Callable[..., str]:
        def render(*args: Any, **kwargs: Any) -> str:
            active = getattr(self, "_active_modules", None)
            if active is None:
                active = {}
                self._active_modules: Dict[str, UIModule] = active
            instance = active.get(name)
            if instance is None:
                instance = active[name] = module(self)
            return _unicode(instance.render(*args, **kwargs))

        return render

    def _ui_method(self, method: Callable[..., str]) -> Callable[..., str]:
        return functools.partial(method, self)

    def _clear_representation_headers(self) -> None:
        # Bodiless statuses (1xx, 204, 304) describe no representation.
        for header in ("Content-Encoding", "Content-Language", "Content-Type"):
            self.clear_header(header)


_MASK_ORIGINALS = tuple(RequestHandler.__dict__[name] for name in _MASK_NAMES)
_ORIGINAL_INITIALIZE = RequestHandler.__dict__["initialize"]
_new_object = object.__new__

_RequestHandlerType = TypeVar("_RequestHandlerType", bound=RequestHandler)


def _accept_language_weight(param: str) -> float:
    # The q value from the first parameter of an Accept-Language entry;
    # absent means 1.0, malformed or negative means 0.
    if not param.startswith("q="):
        return 1.0
    try:
        weight = float(param[2:])
    except (ValueError, TypeError):
        return 0.0
    return weight if weight >= 0 else 0.0


def _caller_directory() -> str:
    # Directory of the nearest frame outside this module.
    here = _caller_directory.__code__.co_filename
    frame = sys._getframe(1)
    while frame.f_code.co_filename == here and frame.f_back is not None:
        frame = frame.f_back
    filename = frame.f_code.co_filename
    directory = _directories.get(filename)
    if directory is None:
        directory = os.path.dirname(filename)
        if len(_directories) < 1024:
            _directories[filename] = directory
    return directory


# os.path.dirname of the code files render_string() has been called from.
_directories: Dict[str, str] = {}


def stream_request_body(cls: Type[_RequestHandlerType]) -> Type[_RequestHandlerType]:
    """Class decorator that streams the request body to
    `~RequestHandler.data_received` instead of buffering it.

    `~RequestHandler.prepare` runs as soon as the headers are in (it can
    lift the size limit with ``self.request.connection.set_max_body_size``)
    and the verb method once the last chunk has been delivered.
    """
    if issubclass(cls, RequestHandler):
        cls._stream_request_body = True
        return cls
    raise TypeError("expected subclass of RequestHandler, got %r", cls)


def _has_stream_request_body(cls: Type[RequestHandler]) -> bool:
    if issubclass(cls, RequestHandler):
        return cls._stream_request_body
    raise TypeError("expected subclass of RequestHandler, got %r", cls)


def _slash_redirect(
    handler: RequestHandler, new_path: str
) -> None:
    # Shared by addslash/removeslash: only safe methods may be redirected.
    request = handler.request
    if request.method not in ("GET", "HEAD"):
        raise HTTPError(404)
    if request.query:
        new_path = f"{new_path}?{request.query}"
    handler.redirect(new_path, permanent=True)


def removeslash(
    method: Callable[..., Optional[Awaitable[None]]],
) -> Callable[..., Optional[Awaitable[None]]]:
    """Decorator sending ``/path/`` to ``/path`` with a permanent redirect
    (GET and HEAD only; other verbs see a 404).  Pair it with a pattern
    such as ``r'/foo/*'``."""

    @functools.wraps(method)
    def wrapper(  # type: ignore
        self: RequestHandler, *args, **kwargs
    ) -> Optional[Awaitable[None]]:
        path = self.request.path
        if not path.endswith("/"):
            return method(self, *args, **kwargs)
        if self.request.method in ("GET", "HEAD") and not path.rstrip("/"):
            # The root path keeps its slash.
            return method(self, *args, **kwargs)
        _slash_redirect(self, path.rstrip("/"))
        return None

    return wrapper


def addslash(
    method: Callable[..., Optional[Awaitable[None]]],
) -> Callable[..., Optional[Awaitable[None]]]:
    """Decorator sending ``/path`` to ``/path/`` with a permanent redirect
    (GET and HEAD only; other verbs see a 404).  Pair it with a pattern
    such as ``r'/foo/?'``."""

    @functools.wraps(method)
    def wrapper(  # type: ignore
        self: RequestHandler, *args, **kwargs
    ) -> Optional[Awaitable[None]]:
        path = self.request.path
        if path.endswith("/"):
            return method(self, *args, **kwargs)
        _slash_redirect(self, path + "/")
        return None

    return wrapper


class _ApplicationRouter(ReversibleRuleRouter):
    """Routing table used inside an `Application`.

    Besides the usual targets it understands `RequestHandler` subclasses
    (dispatched via `Application.get_handler_delegate`) and nested lists
    of rules.
    """

    # What the route walk in C reads of a router (csrc/route.c); the
    # instances keep a __dict__ for anything else.
    __slots__ = ("application", "rules")

    def __init__(self, application: Application, rules: Optional[_RuleList] = None) -> None:
        assert isinstance(application, Application)
        self.application = application
        super().__init__(rules)

    def process_rule(self, rule: Rule) -> Rule:
        processed = super().process_rule(rule)
        nested = processed.target
        if isinstance(nested, (list, tuple)):
            processed.target = _ApplicationRouter(self.application, nested)
        return processed

    def get_target_delegate(
        self, target: Any, request: httputil.HTTPServerRequest, **target_params: Any
    ) -> Optional[httputil.HTTPMessageDelegate]:
        if isinstance(target, type) and issubclass(target, RequestHandler):
            return self.application.get_handler_delegate(request, target, **target_params)
        if type(target) is _ApplicationRouter:
            # A nested rule list: what RuleRouter does with any Router.
            return target.find_handler(request, **target_params)
        return super().get_target_delegate(target, request, **target_params)


class Application(ReversibleRouter):
    r"""A web application: a routing table of request handlers plus settings.

    ``handlers`` lists rules, typically ``(regexp, RequestHandler
    subclass[, initialize kwargs[, name]])`` tuples or `URLSpec` objects;
    the regexp's groups are passed to the verb method.  The application is
    an `.HTTPServerConnectionDelegate`, so hand it to `.HTTPServer` or use
    `listen`.

    Settings come as keyword arguments: ``debug`` (which implies
    ``autoreload`` and ``serve_traceback`` and disables
    ``compiled_template_cache`` and ``static_hash_cache``),
    ``compress_response``, ``cookie_secret``, ``key_version``,
    ``xsrf_cookies``, ``login_url``, ``template_path``, ``static_path``,
    ``static_url_prefix``, ``static_handler_class``,
    ``default_handler_class``, ``ui_modules``, ``ui_methods``,
    ``log_function`` and the rest of Tornado's documented settings.
    """

    def __init__(
        self,
        handlers: Optional[_RuleList] = None,
        default_host: Optional[str] = None,
        transforms: Optional[List[Type[OutputTransform]]] = None,
        **settings: Any,
    ) -> None:
        self.settings = settings
        self.default_host = default_host
        self.transforms: List[Type[OutputTransform]]
        if transforms is not None:
            self.transforms = transforms
        else:
            compress = settings.get("compress_response") or settings.get("gzip")
            self.transforms = [GZipContentEncoding] if compress else []
        self.ui_methods: Dict[str, Callable[..., str]] = {}
        builtin_modules = dict(linkify=_linkify, xsrf_form_html=_xsrf_form_html, Template=TemplateModule)
        self.ui_modules: Dict[str, Type[UIModule]] = builtin_modules  # type: ignore[assignment]
        self._load_ui_modules(settings.get("ui_modules", {}))
        self._load_ui_methods(settings.get("ui_methods", {}))
        static_root = settings.get("static_path")
        if static_root:
            handlers = self._static_rules(static_root) + list(handlers or [])
        if settings.get("debug"):
            for option, value in (
                ("autoreload", True),
                ("compiled_template_cache", False),
                ("static_hash_cache", False),
                ("serve_traceback", True),
            ):
                settings.setdefault(option, value)
        self.wildcard_router = _ApplicationRouter(self, handlers)
        catch_all = Rule(AnyMatches(), self.wildcard_router)
        self.default_router = _ApplicationRouter(self, [catch_all])
        if settings.get("autoreload"):
            from tornado_c import autoreload

            autoreload.start()

    def _static_rules(self, static_root: str) -> List[Any]:
        # Rules serving the static directory, its prefix, favicon and robots.
        settings = self.settings
        handler_class = settings.get("static_handler_class", StaticFileHandler)
        handler_args = settings.get("static_handler_args", {})
        handler_args["path"] = static_root
        prefix = settings.get("static_url_prefix", "/static/")
        patterns = [r"/(robots\.txt)", r"/(favicon\.ico)", re.escape(prefix) + r"(.*)"]
        return [(pattern, handler_class, handler_args) for pattern in patterns]

    def listen(
        self,
        port: int,
        address: Optional[str] = None,
        *,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        backlog: int = netutil._DEFAULT_BACKLOG,
        flags: Optional[int] = None,
        reuse_port: bool = False,
        **kwargs: Any,
    ) -> HTTPServer:
        """Serve this application with a new `.HTTPServer` on ``port``.

        Socket options are passed to `.TCPServer.listen`, every other
        keyword to the `.HTTPServer` constructor.  Returns the server.
        """
        server = HTTPServer(self, **kwargs)
        server.listen(
            port, address=address, family=family, backlog=backlog, flags=flags,
            reuse_port=reuse_port,
        )
        return server

    def add_handlers(self, host_pattern: str, host_handlers: _RuleList) -> None:
        """Register rules that only apply to hosts matching ``host_pattern``.

        They are consulted in order of registration, ahead of the rules
        given to the constructor.
        """
        matcher = HostMatches(host_pattern)
        rules = self.default_router.rules
        # The final rule is the catch-all; stay in front of it.
        rules.insert(len(rules) - 1, Rule(matcher, _ApplicationRouter(self, host_handlers)))
        if self.default_host is None:
            return
        default_matcher = DefaultHostMatches(self, matcher.host_pattern)
        self.wildcard_router.add_rules([(default_matcher, host_handlers)])

    def add_transform(self, transform_class: Type[OutputTransform]) -> None:
        self.transforms.append(transform_class)

    @staticmethod
    def _flatten_ui_source(source: Any) -> List[Tuple[str, Any]]:
        # ui_methods / ui_modules may be a module, a dict or a list of them.
        if isinstance(source, types.ModuleType):
            return [(attr, getattr(source, attr)) for attr in dir(source)]
        if isinstance(source, list):
            pairs: List[Tuple[str, Any]] = []
            for item in source:
                pairs.extend(Application._flatten_ui_source(item))
            return pairs
        return list(source.items())

    def _load_ui_methods(self, methods: Any) -> None:
        for key, candidate in self._flatten_ui_source(methods):
            if key.startswith("_") or key[0].lower() != key[0]:
                continue
            if hasattr(candidate, "__call__"):
                self.ui_methods[key] = candidate

    def _load_ui_modules(self, modules: Any) -> None:
        if not isinstance(modules, (types.ModuleType, list)):
            assert isinstance(modules, dict)
        for key, candidate in self._flatten_ui_source(modules):
            if isclass(candidate) and issubclass(candidate, UIModule):
                self.ui_modules[key] = candidate

    def __call__(
        self, request: httputil.HTTPServerRequest
    ) -> Optional[Awaitable[None]]:
        # The old single-callback HTTPServer interface.
        return self.find_handler(request).execute()

    def find_handler(
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> _HandlerDelegate:
        # The router walk in C when the routers have the usual shape (see
        # csrc/route.c); NotImplemented means "as Tornado does".
        router = self.default_router
        matched = _route(router, request, _ROUTE_ENV)
        if matched is NotImplemented:
            matched = router.find_handler(request)
        if matched is not None:
            return matched  # type: ignore[return-value]
        fallback = self.settings.get("default_handler_class")
        if not fallback:
            return self.get_handler_delegate(request, ErrorHandler, {"status_code": 404})
        return self.get_handler_delegate(
            request, fallback, self.settings.get("default_handler_args", {})
        )

    def get_handler_delegate(
        self,
        request: httputil.HTTPServerRequest,
        target_class: Type[RequestHandler],
        target_kwargs: Optional[Dict[str, Any]] = None,
        path_args: Optional[List[bytes]] = None,
        path_kwargs: Optional[Dict[str, bytes]] = None,
    ) -> _HandlerDelegate:
        """Build the `.HTTPMessageDelegate` that will run ``target_class``
        on ``request`` with these initialize and path arguments."""
        return _HandlerDelegate(
            self, request, target_class, target_kwargs, path_args, path_kwargs
        )

    def reverse_url(self, name: str, *args: Any) -> str:
        """URL path of the rule called ``name`` with its groups filled
        from ``args`` (quoted); KeyError for unknown names."""
        path = self.default_router.reverse_url(name, *args)
        if path is None:
            raise KeyError("%s not found in named urls" % name)
        return path

    def log_request(self, handler: RequestHandler) -> None:
        """Log a finished request to ``tornado.access``.

        A ``log_function`` setting (or an override) replaces this.
        """
        settings = self.settings
        if "log_function" in settings:
            return settings["log_function"](handler)
        status = handler.get_status()
        level = _INFO if status < 400 else _WARNING if status < 500 else _ERROR
        # The line's arguments are only worked out when it will be emitted.
        if access_log.isEnabledFor(level):
            elapsed_ms = handler.request.request_time() * 1000.0
            emit = (
                access_log.info
                if level == _INFO
                else access_log.warning if level == _WARNING else access_log.error
            )
            emit("%d %s %.2fms", status, handler._request_summary(), elapsed_ms)


class _HandlerDelegate(httputil.HTTPMessageDelegate):
    # One request bound for a RequestHandler class: collects the body (or
    # streams it to data_received), then instantiates and runs the handler.

    # Slots, which csrc/handler.c stores into and reads directly.
    __slots__ = ("request", "connection", "application", "handler_class",
                 "stream_request_body", "handler_kwargs", "path_kwargs", "path_args",
                 "chunks", "handler")
    def __init__(
        self,
        application: Application,
        request: httputil.HTTPServerRequest,
        handler_class: Type[RequestHandler],
        handler_kwargs: Optional[Dict[str, Any]],
        path_args: Optional[List[bytes]],
        path_kwargs: Optional[Dict[str, bytes]],
    ) -> None:
        self.request = request
        self.connection = request.connection
        self.application = application
        self.handler_class = handler_class
        self.stream_request_body = (
            handler_class._stream_request_body
            if isinstance(handler_class, type) and issubclass(handler_class, RequestHandler)
            else _has_stream_request_body(handler_class)  # raises TypeError
        )
        self.handler_kwargs = handler_kwargs or {}
        self.path_kwargs = path_kwargs or {}
        self.path_args = path_args or []
        self.chunks: List[bytes] = []

    @property
    def _whole_body(self) -> bool:
        # For the native HTTP/1 engine: a body that is only collected (and
        # joined by finish()) may come in one data_received call.
        return not self.stream_request_body

    def headers_received(
        self,
        start_line: Union[httputil.RequestStartLine, httputil.ResponseStartLine],
        headers: httputil.HTTPHeaders,
    ) -> Optional[Awaitable[None]]:
        if not self.stream_request_body:
            return None
        self.request._body_future = Future()
        return self.execute()

    def data_received(self, data: bytes) -> Optional[Awaitable[None]]:
        if not self.stream_request_body:
            self.chunks.append(data)
            return None
        return self.handler.data_received(data)

    def finish(self) -> None:
        if not self.stream_request_body:
            # Parsing happens in RequestHandler._execute, where errors are
            # turned into responses.
            self.request.body = b"".join(self.chunks)
            self.execute()
            return
        future_set_result_unless_cancelled(self.request._body_future, None)

    def on_connection_close(self) -> None:
        if not self.stream_request_body:
            self.chunks = None  # type: ignore
            return
        self.handler.on_connection_close()

    def execute(self) -> Optional[Awaitable[None]]:
        settings = self.application.settings
        # Debug mode turns these caches off: reload files on every request.
        if not settings.get("compiled_template_cache", True):
            with RequestHandler._template_loader_lock:
                for cached_loader in RequestHandler._template_loaders.values():
                    cached_loader.reset()
        if not settings.get("static_hash_cache", True):
            settings.get("static_handler_class", StaticFileHandler).reset()
        handler = self.handler = self.handler_class(
            self.application, self.request, **self.handler_kwargs
        )
        request = self.request
        makers = self.application.transforms
        active_transforms = [make(request) for make in makers] if makers else []
        if self.stream_request_body:
            handler._prepared_future = Future()
        # _execute deals with its own errors; the callback merely reports
        # anything that gets past it to the event loop.
        _start_execute(
            handler._execute(active_transforms, *self.path_args, **self.path_kwargs)
        )
        # Streaming handlers: the connection waits on this before reading
        # the body.  None for everything else.
        return handler._prepared_future


def _start_execute(work: Any) -> None:
    # Runs what RequestHandler._execute returned.  A coroutine (the usual
    # case) becomes a Task directly, as gen.convert_yielded would make it;
    # anything else goes through it.  On the native loop the Task takes its
    # first step now, so a handler that never waits is done before this
    # returns, without a trip through the loop (_eager_task schedules it as
    # create_task does when a task factory is set or another task is
    # running).  (csrc/handler.c does the _eager_task case itself.)
    if type(work) is types.CoroutineType:
        eager = getattr(_get_running_loop(), "_eager_task", None)
        if eager is not None:
            # Adds the callback unless the task is already done and ok.
            eager(asyncio.Task, work, _raise_if_failed)
            return
        running: Future[Any] = asyncio.ensure_future(work)
    else:
        running = gen.convert_yielded(work)
    if not running.done() or running.cancelled() or running.exception() is not None:
        running.add_done_callback(_raise_if_failed)


_route = _core._route
_ROUTE_ENV = (
    routing.RuleRouter.find_handler,
    _ApplicationRouter.get_target_delegate,
    routing.PathMatches.match,
    _ApplicationRouter,
    AnyMatches,
    routing.PathMatches,
    RequestHandler,
    routing._unquote_or_none,
    re.Pattern,
)

# While these are the functions defined here, the native server does what
# Application.find_handler, get_handler_delegate, _HandlerDelegate's steps
# and RequestHandler.__init__ / clear do without calling them, and
# set_header and finish's log_request step do theirs through _set_header
# and _log_request (csrc/handler.c).  Each is compared at every use, so
# overrides and patches are called.
_core.web_setup(
    (
        Application,
        Application.find_handler,
        Application.get_handler_delegate,
        _HandlerDelegate,
        _HandlerDelegate.__init__,
        _HandlerDelegate.headers_received,
        _HandlerDelegate.data_received,
        _HandlerDelegate.finish,
        _HandlerDelegate.execute,
        _HandlerDelegate.__dict__["_whole_body"],
        RequestHandler,
        RequestHandler.__init__,
        RequestHandler.clear,
        RequestHandler.set_default_headers,
        _ORIGINAL_INITIALIZE,
        RequestHandler._convert_header_value,
        httputil.HTTPHeaders.__setitem__,
        httputil._normalize_header,
        Application.log_request,
        RequestHandler.get_status,
        asyncio.get_running_loop,
        RequestHandler._send_whole_response,
        _MASK_NAMES,
        _MASK_ORIGINALS,
        hashlib.sha1,
        RequestHandler.decode_argument,
        _unicode,
        escape.json_encode,
        RequestHandler.finish,
        logging.Logger.isEnabledFor,
    )
)


class HTTPError(Exception):
    """Raise to answer the request with an HTTP error status.

    ``log_message`` (%-formatted with ``args``) goes to the log only; the
    client never sees it.  The keyword-only ``reason`` overrides the
    standard phrase in the status line and on the error page.
    """

    def __init__(
        self,
        status_code: int = 500,
        log_message: Optional[str] = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        self.status_code = status_code
        self.reason = kwargs.get("reason", None)
        self._log_message = log_message
        self.args = args

    @property
    def log_message(self) -> Optional[str]:
        """The raw log message; with no ``args`` its ``%`` signs are doubled
        so that ``log_message % args`` still yields the original text."""
        text = self._log_message
        if text and not self.args:
            text = text.replace("%", "%%")
        return text

    def get_message(self) -> Optional[str]:
        """The log message after substituting ``args``."""
        text = self._log_message
        return text % self.args if text and self.args else text

    def __str__(self) -> str:
        phrase = self.reason or httputil.responses.get(self.status_code, "Unknown")
        detail = self.get_message()
        suffix = f" ({detail})" if detail else ""
        return "HTTP %d: %s%s" % (self.status_code, phrase, suffix)


class Finish(Exception):
    """Raise to stop handling the request without producing an error.

    Any arguments are given to `RequestHandler.finish`; handy after
    writing something like a 401 response by hand.
    """

    pass


class MissingArgumentError(HTTPError):
    """The 400 raised by `RequestHandler.get_argument` when a required
    argument is absent."""

    def __init__(self, arg_name: str) -> None:
        super().__init__(400, "Missing argument %s" % arg_name)
        self.arg_name = arg_name


class ErrorHandler(RequestHandler):
    """Responds to anything with the error ``status_code`` it was given."""

    def initialize(self, status_code: int) -> None:
        self.set_status(status_code)

    def prepare(self) -> None:
        raise HTTPError(self._status_code)

    def check_xsrf_cookie(self) -> None:
        # Any verb can land here; an XSRF failure would only mask the
        # intended error.
        pass


class RedirectHandler(RequestHandler):
    """Answers GET with a redirect to ``url``.

    ``url`` is run through `str.format` with the path groups (so
    ``"/b/{0}"`` works) and keeps the request's query arguments.  It is a
    301 unless ``permanent=False`` asks for a 302.
    """

    def initialize(self, url: str, permanent: bool = True) -> None:
        self._url = url
        self._permanent = permanent

    def get(self, *args: Any, **kwargs: Any) -> None:
        target = self._url.format(*args, **kwargs)
        query = self.request.query_arguments
        if query:
            pairs = list(httputil.qs_to_qsl(query))
            target = httputil.url_concat(target, pairs)  # type: ignore[arg-type]
        self.redirect(target, permanent=self._permanent)


_STATIC_CHUNK = 64 * 1024

# POSIX paths (the fast paths of StaticFileHandler's path handling), and
# the containment prefix of each absolute static root.
_POSIX = os.path is posixpath
_root_prefixes: Dict[str, str] = {}


class StaticFileHandler(RequestHandler):
    """Serves the files below the directory passed as ``path``.

    The ``static_path`` setting installs it for you; it can also be mapped
    by hand::

        (r"/content/(.*)", StaticFileHandler, {"path": "/var/www"})

    With ``default_filename`` (say ``"index.html"``) directories are
    served too.  Responses carry ``Etag`` and ``Last-Modified``, honour
    conditional and ``Range`` requests, and URLs from `make_static_url`
    (which include a ``v=`` hash) may be cached for ten years.  The class
    methods below are the points to override for other storage, versioning
    or caching policies.
    """

    CACHE_MAX_AGE = 86400 * 365 * 10  # 10 years

    _static_hashes: Dict[str, Optional[str]] = {}
    # The served file's stat, made on first use.
    _stat_result: os.stat_result
    _lock = threading.Lock()  # protects _static_hashes

    def initialize(self, path: str, default_filename: Optional[str] = None) -> None:
        self.root = path
        self.default_filename = default_filename

    @classmethod
    def reset(cls) -> None:
        """Drop every cached version hash."""
        with cls._lock:
            cls._static_hashes = {}

    def head(self, path: str) -> Awaitable[None]:
        return self.get(path, include_body=False)

    async def get(self, path: str, include_body: bool = True) -> None:
        pieces: Optional[Iterable[bytes]] = None
        if not _override_mask(type(self), _STATIC_NAMES, _STATIC_ORIGINALS):
            # Every hook is this class's own: the common case (a whole
            # regular file, no Range header) takes the short way, with the
            # same results -- in C (csrc/static.c) for a plain GET of a file
            # of one piece, else _plain_body.
            pieces = _static_plain(self, path, include_body, _STATIC_ENV) if _POSIX else None
            if pieces is NotImplemented or pieces is None:
                pieces = self._plain_body(path, include_body)
        if pieces is None:
            pieces = self._hooked_body(path, include_body)
        elif (
            type(pieces) is tuple
            and len(pieces) == 1
            and not self._transforms
            and type(self).get is _STATIC_GET
        ):
            # A file of one piece, no output transforms, and get() the one
            # _execute calls: finish(), which comes next, sends the piece
            # with the headers -- the one write flush() would have made.
            self.write(pieces[0])
            return
        for piece in pieces:
            try:
                self.write(piece)
                await self.flush()
            except iostream.StreamClosedError:
                return

    def _hooked_body(self, path: str, include_body: bool) -> Iterable[bytes]:
        # get() through every hook: prepares the response and returns the
        # pieces of the body to write (none for a redirect, 304, 416 or HEAD).
        # From now on only the parsed form (self.path) is used.
        relative = self.path = self.parse_url_path(path)
        resolved = self.validate_absolute_path(
            self.root, self.get_absolute_path(self.root, relative)
        )
        self.absolute_path = resolved
        if resolved is None:
            return ()
        self.modified = self.get_modified_time()
        self.set_headers()
        fresh = self.should_return_304()
        if fresh:
            self.set_status(304)
            return ()
        size = self.get_content_size()
        span = self._requested_span(size)
        if span is None:
            return ()  # 416 already prepared
        start, end = span
        self.set_header("Content-Length", (size if end is None else end) - (start or 0))
        if not include_body:
            assert self.request.method == "HEAD"
            return ()
        # (Read again: a hook may have changed it, as in Tornado.)
        source = self.absolute_path
        assert source is not None
        body = self.get_content(source, start, end)
        return [body] if isinstance(body, bytes) else body

    def _plain_body(
        self, path: str, include_body: bool = True
    ) -> Optional[Iterable[bytes]]:
        # What get() does, for a handler whose hooks are all
        # StaticFileHandler's own (get() checks), when the answer is the
        # whole of a regular file under the root (or a 304, or HEAD's
        # headers) and the request has no Range: the same attributes,
        # headers (set_headers() itself) and status, with one stat and, for
        # a file of one piece, one read.  Returns the pieces to write, or
        # None -- with nothing done -- for every other case, which get()
        # then takes the usual way.
        request = self.request
        asked = request.headers
        root = self.root
        if (
            not _POSIX
            or type(asked) is not httputil.HTTPHeaders
            or type(root) is not str
            or type(path) is not str
            or root[:1] != "/"
        ):
            return None
        fields = asked._dict
        if "Range" in fields:
            return None
        # validate_absolute_path()'s checks, without its errors.
        absolute = self.get_absolute_path(root, path)
        prefix = _root_prefixes.get(root)
        if prefix is None or not (absolute if absolute[-1] == "/" else absolute + "/").startswith(
            prefix
        ):
            return None
        try:
            found = os.stat(absolute)
        except (OSError, ValueError):
            return None
        size = found.st_size
        if not stat.S_ISREG(found.st_mode):
            return None
        self.path = path
        self.absolute_path = absolute
        self._validated_stat = (absolute, found)
        self._stat_result = found
        self.modified = datetime.datetime.fromtimestamp(int(found.st_mtime), _UTC)
        self.set_headers()
        if ("If-None-Match" in fields or "If-Modified-Since" in fields) and self.should_return_304():
            self.set_status(304)
            return ()
        self.set_header("Content-Length", size)
        if not include_body:
            assert request.method == "HEAD"
            return ()
        if size > _STATIC_CHUNK:
            return self.get_content(absolute, None, None)
        # get_content() for a file of one piece: the piece, then the read
        # that finds the end (a file that grew meanwhile overruns
        # Content-Length, as it would there).
        fd = os.open(absolute, os.O_RDONLY)
        try:
            body = os.read(fd, _STATIC_CHUNK)
            if body:
                body += os.read(fd, _STATIC_CHUNK)
        finally:
            os.close(fd)
        return (body,) if body else ()

    def _requested_span(
        self, size: int
    ) -> Optional[Tuple[Optional[int], Optional[int]]]:
        # Interpret the Range header against a file of ``size`` bytes.
        # Returns (start, end) to send (None meaning the file's start/end),
        # or None after setting up a 416 response.
        header = self.request.headers.get("Range")
        # Unparseable or multi-range headers yield None: the whole file is
        # sent, which RFC 9110 permits.
        parsed = httputil._parse_request_range(header) if header else None
        if not parsed:
            return None, None
        start, end = parsed
        if start is not None and start < 0:
            start = max(0, size + start)  # suffix form: last N bytes
        empty = end == 0 or (
            start is not None and (start >= size or (end is not None and end <= start))
        )
        if empty:
            # Nothing to send; even bytes=-0 of an empty file is refused.
            self.set_status(416)
            self.set_header("Content-Type", "text/plain")
            self.set_header("Content-Range", f"bytes */{size}")
            return None
        if end is not None:
            end = min(end, size)  # asking past EOF is allowed (RFC 9110 14.1.2)
        sent = (size if end is None else end) - (start or 0)
        if sent != size:
            self.set_status(206)
            self.set_header("Content-Range", httputil._get_content_range(start, end, size))
        return start, end

    def compute_etag(self) -> Optional[str]:
        """Uses the file's version hash (`get_content_version`) as Etag."""
        assert self.absolute_path is not None
        digest = self._get_cached_version(self.absolute_path)
        return f'"{digest}"' if digest else None

    def set_headers(self) -> None:
        """Emit the file's headers: Etag, Last-Modified, Content-Type, the
        caching headers, then `set_extra_headers`."""
        self.set_header("Accept-Ranges", "bytes")
        self.set_etag_header()
        modified = self.modified
        if modified is not None:
            self.set_header("Last-Modified", modified)
        mime = self.get_content_type()
        if mime:
            self.set_header("Content-Type", mime)
        lifetime = self.get_cache_time(self.path, modified, mime)
        if lifetime > 0:
            expiry = datetime.datetime.now(_UTC) + datetime.timedelta(seconds=lifetime)
            self.set_header("Expires", expiry)
            self.set_header("Cache-Control", f"max-age={lifetime}")
        self.set_extra_headers(self.path)

    def should_return_304(self) -> bool:
        """Whether the client's copy is still fresh (``If-None-Match`` takes
        precedence over ``If-Modified-Since``)."""
        headers = self.request.headers
        if headers.get("If-None-Match"):
            return self.check_etag_header()
        since_text = headers.get("If-Modified-Since")
        if since_text is None:
            return False
        try:
            since = email.utils.parsedate_to_datetime(since_text)
        except Exception:
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=_UTC)
        assert self.modified is not None
        return self.modified <= since

    @classmethod
    def get_absolute_path(cls, root: str, path: str) -> str:
        """Join ``path`` onto ``root`` and make it absolute; containment is
        checked later by `validate_absolute_path`."""
        if _POSIX and type(root) is str and type(path) is str and root[:1] == "/":
            # What join + abspath come to for an absolute root: an absolute
            # path replaces it, and the result needs no working directory.
            if path[:1] == "/":
                return os.path.normpath(path)
            return os.path.normpath(root + path if root[-1] == "/" else root + "/" + path)
        return os.path.abspath(os.path.join(root, path))

    def validate_absolute_path(self, root: str, absolute_path: str) -> Optional[str]:
        """Make sure ``absolute_path`` is a regular file under ``root``.

        Returns the file to serve, or None when a directory request was
        redirected to add its trailing slash.  403 for anything outside
        the root or not a file, 404 when it does not exist.
        """
        # A trailing separator keeps "/rootx" out of "/root" while still
        # letting "/root" itself (a request for root/) in.
        prefix = _root_prefixes.get(root) if type(root) is str else None
        if prefix is None:
            prefix = os.path.join(os.path.abspath(root), "")
            if _POSIX and type(root) is str and root[:1] == "/":
                # An absolute root's prefix does not depend on the working
                # directory: remembered.
                if len(_root_prefixes) >= 64:
                    _root_prefixes.clear()
                _root_prefixes[root] = prefix
        if _POSIX and type(absolute_path) is str and absolute_path:
            candidate = absolute_path if absolute_path[-1] == "/" else absolute_path + "/"
        else:
            candidate = os.path.join(absolute_path, "")
        if not candidate.startswith(prefix):
            raise HTTPError(403, "%s is not in root static directory", self.path)
        if self.default_filename is not None and os.path.isdir(absolute_path):
            # Use request.path: the router may have eaten a prefix and an
            # empty self.path still needs its slash.
            requested = self.request.path
            if not requested.endswith("/"):
                if requested.startswith("//"):
                    # "//host/..." in Location would be protocol-relative,
                    # i.e. an open redirect.
                    raise HTTPError(403, "cannot redirect path with two initial slashes")
                self.redirect(requested + "/", permanent=True)
                return None
            absolute_path = os.path.join(absolute_path, self.default_filename)
        # One stat answers os.path.exists and os.path.isfile; _stat() uses
        # it if this is the path the handler ends up serving.
        try:
            found = os.stat(absolute_path)
        except (OSError, ValueError):
            raise HTTPError(404)
        if not stat.S_ISREG(found.st_mode):
            raise HTTPError(403, "%s is not a file", self.path)
        self._validated_stat = (absolute_path, found)
        return absolute_path

    @classmethod
    def get_content(
        cls, abspath: str, start: Optional[int] = None, end: Optional[int] = None
    ) -> Generator[bytes, None, None]:
        """Generate the bytes of ``abspath`` between ``start`` and ``end``
        (half-open, None for the file's own bounds) in 64 KiB pieces.

        An override may return one bytes object instead.
        """
        # The file descriptor itself (os.open makes it non-inheritable): each
        # piece is read whole, straight into bytes, without the file object
        # open() builds (a quarter of the cost of a small file).
        fd = os.open(abspath, os.O_RDONLY)
        try:
            if start is not None:
                os.lseek(fd, start, os.SEEK_SET)
            left = None if end is None else end - (start or 0)
            while left is None or left > 0:
                piece = os.read(fd, _STATIC_CHUNK if left is None else min(left, _STATIC_CHUNK))
                if not piece:
                    assert left is None, "static file shrank while being read"
                    return
                if left is not None:
                    left -= len(piece)
                yield piece
        finally:
            os.close(fd)

    @classmethod
    def get_content_version(cls, abspath: str) -> str:
        """Version string of the file: hex SHA-512 of the content."""
        content = cls.get_content(abspath)
        digest = hashlib.sha512()
        for piece in [content] if isinstance(content, bytes) else content:
            digest.update(piece)
        return digest.hexdigest()

    def _stat(self) -> os.stat_result:
        assert self.absolute_path is not None
        try:
            return self._stat_result
        except AttributeError:
            pass
        validated = getattr(self, "_validated_stat", None)
        found: os.stat_result
        if validated is not None and validated[0] == self.absolute_path:
            found = validated[1]
        else:
            found = os.stat(self.absolute_path)
        self._stat_result = found
        return found

    def get_content_size(self) -> int:
        """File size in bytes."""
        return self._stat().st_size

    def get_modified_time(self) -> Optional[datetime.datetime]:
        """Modification time in UTC, cut to whole seconds (all that
        Last-Modified can carry), or None."""
        seconds = int(self._stat().st_mtime)
        return datetime.datetime.fromtimestamp(seconds, _UTC)

    def get_content_type(self) -> str:
        """MIME type guessed from the file name."""
        assert self.absolute_path is not None
        guessed, encoding = mimetypes.guess_type(self.absolute_path)
        if encoding is None:
            return guessed or "application/octet-stream"
        # Compressed files are sent verbatim, never with Content-Encoding.
        return "application/gzip" if encoding == "gzip" else "application/octet-stream"

    def set_extra_headers(self, path: str) -> None:
        """Hook for extra headers on every static response."""
        pass

    def get_cache_time(
        self, path: str, modified: Optional[datetime.datetime], mime_type: str
    ) -> int:
        """How long (seconds) clients may cache: `CACHE_MAX_AGE` when the
        URL is versioned with ``?v=``, otherwise 0 (no ``Expires``)."""
        if "v" in self.request.arguments:
            return self.CACHE_MAX_AGE
        return 0

    @classmethod
    def make_static_url(
        cls, settings: Dict[str, Any], path: str, include_version: bool = True
    ) -> str:
        """Build the URL for static file ``path`` (for
        `RequestHandler.static_url`).

        Being a class method it works without a request.  ``?v=<hash>`` is
        appended unless ``include_version`` is false or no hash exists.
        """
        base = settings.get("static_url_prefix", "/static/") + path
        digest = cls.get_version(settings, path) if include_version else None
        return f"{base}?v={digest}" if digest else base

    def parse_url_path(self, url_path: str) -> str:
        """Convert the path from the URL into one relative to the root."""
        if os.path.sep == "/":
            return url_path
        return url_path.replace("/", os.path.sep)

    @classmethod
    def get_version(cls, settings: Dict[str, Any], path: str) -> Optional[str]:
        """Cached version hash for static file ``path`` (None if unknown)."""
        return cls._get_cached_version(cls.get_absolute_path(settings["static_path"], path))

    @classmethod
    def _get_cached_version(cls, abs_path: str) -> Optional[str]:
        with cls._lock:
            table = cls._static_hashes
            if abs_path not in table:
                try:
                    digest: Optional[str] = cls.get_content_version(abs_path)
                except Exception:
                    gen_log.error("Could not open static file %r", abs_path)
                    digest = None
                table[abs_path] = digest
            return table[abs_path] or None


# What StaticFileHandler.get()'s short way (_plain_body) stands in for:
# while a handler class resolves every one of these to the object below,
# get() may take it (see _override_mask).
_STATIC_NAMES = (
    "parse_url_path",
    "get_absolute_path",
    "validate_absolute_path",
    "get_modified_time",
    "_stat",
    "set_headers",
    "set_etag_header",
    "compute_etag",
    "_get_cached_version",
    "get_content_version",
    "get_content_type",
    "get_cache_time",
    "set_extra_headers",
    "should_return_304",
    "get_content_size",
    "_requested_span",
    "get_content",
    "set_header",
    "_convert_header_value",
    "write",
    "flush",
)


def _resolved(cls: type, name: str) -> Any:
    # The raw attribute (function, classmethod, value) cls resolves name to.
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    raise AttributeError(name)


_STATIC_ORIGINALS = tuple(_resolved(StaticFileHandler, name) for name in _STATIC_NAMES)
_STATIC_GET = StaticFileHandler.get
_static_plain = _core._static_plain
# What _static_plain works with (see csrc/static.c); the functions are
# compared with os's and httputil's at each call.
_STATIC_ENV = (
    _root_prefixes,
    os,
    os.stat,
    os.open,
    os.read,
    os.close,
    mimetypes,
    httputil.format_timestamp,
    _STATIC_CHUNK,
    StaticFileHandler.get,
    mimetypes.MimeTypes,
    mimetypes.guess_type,
    mimetypes.MimeTypes.guess_type,
)


class FallbackHandler(RequestHandler):
    """Passes the request to any callable that accepts it, for example a
    `.WSGIContainer`::

        (r".*", FallbackHandler, dict(fallback=wsgi_app))
    """

    def initialize(
        self, fallback: Callable[[httputil.HTTPServerRequest], None]
    ) -> None:
        self.fallback = fallback

    def prepare(self) -> None:
        handoff = self.fallback
        handoff(self.request)
        self._finished = True
        self.on_finish()


class OutputTransform:
    """Rewrites a response as it is sent (compression, for one).

    Internal to `Application`; a new instance is made per request.
    """

    def __init__(self, request: httputil.HTTPServerRequest) -> None:
        pass

    def transform_first_chunk(
        self,
        status_code: int,
        headers: httputil.HTTPHeaders,
        chunk: bytes,
        finishing: bool,
    ) -> Tuple[int, httputil.HTTPHeaders, bytes]:
        return status_code, headers, chunk

    def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
        return chunk


class GZipContentEncoding(OutputTransform):
    """gzip compression for clients that accept it (enabled by the
    ``compress_response`` setting).

    Only ``text/*`` and the `CONTENT_TYPES` are compressed, and a response
    that is complete in its first chunk must be at least `MIN_LENGTH`.
    """

    CONTENT_TYPES = {"application/javascript", "application/x-javascript", "application/xml", "application/atom+xml", "application/json", "application/xhtml+xml", "image/svg+xml"}  # noqa: E501
    # Compression level 6 (gzip's default) gets most of the size win at a
    # fraction of the CPU cost of level 9.
    GZIP_LEVEL = 6
    # Small bodies are not worth it: the gzip overhead can exceed the gain.
    MIN_LENGTH = 1024

    def __init__(self, request: httputil.HTTPServerRequest) -> None:
        accepted = request.headers.get("Accept-Encoding", "")
        self._gzipping = "gzip" in accepted

    def _compressible_type(self, ctype: str) -> bool:
        return ctype in self.CONTENT_TYPES or ctype.startswith("text/")

    def transform_first_chunk(
        self,
        status_code: int,
        headers: httputil.HTTPHeaders,
        chunk: bytes,
        finishing: bool,
    ) -> Tuple[int, httputil.HTTPHeaders, bytes]:
        # Caches must key on Accept-Encoding even when this particular
        # response stays uncompressed.
        vary = headers.get("Vary")
        headers["Vary"] = "Accept-Encoding" if vary is None else vary + ", Accept-Encoding"
        if not self._gzipping:
            return status_code, headers, chunk
        media = _unicode(headers.get("Content-Type", "")).split(";")[0]
        big_enough = not finishing or len(chunk) >= self.MIN_LENGTH
        self._gzipping = (
            big_enough
            and "Content-Encoding" not in headers
            and self._compressible_type(media)
        )
        if not self._gzipping:
            return status_code, headers, chunk
        sink = self._gzip_value = BytesIO()
        self._gzip_file = gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=self.GZIP_LEVEL)
        headers["Content-Encoding"] = "gzip"
        compressed = self.transform_chunk(chunk, finishing)
        if "Content-Length" in headers:
            if not finishing:
                # More is coming; the compressed total is unknown.
                del headers["Content-Length"]
            else:
                headers["Content-Length"] = str(len(compressed))
        return status_code, headers, compressed

    def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
        if not self._gzipping:
            return chunk
        writer = self._gzip_file
        writer.write(chunk)
        if finishing:
            writer.close()
        else:
            writer.flush()
        sink = self._gzip_value
        produced = sink.getvalue()
        sink.seek(0)
        sink.truncate()
        return produced


def authenticated(
    method: Callable[..., Optional[Awaitable[None]]],
) -> Callable[..., Optional[Awaitable[None]]]:
    """Handler-method decorator demanding a logged-in user.

    When `~RequestHandler.current_user` is empty, GET and HEAD are
    redirected to `~RequestHandler.get_login_url` with ``next=`` set to
    the current URL; other verbs are refused with 403.
    """

    @functools.wraps(method)
    def wrapper(  # type: ignore
        self: RequestHandler, *args, **kwargs
    ) -> Optional[Awaitable[None]]:
        if not self.current_user:
            _send_to_login(self)
            return None
        return method(self, *args, **kwargs)

    return wrapper


def _send_to_login(handler: RequestHandler) -> None:
    request = handler.request
    if request.method not in ("GET", "HEAD"):
        raise HTTPError(403)
    target = handler.get_login_url()
    if "?" not in target:
        # An absolute login URL needs an absolute return address.
        if urllib.parse.urlsplit(target).scheme:
            come_back = request.full_url()
        else:
            assert request.uri is not None
            come_back = request.uri
        target = target + "?" + urlencode({"next": come_back})
    handler.redirect(target)


class UIModule:
    """A reusable widget for templates, used as ``{% module Name(...) %}``.

    Apart from `render` it can declare scripts, stylesheets and HTML
    snippets which `RequestHandler.render` places on the page.
    """

    def __init__(self, handler: RequestHandler) -> None:
        self.handler = handler
        self.request = handler.request
        self.locale = handler.locale
        self.ui = handler.ui

    @property
    def current_user(self) -> Any:
        return self.handler.current_user

    def render(self, *args: Any, **kwargs: Any) -> Union[str, bytes]:
        """Return the widget's markup (must be overridden)."""
        raise NotImplementedError()

    def embedded_javascript(self) -> Optional[str]:
        """Inline script for the page, or None."""
        return None

    def javascript_files(self) -> Optional[Iterable[str]]:
        """Script files for the page; relative ones go via `static_url`."""
        return None

    def embedded_css(self) -> Optional[str]:
        """Inline CSS for the page, or None."""
        return None

    def css_files(self) -> Optional[Iterable[str]]:
        """Stylesheets for the page; relative ones go via `static_url`."""
        return None

    def html_head(self) -> Optional[str]:
        """Markup to add inside ``<head>``."""
        return None

    def html_body(self) -> Optional[str]:
        """Markup to add at the end of ``<body>``."""
        return None

    def render_string(self, path: str, **kwargs: Any) -> bytes:
        """Render template ``path`` via the handler; returns bytes."""
        return self.handler.render_string(path, **kwargs)


class _linkify(UIModule):
    def render(self, text: str, **kwargs: Any) -> str:  # type: ignore
        return escape.linkify(text, **kwargs)


class _xsrf_form_html(UIModule):
    def render(self) -> str:  # type: ignore
        return self.handler.xsrf_form_html()


class TemplateModule(UIModule):
    """``{% module Template("foo.html", **kwargs) %}``: render another
    template in a namespace of its own.

    That template may call ``set_resources(...)`` with the keywords
    ``embedded_javascript``, ``javascript_files``, ``embedded_css``,
    ``css_files``, ``html_head`` and ``html_body`` to contribute to the
    page; repeated renders of the same template must agree.
    """

    def __init__(self, handler: RequestHandler) -> None:
        super().__init__(handler)
        # Declared resources, by template and in first-render order.
        self._resource_dict: Dict[str, Dict[str, Any]] = {}
        self._resource_list: List[Dict[str, Any]] = []

    def render(self, path: str, **kwargs: Any) -> bytes:  # type: ignore
        def set_resources(**resources: Any) -> str:
            previous = self._resource_dict.setdefault(path, resources)
            if previous is resources:
                self._resource_list.append(resources)
            elif previous != resources:
                raise ValueError("set_resources called with different resources for the same template")
            return ""

        return self.render_string(path, set_resources=set_resources, **kwargs)

    def _get_resources(self, key: str) -> Iterable[str]:
        return [entry[key] for entry in self._resource_list if key in entry]

    def _get_files(self, key: str) -> List[str]:
        collected: List[str] = []
        for item in self._get_resources(key):
            collected.extend([item] if isinstance(item, (unicode_type, bytes)) else item)
        return collected

    def embedded_javascript(self) -> str:
        return "\n".join(self._get_resources("embedded_javascript"))

    def javascript_files(self) -> Iterable[str]:
        return self._get_files("javascript_files")

    def embedded_css(self) -> str:
        return "\n".join(self._get_resources("embedded_css"))

    def css_files(self) -> Iterable[str]:
        return self._get_files("css_files")

    def html_head(self) -> str:
        return "".join(self._get_resources("html_head"))

    def html_body(self) -> str:
        return "".join(self._get_resources("html_body"))


class _UIModuleNamespace:
    """Attribute/item access to the UI modules, bound to one handler."""

    def __init__(self, handler: RequestHandler, ui_modules: Dict[str, Type[UIModule]]) -> None:
        self.handler = handler
        self.ui_modules = ui_modules

    def __getitem__(self, key: str) -> Callable[..., str]:
        return self.handler._ui_module(key, self.ui_modules[key])

    def __getattr__(self, key: str) -> Callable[..., str]:
        if key in self.ui_modules:
            return self[key]
        raise AttributeError(str(KeyError(key)))


# Signed values.
#
# Version 1: base64(value) "|" timestamp "|" hex HMAC-SHA1 over name,
# base64 value and timestamp.
# Version 2: "2|" then length-prefixed fields ("<len>:<bytes>|") for key
# version, timestamp, name and base64 value, then the hex HMAC-SHA256 of
# everything before it.

_signed_value_version_re = re.compile(rb"^([1-9][0-9]*)\|(.*)$")


def _length_prefixed(item: Union[str, bytes]) -> bytes:
    # "<len>:<data>", the length counted on the object as given (characters
    # for str), which is what the wire format has always used.
    return b"%d:%s" % (len(item), utf8(item))


def create_signed_value(
    secret: _CookieSecretTypes,
    name: str,
    value: Union[str, bytes],
    version: Optional[int] = None,
    clock: Optional[Callable[[], float]] = None,
    key_version: Optional[int] = None,
) -> bytes:
    """Produce a timestamped, signed form of ``value`` bound to ``name``;
    `decode_signed_value` reverses it.

    ``secret`` can map key versions to secrets (format version 2 only),
    with ``key_version`` selecting the one to sign with.
    """
    fmt = DEFAULT_SIGNED_VALUE_VERSION if version is None else version
    now = (clock or time.time)()
    stamp = b"%d" % int(now)
    payload = base64.b64encode(utf8(value))
    if fmt == 2:
        fields: List[Union[str, bytes]] = [str(key_version or 0), stamp, name, payload]
        body = b"2|" + b"".join(_length_prefixed(f) + b"|" for f in fields)
        if isinstance(secret, dict):
            assert key_version is not None, "Key version must be set when sign key dict is used"
            assert fmt >= 2, "Version must be at least 2 for key version support"
            secret = secret[key_version]
        return body + _create_signature_v2(secret, body)
    if fmt == 1:
        assert not isinstance(secret, dict)
        mac = _create_signature_v1(secret, name, payload, stamp)
        return payload + b"|" + stamp + b"|" + mac
    raise ValueError("Unsupported version %d" % fmt)


def _get_version(value: bytes) -> int:
    # Version 1 values carry no prefix.  Their base64 part contains no "|",
    # so a "<digits>|" prefix can only be a version marker -- unless the
    # number is implausibly large, in which case it is v1 payload.
    found = _signed_value_version_re.match(value)
    if found is None:
        return 1
    try:
        number = int(found.group(1))
    except ValueError:
        return 1
    return 1 if number > 999 else number


def decode_signed_value(
    secret: _CookieSecretTypes,
    name: str,
    value: Union[None, str, bytes],
    max_age_days: float = 31,
    clock: Optional[Callable[[], float]] = None,
    min_version: Optional[int] = None,
) -> Optional[bytes]:
    """Verify a value from `create_signed_value` and return its payload;
    None if the signature, ``name`` or age is wrong or its format is older
    than ``min_version``."""
    now = clock or time.time
    lowest = DEFAULT_SIGNED_VALUE_MIN_VERSION if min_version is None else min_version
    if lowest > 2:
        raise ValueError("Unsupported min_version %d" % lowest)
    if not value:
        return None
    raw = utf8(value)
    fmt = _get_version(raw)
    if fmt < lowest:
        return None
    if fmt == 2:
        return _decode_signed_value_v2(secret, name, raw, max_age_days, now)
    if fmt == 1:
        assert not isinstance(secret, dict)
        return _decode_signed_value_v1(secret, name, raw, max_age_days, now)
    return None


def _b64_or_none(data: bytes) -> Optional[bytes]:
    try:
        return base64.b64decode(data)
    except Exception:
        return None


def _decode_signed_value_v1(
    secret: Union[str, bytes],
    name: str,
    value: bytes,
    max_age_days: float,
    clock: Callable[[], float],
) -> Optional[bytes]:
    pieces = utf8(value).split(b"|")
    if len(pieces) != 3:
        return None
    payload, stamp, mac = pieces
    if not hmac.compare_digest(mac, _create_signature_v1(secret, name, payload, stamp)):
        gen_log.warning("Invalid cookie signature %r", value)
        return None
    issued = int(stamp)
    now = clock()
    problem = None
    if issued < now - max_age_days * 86400:
        problem = "Expired cookie %r"
    elif issued > now + 31 * 86400:
        # Far-future stamps are how a stolen cookie's life gets extended.
        problem = "Cookie timestamp in future; possible tampering %r"
    elif stamp.startswith(b"0"):
        # Zero padding would let bytes move between payload and stamp
        # without invalidating the signature.
        problem = "Tampered cookie %r"
    if problem is not None:
        gen_log.warning(problem, value)
        return None
    return _b64_or_none(payload)


def _decode_fields_v2(value: bytes) -> Tuple[int, bytes, bytes, bytes, bytes]:
    # Split "2|" + four "<len>:<data>|" fields + signature.  Raises
    # ValueError for anything malformed.
    fields: List[bytes] = []
    pos = 2
    for _ in range(4):
        colon = value.index(b":", pos)
        size = int(value[pos:colon])
        begin = colon + 1
        stop = begin + size
        # Each field must be followed by "|" (this also rejects lengths
        # that run off the end).
        if value[stop : stop + 1] != b"|":
            raise ValueError("malformed v2 signed value field")
        fields.append(value[begin:stop])
        pos = stop + 1
    key_version, stamp, name_field, payload = fields
    return int(key_version), stamp, name_field, payload, value[pos:]


def _decode_signed_value_v2(
    secret: _CookieSecretTypes,
    name: str,
    value: bytes,
    max_age_days: float,
    clock: Callable[[], float],
) -> Optional[bytes]:
    try:
        key_version, stamp, name_field, payload, mac = _decode_fields_v2(value)
    except ValueError:
        return None
    if isinstance(secret, dict):
        if key_version not in secret:
            return None
        secret = secret[key_version]
    signed_part = value[: len(value) - len(mac)]
    if not hmac.compare_digest(mac, _create_signature_v2(secret, signed_part)):
        return None
    if name_field != utf8(name):
        return None
    if int(stamp) < clock() - max_age_days * 86400:
        return None  # too old
    return _b64_or_none(payload)


def get_signature_key_version(value: Union[str, bytes]) -> Optional[int]:
    """Key version recorded in a signed value; None for version 1 values
    and for anything that does not parse."""
    raw = utf8(value)
    if _get_version(raw) < 2:
        return None
    try:
        return _decode_fields_v2(raw)[0]
    except ValueError:
        return None


def _create_signature_v1(secret: Union[str, bytes], *parts: Union[str, bytes]) -> bytes:
    digest = hmac.new(utf8(secret), b"".join(utf8(p) for p in parts), hashlib.sha1)
    return digest.hexdigest().encode("ascii")


def _create_signature_v2(secret: Union[str, bytes], s: bytes) -> bytes:
    return hmac.new(utf8(secret), utf8(s), hashlib.sha256).hexdigest().encode("ascii")


def is_absolute(path: str) -> bool:
    """True for paths that are used as-is rather than through `static_url`."""
    return path.startswith(("/", "http:", "https:"))
