"""HTTP helpers shared by the client and the server (Tornado's ``tornado.httputil``).

Holds the header multi-dict `HTTPHeaders`, the server-side request object
`HTTPServerRequest` (what ``RequestHandler.request`` is), the interfaces that
connect an HTTP/1.x (or other) connection to the application
(`HTTPServerConnectionDelegate`, `HTTPMessageDelegate`, `HTTPConnection`),
start-line parsing, form body / multipart / cookie parsing and a few small
formatting helpers.
"""

from __future__ import annotations

import calendar
import collections.abc
import copyreg
import datetime
import email.utils
import http.cookies
import re
import time
import typing
import unicodedata
from http.client import responses
from ssl import SSLError
from typing import (
    Any,
    AnyStr,
    Awaitable,
    Callable,
    Dict,
    Generator,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Tuple,
    Union,
)
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from tornado_c import _core
from tornado_c.escape import native_str, parse_qs_bytes, to_unicode, utf8
from tornado_c.util import ObjectDict, unicode_type

if typing.TYPE_CHECKING:
    import unittest  # noqa: F401
    from asyncio import Future  # noqa: F401

# Re-exported: other modules take the reason-phrase table from here.
responses = responses

#: Optional whitespace in HTTP (for ``str.strip`` and friends).
HTTP_WHITESPACE = " \t"

# Control characters that may never appear in a header value, even where
# non-Latin-1 text is allowed (multipart part headers are decoded as UTF-8).
_FORBIDDEN_HEADER_CHARS_RE = re.compile(r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]")


class _ABNF:
    """The grammar rules (RFC 9110 / 9112 / 3986) this module validates with.

    Each attribute is a compiled pattern, named after the rule it encodes.
    """

    # RFC 3986: a deliberately loose host: brackets and colons anywhere.
    uri_unreserved = re.compile(r"[A-Za-z0-9\-._~]")
    uri_sub_delims = re.compile(r"[!$&'()*+,;=]")
    uri_pct_encoded = re.compile(r"%[0-9A-Fa-f]{2}")
    uri_host = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=\[\]:]|%[0-9A-Fa-f]{2})*")
    uri_port = re.compile(r"[0-9]*")
    # RFC 5234
    VCHAR = re.compile(r"[\x21-\x7E]")
    # RFC 9110
    obs_text = re.compile(r"[\x80-\xFF]")
    field_vchar = re.compile(r"[\x21-\x7E\x80-\xFF]")
    # field-value: empty, or visible chars with inner (never outer) SP/HTAB.
    field_value = re.compile(
        r"(?:[\x21-\x7E\x80-\xFF](?:[\x21-\x7E\x80-\xFF \t]*[\x21-\x7E\x80-\xFF])?)?"
    )
    tchar = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]")
    token = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
    field_name = token
    method = token
    host = uri_host
    # RFC 9112
    HTTP_version = re.compile(r"HTTP/[0-9]\.[0-9]")
    reason_phrase = re.compile(r"[\t \x21-\x7E\x80-\xFF]+")
    request_target = re.compile(r"[\x21-\x7E\x80-\xFF]+")
    request_line = re.compile(
        r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7E\x80-\xFF]+) (HTTP/[0-9]\.[0-9])"
    )
    status_code = re.compile(r"[0-9]{3}")
    status_line = re.compile(
        r"(HTTP/[0-9]\.[0-9]) ([0-9]{3}) ([\t \x21-\x7E\x80-\xFF]+)?"
    )


_field_name_ok = _ABNF.field_name.fullmatch
_field_value_ok = _ABNF.field_value.fullmatch
_forbidden_search = _FORBIDDEN_HEADER_CHARS_RE.search
_line_end_re = re.compile(r"\r?\n$")
# A header line with a valid name and value; group 2 is the value without
# surrounding whitespace (None when empty).
_simple_line = re.compile(
    r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*"
    r"([\x21-\x7E\x80-\xFF](?:[\x21-\x7E\x80-\xFF \t]*[\x21-\x7E\x80-\xFF])?)?[ \t]*"
)


# ``name`` in ``Http-Header-Case``: "-".join(part.capitalize() for part in
# name.split("-")), in C (csrc/request.c), e.g. "x-FORWARDED-for" ->
# "X-Forwarded-For".
_normalize_header: Callable[[str], str] = _core.normalize_header
_headers_fill = _core.headers_fill


# The mapping type HTTPHeaders implements (for annotations, as in Tornado).
StrMutableMapping = collections.abc.MutableMapping


def _state_as_dict(self: Any) -> Dict[str, Any]:
    """__getstate__ for a class whose always-set attributes are __slots__:
    what pickle and copy get for Tornado's slot-less class, every attribute
    in one dict (so pickles pass between the two, with any protocol)."""
    state = {}
    for name in copyreg._slotnames(type(self)):  # type: ignore[attr-defined]
        try:
            state[name] = getattr(self, name)
        except AttributeError:
            pass
    state.update(self.__dict__)
    return state


def _state_from_dict(self: Any, state: Any) -> None:
    """__setstate__ for the above: a dict of attributes (ours or Tornado's),
    or the (dict, slots) pair the default object state would be."""
    if isinstance(state, tuple) and len(state) == 2:
        attrs, slots = state
        state = dict(attrs or {})
        state.update(slots or {})
    slotted = copyreg._slotnames(type(self))  # type: ignore[attr-defined]
    own = self.__dict__
    for name, value in state.items():
        if name in slotted:
            object.__setattr__(self, name, value)
        else:
            own[name] = value


class HTTPHeaders(collections.abc.MutableMapping):
    """A case-insensitive dictionary of HTTP headers that keeps every value.

    Keys are stored in ``Http-Header-Case``.  Plain item access returns all
    values of a header joined with commas; `add` appends a value and
    `get_list` returns them separately.

    >>> h = HTTPHeaders(accept="text/plain")
    >>> h.add("Vary", "Accept")
    >>> h.add("vary", "Cookie")
    >>> h["VARY"]
    'Accept,Cookie'
    >>> h.get_list("Vary")
    ['Accept', 'Cookie']
    >>> sorted(h.get_all())
    [('Accept', 'text/plain'), ('Vary', 'Accept'), ('Vary', 'Cookie')]
    """

    # Every instance's three attributes are slots: the native HTTP/1
    # connection stores into and reads them directly (csrc/slots.c).
    __slots__ = ("_dict", "_as_list", "_last_key", "__dict__", "__weakref__")
    __getstate__ = _state_as_dict
    __setstate__ = _state_from_dict

    @typing.overload
    def __init__(self, __arg: Mapping[str, List[str]]) -> None: ...

    @typing.overload  # noqa: F811
    def __init__(self, __arg: Mapping[str, str]) -> None: ...

    @typing.overload  # noqa: F811
    def __init__(self, *args: Tuple[str, str]) -> None: ...

    @typing.overload  # noqa: F811
    def __init__(self, **kwargs: str) -> None: ...

    def __init__(self, *args: Any, **kwargs: str) -> None:  # noqa: F811
        # A plain dict (responses build one per request): what update()
        # does through __setitem__, in C (unless a subclass has its own).
        if (
            len(args) == 1
            and not kwargs
            and type(self) is HTTPHeaders
            and _headers_fill(self, args[0])
        ):
            return
        self._dict: Dict[str, str] = {}
        self._as_list: Dict[str, List[str]] = {}
        self._last_key: Optional[str] = None
        if not args and not kwargs:
            return
        if len(args) == 1 and not kwargs:
            source = args[0]
            if isinstance(source, HTTPHeaders):
                for name, value in source.get_all():
                    self.add(name, value)
                return
        self.update(*args, **kwargs)

    def add(self, name: str, value: str, *, _chars_are_bytes: bool = True) -> None:
        """Adds a new value for the given key."""
        if not _field_name_ok(name):
            raise HTTPInputError("Invalid header name %r" % name)
        if _chars_are_bytes:
            if not _field_value_ok(to_unicode(value)):
                raise HTTPInputError("Invalid header value %r" % value)
        elif _forbidden_search(value):
            raise HTTPInputError("Invalid header value %r" % value)
        key = _normalize_header(name)
        self._last_key = key
        if key in self._dict:
            self._dict[key] = native_str(self._dict[key]) + "," + native_str(value)
            self._as_list[key].append(value)
        else:
            self._dict[key] = value
            self._as_list[key] = [value]

    def get_list(self, name: str) -> List[str]:
        """Returns all values for the given header as a list."""
        return self._as_list.get(_normalize_header(name), [])

    def get_all(self) -> Iterable[Tuple[str, str]]:
        """Returns an iterable of all (name, value) pairs, one per value."""
        return ((name, value) for name, values in self._as_list.items() for value in values)

    def parse_line(self, line: str, *, _chars_are_bytes: bool = True) -> None:
        r"""Updates the dictionary with a single header line.

        The line may end with CRLF (or a bare LF) or have no terminator at
        all; an empty line is ignored.

        >>> h = HTTPHeaders()
        >>> h.parse_line("ETag: \"abc\"\r\n")
        >>> h["etag"]
        '"abc"'

        .. deprecated:: 6.5
           Folded (continuation) lines and bare-LF line endings will become
           errors in Tornado 7.0.
        """
        m = _line_end_re.search(line)
        if m is not None:
            line = line[: m.start()]
        if line:
            self._parse_stripped_line(line, _chars_are_bytes)

    def _parse_stripped_line(self, line: str, chars_are_bytes: bool) -> None:
        # ``line`` is non-empty and has no line terminator.
        if line[0] == " " or line[0] == "\t":
            # obs-fold: continues the previous header's last value.
            key = self._last_key
            if key is None:
                raise HTTPInputError("first header line cannot start with whitespace")
            extra = " " + line.strip(HTTP_WHITESPACE)
            if chars_are_bytes:
                if not _field_value_ok(extra[1:]):
                    raise HTTPInputError("Invalid header continuation %r" % extra)
            elif _forbidden_search(extra):
                raise HTTPInputError("Invalid header value %r" % extra)
            self._as_list[key][-1] += extra
            self._dict[key] += extra
            return
        name, colon, value = line.partition(":")
        if not colon:
            raise HTTPInputError("no colon in header line")
        self.add(name, value.strip(HTTP_WHITESPACE), _chars_are_bytes=chars_are_bytes)

    @classmethod
    def parse(cls, headers: str, *, _chars_are_bytes: bool = True) -> "HTTPHeaders":
        r"""Returns a dictionary from HTTP header text.

        >>> h = HTTPHeaders.parse("Host: example.com\r\nAccept: */*\r\n")
        >>> sorted(h.items())
        [('Accept', '*/*'), ('Host', 'example.com')]

        Raises `HTTPInputError` on malformed headers.

        ``_chars_are_bytes`` (private) selects the validation: true for HTTP
        headers (text is Latin-1 decoded bytes, checked against RFC 9110's
        grammar), false for multipart part headers (UTF-8 text; only control
        characters are refused).
        """
        h = cls()
        pieces = headers.split("\n")
        last = len(pieces) - 1
        slow = h._parse_stripped_line
        # Fast path for ordinary "Name: value" lines (one regex match per
        # line); anything else, including every error, takes the general path.
        fast = _simple_line.fullmatch if _chars_are_bytes else None
        values = h._dict
        lists = h._as_list
        for i, line in enumerate(pieces):
            # Every piece but the last was followed by LF; one CR before it
            # belongs to the terminator.
            if i != last and line[-1:] == "\r":
                line = line[:-1]
            if not line:
                continue
            m = fast(line) if fast is not None else None
            if m is None:
                slow(line, _chars_are_bytes)
                continue
            name, value = m.groups()
            if value is None:
                value = ""
            key = _normalize_header(name)
            h._last_key = key
            if key in values:
                values[key] = values[key] + "," + value
                lists[key].append(value)
            else:
                values[key] = value
                lists[key] = [value]
        return h

    # MutableMapping abstract methods.

    def __setitem__(self, name: str, value: str) -> None:
        key = _normalize_header(name)
        self._dict[key] = value
        self._as_list[key] = [value]

    def __getitem__(self, name: str) -> str:
        return self._dict[_normalize_header(name)]

    def __delitem__(self, name: str) -> None:
        key = _normalize_header(name)
        del self._dict[key]
        del self._as_list[key]

    def __contains__(self, key: object) -> bool:
        if type(self) is not HTTPHeaders:
            # Mapping.__contains__, through a subclass's own __getitem__.
            return super().__contains__(key)
        return _normalize_header(key) in self._dict  # type: ignore[arg-type]

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        if type(self) is not HTTPHeaders:
            # Mapping.get, through a subclass's own __getitem__.
            return super().get(key, default)
        return self._dict.get(_normalize_header(key), default)

    def __len__(self) -> int:
        return len(self._dict)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._dict)

    def copy(self) -> "HTTPHeaders":
        """Returns a copy (values lists are copied too)."""
        return HTTPHeaders(self)

    # copy.copy() gets the same one-level-deeper copy as ``.copy()``.
    __copy__ = copy

    def __str__(self) -> str:
        return "".join(f"{name}: {value}\n" for name, value in self.get_all())

    __unicode__ = __str__


def _request_host(headers: "HTTPHeaders", version: str) -> str:
    """The Host a request names: required from HTTP/1.1 clients; an HTTP/1.0
    client that sends none gets 127.0.0.1."""
    named = headers.get("Host")
    if named is not None:
        return named
    if version != "HTTP/1.0":
        raise HTTPInputError("Missing Host header")
    return "127.0.0.1"


def _checked_host(host: str) -> str:
    """Refuse a malformed Host, or several of them (RFC 9112: proxies could
    disagree about which one wins)."""
    if _ABNF.host.fullmatch(host) is None:
        raise HTTPInputError("Invalid Host header: %r" % host)
    if "," in host:
        raise HTTPInputError("Multiple host headers not allowed: %r" % host)
    return host


# Host header value -> host_name, for hosts that passed _checked_host (a
# server sees few distinct ones; bounded so hostile input cannot grow it).
_host_names: Dict[str, str] = {}


def _host_name(host: str) -> str:
    name = split_host_and_port(_checked_host(host).lower())[0]
    if len(_host_names) >= 256:
        _host_names.clear()
    _host_names[host] = name
    return name


class HTTPServerRequest:
    """A single HTTP request as seen by the server.

    Attributes (``str`` unless noted): ``method``, ``uri``, ``path``,
    ``query``, ``version``, ``headers`` (`HTTPHeaders`), ``body`` (bytes),
    ``remote_ip``, ``protocol`` (``"http"`` or ``"https"``; with
    ``HTTPServer(xheaders=True)`` both may come from proxy headers),
    ``host`` and ``host_name``, ``arguments`` / ``query_arguments`` /
    ``body_arguments`` (``str`` names to lists of ``bytes`` values),
    ``files`` (names to lists of `HTTPFile`), ``connection`` (the
    `HTTPConnection` of this request) and ``server_connection``.

    Raises `HTTPInputError` when the ``Host`` header is missing (except for
    HTTP/1.0), malformed, or holds several hosts.

    .. deprecated:: 6.5.2
       The ``host`` constructor argument; set ``headers["Host"]`` instead.
    """

    # The attributes __init__ always assigns are slots (and any other
    # attribute goes in __dict__ as usual): the native server stores them
    # straight into a new instance (csrc/request.c), the cost of one
    # generic setattr each saved on every request.  Not path and query,
    # which are also class attributes, as in Tornado.
    __slots__ = (
        "method", "uri", "version", "headers", "body", "remote_ip", "protocol",
        "host_name", "host", "files", "connection", "server_connection",
        "_start_time", "_finish_time", "arguments",
        "query_arguments", "body_arguments", "__dict__", "__weakref__",
    )

    __getstate__ = _state_as_dict
    __setstate__ = _state_from_dict

    path: str = None  # type: ignore[assignment]
    query: str = None  # type: ignore[assignment]

    # Set by web.py while a @stream_request_body handler reads its body.
    _body_future: "Future[None]" = None  # type: ignore[assignment]

    def __init__(
        self,
        method: Optional[str] = None,
        uri: Optional[str] = None,
        version: str = "HTTP/1.0",
        headers: Optional[HTTPHeaders] = None,
        body: Optional[bytes] = None,
        host: Optional[str] = None,
        files: Optional[Dict[str, List["HTTPFile"]]] = None,
        connection: Optional["HTTPConnection"] = None,
        start_line: Optional["RequestStartLine"] = None,
        server_connection: Optional[object] = None,
    ) -> None:
        if start_line is not None:
            method, uri, version = start_line
        self.method, self.uri, self.version = method, uri, version
        if headers is None or (type(headers) is not HTTPHeaders and not headers):
            headers = HTTPHeaders()
        self.headers = headers
        self.body = body or b""
        context = getattr(connection, "context", None)
        self.remote_ip = getattr(context, "remote_ip", None)
        self.protocol = getattr(context, "protocol", "http")
        if not host:
            named = headers._dict.get("Host") if type(headers) is HTTPHeaders else None
            host = named if named is not None else _request_host(headers, version)
        try:
            self.host_name = _host_names[host]
        except KeyError:
            self.host_name = _host_name(host)
        self.host = host
        self.files = files or {}
        self.connection = connection
        self.server_connection = server_connection
        self._start_time = time.time()
        self._finish_time: Optional[float] = None
        if uri is not None:
            self.path, _, self.query = uri.partition("?")
        query = self.query
        if query:
            self.arguments: Dict[str, List[bytes]] = parse_qs_bytes(
                query, keep_blank_values=True
            )
            self.query_arguments: Dict[str, List[bytes]] = {
                k: list(v) for k, v in self.arguments.items()
            }
        else:
            self.arguments = {}
            self.query_arguments = {}
        self.body_arguments: Dict[str, List[bytes]] = {}

    @property
    def cookies(self) -> Dict[str, http.cookies.Morsel]:
        """The request's cookies as a dict of ``http.cookies.Morsel``."""
        try:
            return self._cookies  # type: ignore[has-type]
        except AttributeError:
            pass
        jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
        self._cookies = jar
        raw = self.headers.get("Cookie")
        if raw is not None:
            try:
                parsed = parse_cookie(raw)
            except Exception:
                parsed = {}
            for name, value in parsed.items():
                try:
                    jar[name] = value
                except Exception:
                    # SimpleCookie refuses some names that parse_cookie keeps.
                    pass
        return jar

    def full_url(self) -> str:
        """Reconstructs the full URL for this request."""
        return "%s://%s%s" % (self.protocol, self.host, self.uri)

    def request_time(self) -> float:
        """Returns the amount of time it took for this request to execute."""
        end = time.time() if self._finish_time is None else self._finish_time
        return end - self._start_time

    def get_ssl_certificate(
        self, binary_form: bool = False
    ) -> Union[None, Dict, bytes]:
        """Returns the client's SSL certificate, if any.

        Needs a server `ssl.SSLContext` whose ``verify_mode`` asks for client
        certificates.  Returns the ``getpeercert()`` dictionary (or ``None``
        without a certificate), or the DER bytes if ``binary_form`` is true.
        """
        stream = getattr(self.connection, "stream", None)
        if stream is None:
            return None
        try:
            return stream.socket.getpeercert(binary_form=binary_form)  # type: ignore
        except SSLError:
            return None

    def _parse_body(self) -> None:
        headers = self.headers
        if type(headers) is HTTPHeaders:
            if "Content-Type" not in headers._dict:
                return  # neither form encoding: nothing to parse
        elif headers.get("Content-Type") is None:
            return
        form = self.body_arguments
        parse_body_arguments(headers.get("Content-Type", ""), self.body, form,
                             self.files, headers)
        # Body fields join the query's in `arguments`, after them.
        for name, values in form.items():
            self.arguments.setdefault(name, []).extend(values)

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in ("protocol", "host", "method", "uri", "version", "remote_ip")
        )
        return f"{type(self).__name__}({fields})"


_PARSE_BODY = HTTPServerRequest.__dict__["_parse_body"]
# The native server builds requests in C (csrc/request.c) while __init__
# is this one; replacing it (instrumentation) makes the server call it.
_core.request_setup(HTTPServerRequest, HTTPServerRequest.__init__, time.time, _PARSE_BODY)


class HTTPInputError(Exception):
    """Malformed HTTP request or response received from the peer.

    .. versionadded:: 4.0
    """


class HTTPOutputError(Exception):
    """Invalid HTTP output produced by the application.

    .. versionadded:: 4.0
    """


class HTTPServerConnectionDelegate:
    """Implement this interface to handle requests from `.HTTPServer`.

    .. versionadded:: 4.0
    """

    def start_request(
        self, server_conn: object, request_conn: "HTTPConnection"
    ) -> "HTTPMessageDelegate":
        """Called when a new request starts; returns its `.HTTPMessageDelegate`.

        ``server_conn`` is an opaque object for the long-lived (TCP)
        connection; ``request_conn`` is the `.HTTPConnection` for this one
        request/response exchange.
        """
        raise NotImplementedError()

    def on_close(self, server_conn: object) -> None:
        """Called when a connection given to ``start_request`` has closed."""
        pass


class HTTPMessageDelegate:
    """Implement this interface to handle an HTTP request or response.

    .. versionadded:: 4.0
    """

    def headers_received(
        self,
        start_line: Union["RequestStartLine", "ResponseStartLine"],
        headers: HTTPHeaders,
    ) -> Optional[Awaitable[None]]:
        """Called once the start line and headers have been parsed.

        ``start_line`` is a `.RequestStartLine` on servers and a
        `.ResponseStartLine` on clients.  May return an awaitable; the body
        is not read until it completes.
        """
        pass

    def data_received(self, chunk: bytes) -> Optional[Awaitable[None]]:
        """Called with each chunk of the body; may return an awaitable for
        flow control."""
        pass

    def finish(self) -> None:
        """Called after the last chunk of the body has been received."""
        pass

    def on_connection_close(self) -> None:
        """Called if the connection closes before the message was finished.

        After ``headers_received``, exactly one of ``finish`` and
        ``on_connection_close`` is called.
        """
        pass


class HTTPConnection:
    """The interface applications use to write their responses.

    .. versionadded:: 4.0
    """

    def write_headers(
        self,
        start_line: Union["RequestStartLine", "ResponseStartLine"],
        headers: HTTPHeaders,
        chunk: Optional[bytes] = None,
    ) -> "Future[None]":
        """Write the start line and header block, plus an optional first body
        ``chunk``.  The ``version`` of ``start_line`` is ignored.  Returns a
        future for flow control.
        """
        raise NotImplementedError()

    def write(self, chunk: bytes) -> "Future[None]":
        """Write a chunk of body data; returns a future for flow control."""
        raise NotImplementedError()

    def finish(self) -> None:
        """Indicate that the last body data has been written."""
        raise NotImplementedError()


def url_concat(
    url: str,
    args: Union[
        None, Dict[str, str], List[Tuple[str, str]], Tuple[Tuple[str, str], ...]
    ],
) -> str:
    """Append query arguments to ``url``, which may already have a query.

    ``args`` is a dict or a list/tuple of pairs (pairs allow repeated names).

    >>> url_concat("/search?q=cats", {"page": "2"})
    '/search?q=cats&page=2'
    >>> url_concat("http://host/p", [("k", "1"), ("k", "2")])
    'http://host/p?k=1&k=2'
    """
    if args is None:
        return url
    if isinstance(args, dict):
        extra: Iterable[Tuple[str, str]] = args.items()
    elif isinstance(args, (list, tuple)):
        extra = args
    else:
        raise TypeError(
            "'args' parameter should be dict, list or tuple. Not {0}".format(type(args))
        )
    parts = urlparse(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.extend(extra)
    return urlunparse(parts._replace(query=urlencode(query)))


class HTTPFile(ObjectDict):
    """A file uploaded through a form.

    Its fields are attributes and, for backwards compatibility, also keys:
    ``filename``, ``body`` (bytes) and ``content_type``.
    """

    filename: str
    body: bytes
    content_type: str


def _parse_request_range(
    range_header: str,
) -> Optional[Tuple[Optional[int], Optional[int]]]:
    """Parse a single-range ``Range`` header into slice indexes ``(start, end)``.

    Returns ``None`` for units other than bytes or malformed numbers; the
    inclusive HTTP end becomes an exclusive slice end.

    >>> _parse_request_range("bytes=10-19")
    (10, 20)
    >>> _parse_request_range("bytes=-5")
    (-5, None)
    >>> _parse_request_range("bytes=7-")
    (7, None)
    >>> _parse_request_range("bytes=-0")
    (None, 0)
    >>> _parse_request_range("items=1-2") is None
    True
    """
    unit, _, spec = range_header.partition("=")
    if unit.strip() != "bytes":
        return None
    first, _, last = spec.strip().partition("-")
    try:
        start = _int_or_none(first)
        end = _int_or_none(last)
    except ValueError:
        return None
    if end is not None:
        if start is not None:
            end += 1
        elif end != 0:
            # A suffix range: the last ``end`` bytes.
            start, end = -end, None
    return (start, end)


def _get_content_range(start: Optional[int], end: Optional[int], total: int) -> str:
    """The ``Content-Range`` value for slice indexes ``start:end`` of ``total``.

    >>> _get_content_range(2, 5, 10)
    'bytes 2-4/10'
    >>> _get_content_range(None, None, 3)
    'bytes 0-2/3'
    """
    first = start or 0
    last = (end or total) - 1
    return f"bytes {first}-{last}/{total}"


def _int_or_none(val: str) -> Optional[int]:
    val = val.strip()
    if not val:
        return None
    return int(val)


def parse_body_arguments(
    content_type: str,
    body: bytes,
    arguments: Dict[str, List[bytes]],
    files: Dict[str, List[HTTPFile]],
    headers: Optional[HTTPHeaders] = None,
) -> None:
    """Parse a form body into ``arguments`` and ``files`` (updated in place).

    Understands ``application/x-www-form-urlencoded`` and
    ``multipart/form-data``; other content types are left alone.  Raises
    `HTTPInputError` for a malformed body or a ``Content-Encoding`` on it.
    """
    urlencoded = content_type.startswith("application/x-www-form-urlencoded")
    multipart = content_type.startswith("multipart/form-data")
    if not (urlencoded or multipart):
        return
    # Neither form encoding may arrive compressed (decompress_request undoes
    # compression before this point when it is on).
    encoding = headers.get("Content-Encoding") if headers else None
    if encoding is not None:
        raise HTTPInputError("Unsupported Content-Encoding: %s" % encoding)
    if urlencoded:
        try:
            # Values stay bytes; RequestHandler.decode_argument picks the charset.
            fields = parse_qs_bytes(body, keep_blank_values=True)
        except Exception as e:
            raise HTTPInputError("Invalid x-www-form-urlencoded body: %s" % e) from e
        for name, values in fields.items():
            if values:
                arguments.setdefault(name, []).extend(values)
        return
    try:
        boundary = next(
            (value for key, _, value in
             (part.strip().partition("=") for part in content_type.split(";"))
             if key == "boundary" and value),
            None,
        )
        if boundary is None:
            raise HTTPInputError("multipart boundary not found")
        parse_multipart_form_data(utf8(boundary), body, arguments, files)
    except Exception as e:
        raise HTTPInputError("Invalid multipart/form-data: %s" % e) from e


def parse_multipart_form_data(
    boundary: bytes,
    data: bytes,
    arguments: Dict[str, List[bytes]],
    files: Dict[str, List[HTTPFile]],
) -> None:
    """Parse a ``multipart/form-data`` body into ``arguments`` and ``files``.

    ``boundary`` and ``data`` are bytes.  Raises `HTTPInputError` on the
    first malformed part (nothing is logged per part, so a hostile body
    costs one exception, not one log line per part).  Filenames in RFC
    2231/5987 form (``filename*=``) are decoded.
    """
    # A quoted boundary (allowed by the RFC) is unquoted; escapes are rare
    # enough in practice that they are not handled.
    if len(boundary) >= 2 and boundary[:1] == b'"' and boundary[-1:] == b'"':
        boundary = boundary[1:-1]
    delimiter = b"--" + boundary
    end = data.rfind(delimiter + b"--")
    if end == -1:
        raise HTTPInputError("Invalid multipart/form-data: no final boundary found")
    for part in data[:end].split(delimiter + b"\r\n"):
        if not part:
            continue
        header_end = part.find(b"\r\n\r\n")
        if header_end == -1:
            raise HTTPInputError("multipart/form-data missing headers")
        part_headers = HTTPHeaders.parse(
            part[:header_end].decode("utf-8"), _chars_are_bytes=False
        )
        disposition, params = _parse_header(
            part_headers.get("Content-Disposition", "")
        )
        if disposition != "form-data" or not part.endswith(b"\r\n"):
            raise HTTPInputError("Invalid multipart/form-data")
        name = params.get("name")
        if not name:
            raise HTTPInputError("multipart/form-data missing name")
        value = part[header_end + 4 : -2]
        filename = params.get("filename")
        if filename:
            content_type = part_headers.get("Content-Type", "application/unknown")
            files.setdefault(name, []).append(
                HTTPFile(filename=filename, body=value, content_type=content_type)
            )
        else:
            arguments.setdefault(name, []).append(value)


def format_timestamp(
    ts: Union[int, float, tuple, time.struct_time, datetime.datetime],
) -> str:
    """Format a time the way HTTP headers want it (IMF-fixdate, GMT).

    Accepts a POSIX timestamp, a UTC time tuple / ``struct_time`` or a
    `datetime.datetime` (naive means UTC; aware ones are converted).

    >>> format_timestamp(0)
    'Thu, 01 Jan 1970 00:00:00 GMT'
    """
    if isinstance(ts, (int, float)):
        seconds: float = ts
    else:
        if type(ts) is datetime.datetime:
            # C for a naive or UTC datetime (a static file's Last-Modified).
            text = _http_date(ts)
            if text is not None:
                return text
        if isinstance(ts, datetime.datetime):
            fields: Any = ts.utctimetuple()
        elif isinstance(ts, (tuple, time.struct_time)):
            fields = ts
        else:
            raise TypeError("unknown timestamp type: %r" % ts)
        # C for plain field values, calendar.timegm (and its errors) otherwise.
        whole = _timegm(fields)
        seconds = calendar.timegm(fields) if whole is None else whole
    # C for timestamps in datetime's range, email.utils otherwise.
    text = _http_date(seconds)
    return text if text is not None else email.utils.formatdate(seconds, usegmt=True)


_http_date = _core._http_date
_timegm = _core._timegm


class RequestStartLine(typing.NamedTuple):
    """``(method, path, version)`` of an HTTP/1.x request line."""

    method: str
    path: str
    version: str


def parse_request_start_line(line: str) -> RequestStartLine:
    """Parse an HTTP/1.x request line into a `RequestStartLine`.

    >>> parse_request_start_line("DELETE /item/7 HTTP/1.0")
    RequestStartLine(method='DELETE', path='/item/7', version='HTTP/1.0')
    """
    m = _ABNF.request_line.fullmatch(line)
    if m is None:
        # RFC 9112 3: an invalid request-line gets a 400.
        raise HTTPInputError("Malformed HTTP request line")
    method, path, version = m.groups()
    if not version.startswith("HTTP/1"):
        raise HTTPInputError("Unexpected HTTP version %r" % version)
    return RequestStartLine(method, path, version)


class ResponseStartLine(typing.NamedTuple):
    """``(version, code, reason)`` of an HTTP/1.x status line."""

    version: str
    code: int
    reason: str


def parse_response_start_line(line: str) -> ResponseStartLine:
    """Parse an HTTP/1.x status line into a `ResponseStartLine`.

    >>> parse_response_start_line("HTTP/1.0 404 Not Found")
    ResponseStartLine(version='HTTP/1.0', code=404, reason='Not Found')
    """
    m = _ABNF.status_line.fullmatch(line)
    if m is None:
        raise HTTPInputError("Error parsing response start line")
    version, code, reason = m.groups()
    if not version.startswith("HTTP/1"):
        raise HTTPInputError("Unexpected HTTP version %r" % version)
    return ResponseStartLine(version, int(code), reason)


def _parseparam(s: str) -> Generator[str, None, None]:
    """Yield the stripped ``;``-separated fields of ``s`` (which starts with
    ``;``), not splitting inside double quotes."""
    while s.startswith(";"):
        s = s[1:]
        cut = s.find(";")
        # A ';' is inside quotes while an odd number of unescaped '"' precede it.
        while cut > 0 and (s.count('"', 0, cut) - s.count('\\"', 0, cut)) % 2:
            cut = s.find(";", cut + 1)
        if cut < 0:
            cut = len(s)
        yield s[:cut].strip()
        s = s[cut:]


def _parse_header(line: str) -> Tuple[str, Dict[str, str]]:
    r"""Parse a ``Content-Type``-like header into its value and parameters.

    Parameter names are lower-cased; quoted values are unquoted; RFC 2231
    (``name*=charset''value``) values are decoded; parameters without a
    value are dropped.

    >>> _parse_header('attachment; FILENAME="a \\"b\\".txt"; size=3')
    ('attachment', {'filename': 'a "b".txt', 'size': '3'})
    >>> _parse_header("form-data; name*=utf-8''%E2%82%AC")
    ('form-data', {'name': '€'})
    """
    fields = _parseparam(";" + line)
    value = next(fields)
    # decode_params treats its first pair specially: give it a placeholder.
    raw: List[Tuple[str, str]] = [("", "")]
    for field in fields:
        eq = field.find("=")
        if eq >= 0:
            raw.append((field[:eq].strip().lower(), native_str(field[eq + 1 :].strip())))
    params: Dict[str, str] = {}
    for name, decoded in email.utils.decode_params(raw)[1:]:
        text = email.utils.collapse_rfc2231_value(decoded)
        if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
            text = text[1:-1]
        params[name] = text
    return value, params


def _encode_header(key: str, pdict: Dict[str, str]) -> str:
    """Build a header value from ``key`` and parameters (sorted by name; a
    ``None`` value gives a bare parameter).  The inverse of `_parse_header`.

    >>> _encode_header("permessage-deflate", {"server_no_context_takeover": None,
    ...                                       "client_max_window_bits": 10})
    'permessage-deflate; client_max_window_bits=10; server_no_context_takeover'
    """
    if not pdict:
        return key
    parts = [key]
    for name, value in sorted(pdict.items()):
        parts.append(name if value is None else f"{name}={value}")
    return "; ".join(parts)


def encode_username_password(
    username: Union[str, bytes], password: Union[str, bytes]
) -> bytes:
    """Encode credentials as HTTP authentication wants them:
    ``b"username:password"`` (text is NFC-normalised, then UTF-8 encoded).

    .. versionadded:: 5.1
    """
    def prepared(text: Union[str, bytes]) -> bytes:
        if isinstance(text, str):
            text = unicodedata.normalize("NFC", text)
        return utf8(text)

    return b":".join((prepared(username), prepared(password)))


def doctests():
    # type: () -> unittest.TestSuite
    """The doctests of this module, as a `unittest.TestSuite`."""
    import doctest

    return doctest.DocTestSuite()


_netloc_re = re.compile(r"^(.+):(\d+)$")


def split_host_and_port(netloc: str) -> Tuple[str, Optional[int]]:
    """Split ``"host:port"`` into ``(host, port)``; ``port`` is ``None`` when
    absent.

    >>> split_host_and_port("example.com:8080")
    ('example.com', 8080)
    >>> split_host_and_port("example.com")
    ('example.com', None)

    .. versionadded:: 4.1
    """
    m = _netloc_re.match(netloc)
    if m is None:
        return (netloc, None)
    return (m.group(1), int(m.group(2)))


def qs_to_qsl(qs: Dict[str, List[AnyStr]]) -> Iterable[Tuple[str, AnyStr]]:
    """Turn a ``parse_qs``-style dict back into ``(name, value)`` pairs.

    .. versionadded:: 5.0
    """
    for name, values in qs.items():
        for value in values:
            yield (name, value)


# Backslash escapes in a quoted cookie value: three octal digits or any char.
# One linear regex pass (the quadratic loop this replaces was CVE-2024-52804).
_unquote_sub = re.compile(r"\\(?:([0-3][0-7][0-7])|(.))").sub


def _unquote_replace(m: "re.Match[str]") -> str:
    octal = m.group(1)
    if octal:
        return chr(int(octal, 8))
    return m.group(2)


def _unquote_cookie(s: str) -> str:
    """Undo the double quotes and backslash escapes of a cookie value,
    the way `http.cookies` does."""
    if s is None or len(s) < 2 or s[0] != '"' or s[-1] != '"':
        return s
    return _unquote_sub(_unquote_replace, s[1:-1])


def parse_cookie(cookie: str) -> Dict[str, str]:
    """Parse a ``Cookie`` request header into a ``{name: value}`` dict.

    Follows what browsers do rather than the cookie RFCs: fields split on
    ``;``, a field without ``=`` is a value with an empty name, and quoted
    values are unquoted.

    >>> parse_cookie('sid=abc; theme="dark"; flag')
    {'sid': 'abc', 'theme': 'dark', '': 'flag'}

    .. versionadded:: 4.4.2
    """
    jar: Dict[str, str] = {}
    for field in cookie.split(";"):
        if "=" in field:
            name, value = field.split("=", 1)
        else:
            name, value = "", field
        name = name.strip()
        value = value.strip()
        if name or value:
            jar[name] = _unquote_cookie(value)
    return jar
