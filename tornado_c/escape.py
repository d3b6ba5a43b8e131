"""Escaping and unescaping for HTML, URLs and JSON, plus string helpers.

The counterpart of ``tornado.escape``: HTML entity escaping, URL quoting,
JSON encoding safe to embed in ``<script>``, conversions between `bytes`
and `str`, whitespace squeezing and `linkify`.
"""

from __future__ import annotations

import html
import json
import re
import typing
import urllib.parse
from typing import Any, Callable, Dict, List, Optional, Union

from tornado_c import _core

# Kept under their historical names: some dependents import them from here.
unicode_type = str

_UTF8_TYPES = (bytes, type(None))
_TO_UNICODE_TYPES = (str, type(None))

_TYPE_ERROR = "Expected bytes, unicode, or None; got %r"


def xhtml_escape(value: Union[str, bytes]) -> str:
    """Escape a string so it is valid inside HTML or XML text and attributes.

    Replaces ``&``, ``<``, ``>``, ``"`` and ``'`` with entity references;
    bytes are decoded as UTF-8 first.
    """
    return html.escape(to_unicode(value))  # type: ignore[arg-type]


def xhtml_unescape(value: Union[str, bytes]) -> str:
    """Replace HTML/XML entity and character references with their text."""
    return html.unescape(to_unicode(value))  # type: ignore[arg-type]


def json_encode(value: Any) -> str:
    """Encode ``value`` as JSON.

    ``</`` is written as ``<\\/`` so the result can be placed inside a
    ``<script>`` element without closing it early.
    """
    # Plain JSON data is encoded in C (csrc/json.c), byte for byte as below.
    encoded = _core._json_encode(value)
    if encoded is NotImplemented:
        encoded = json.dumps(value)
        if "</" in encoded:
            encoded = encoded.replace("</", "<\\/")
    return encoded


def json_decode(value: Union[str, bytes]) -> Any:
    """Parse a JSON document (`str` or UTF-8 `bytes`) into Python objects."""
    return json.loads(value)


_WHITESPACE_RUN = re.compile("[\x00-\x20]+")


def squeeze(value: str) -> str:
    """Collapse every run of whitespace/control characters to one space."""
    return _WHITESPACE_RUN.sub(" ", value).strip()


def url_escape(value: Union[str, bytes], plus: bool = True) -> str:
    """Percent-encode ``value`` for use in a URL.

    With ``plus`` (the default) spaces become ``+`` and ``/`` is escaped,
    as in a query string; with ``plus=False`` spaces become ``%20`` and
    ``/`` is kept, as in a path.
    """
    if plus:
        return urllib.parse.quote_plus(value)  # type: ignore[arg-type]
    return urllib.parse.quote(value)  # type: ignore[arg-type]


@typing.overload
def url_unescape(value: Union[str, bytes], encoding: None, plus: bool = True) -> bytes:
    pass


@typing.overload
def url_unescape(
    value: Union[str, bytes], encoding: str = "utf-8", plus: bool = True
) -> str:
    pass


def url_unescape(
    value: Union[str, bytes], encoding: Optional[str] = "utf-8", plus: bool = True
) -> Union[str, bytes]:
    """Decode a percent-encoded URL component.

    Returns `str` decoded with ``encoding``, or `bytes` when ``encoding`` is
    None.  With ``plus`` (the default) ``+`` means a space, as in a query
    string; pass ``plus=False`` for path components.
    """
    if encoding is None:
        if plus:
            # The text form is what gets '+' replaced (so invalid UTF-8 input
            # raises here, as Tornado's does).
            value = to_basestring(value).replace("+", " ")  # type: ignore[union-attr]
        return urllib.parse.unquote_to_bytes(value)
    text = to_basestring(value)
    if plus:
        return urllib.parse.unquote_plus(text, encoding=encoding)  # type: ignore[arg-type]
    return urllib.parse.unquote(text, encoding=encoding)  # type: ignore[arg-type]


def parse_qs_bytes(
    qs: Union[str, bytes], keep_blank_values: bool = False, strict_parsing: bool = False
) -> Dict[str, List[bytes]]:
    """Parse a query string like `urllib.parse.parse_qs`, keeping values as bytes.

    Keys are `str`; values are the raw bytes, because their charset is not
    known until the application says so.
    """
    if isinstance(qs, bytes):
        qs = qs.decode("latin1")
    parsed = urllib.parse.parse_qs(
        qs, keep_blank_values, strict_parsing, encoding="latin1", errors="strict"
    )
    return {key: [item.encode("latin1") for item in items] for key, items in parsed.items()}


@typing.overload
def utf8(value: bytes) -> bytes:
    pass


@typing.overload
def utf8(value: str) -> bytes:
    pass


@typing.overload
def utf8(value: None) -> None:
    pass


def utf8(value: Union[None, str, bytes]) -> Optional[bytes]:
    """Return ``value`` as UTF-8 bytes; bytes and None pass through unchanged."""
    if isinstance(value, _UTF8_TYPES):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(_TYPE_ERROR % type(value))


@typing.overload
def to_unicode(value: str) -> str:
    pass


@typing.overload
def to_unicode(value: bytes) -> str:
    pass


@typing.overload
def to_unicode(value: None) -> None:
    pass


def to_unicode(value: Union[None, str, bytes]) -> Optional[str]:
    """Return ``value`` as `str`, decoding bytes as UTF-8; None passes through."""
    if isinstance(value, _TO_UNICODE_TYPES):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    raise TypeError(_TYPE_ERROR % type(value))


# The definitions above say what these do; the extension's versions
# (csrc/escape.c) do the same in C: templates call them for every
# expression and the web layer for every header and chunk.
if not typing.TYPE_CHECKING:
    utf8 = _core.utf8
    to_unicode = _core.to_unicode
    xhtml_escape = _core.xhtml_escape

# Historical aliases: on Python 3 the "native" and "base" string types are str.
_unicode = to_unicode
native_str = to_unicode
to_basestring = to_unicode


def recursive_unicode(obj: Any) -> Any:
    """Decode every bytes object inside dicts, lists and tuples to `str`."""
    if isinstance(obj, dict):
        return {recursive_unicode(k): recursive_unicode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [recursive_unicode(item) for item in obj]
    if isinstance(obj, tuple):
        return tuple(recursive_unicode(item) for item in obj)
    if isinstance(obj, bytes):
        return to_unicode(obj)
    return obj


# What linkify treats as a URL, applied to already-escaped text.  Group 1 is
# the whole URL, group 2 the scheme (if any), group 3 the slashes after it.
# A URL never ends in punctuation, but may contain balanced parentheses and
# the entities that xhtml_escape produces for & and ".
_URL_CHAR = r"(?:[^\s&()]|&amp;|&quot;)"
_URL_RE = re.compile(
    r"\b("
    r"(?:([\w-]+):(/{1,3})|www[.])"
    r"(?:"
    r"(?:" + _URL_CHAR + r"*(?:[^!\"#$%&'()*+,.:;<=>?@\[\]^`{|}~\s]))"
    r"|(?:\(" + _URL_CHAR + r"*\))"
    r")+"
    r")"
)

_SHORTEN_LIMIT = 30


def _shorten_url(url: str, scheme: Optional[str], slashes: Optional[str]) -> str:
    """Clip a long URL for display (the ``shorten`` option of `linkify`)."""
    prefix_len = len(scheme) + 1 + len(slashes or "") if scheme else 0
    head, rest = url[:prefix_len], url[prefix_len:]
    pieces = rest.split("/")
    if len(pieces) > 1:
        second = pieces[1][:8].split("?")[0].split(".")[0]
        url = head + pieces[0] + "/" + second
    if len(url) > _SHORTEN_LIMIT * 1.5:
        url = url[:_SHORTEN_LIMIT]
    return url


def linkify(
    text: Union[str, bytes],
    shorten: bool = False,
    extra_params: Union[str, Callable[[str], str]] = "",
    require_protocol: bool = False,
    permitted_protocols: List[str] = ["http", "https"],  # noqa: B006
) -> str:
    """Turn the URLs in plain ``text`` into HTML links.

    The text is HTML-escaped first.  ``shorten`` abbreviates long URLs in the
    link text; ``extra_params`` adds attributes to each ``<a>`` tag (a string,
    or a callable taking the URL and returning one); ``require_protocol``
    links only URLs with a scheme; ``permitted_protocols`` lists the schemes
    that are linked (anything else is left as text, which keeps
    ``javascript:`` out).
    """
    attrs: Union[str, Callable[[str], str]] = extra_params
    if attrs and not callable(attrs):
        attrs = " " + attrs.strip()

    def replace(match: "re.Match[str]") -> str:
        url = match.group(1)
        scheme = match.group(2)
        if scheme is None:
            if require_protocol:
                return url
            href = "http://" + url
        else:
            if scheme not in permitted_protocols:
                return url
            href = url
        if callable(attrs):
            params = " " + attrs(href).strip()
        else:
            params = attrs
        shown = url
        if shorten and len(url) > _SHORTEN_LIMIT:
            clipped = _shorten_url(url, scheme, match.group(3))
            if clipped != url:
                amp = clipped.rfind("&")
                if amp > _SHORTEN_LIMIT - 5:
                    clipped = clipped[:amp]
                clipped += "..."
                if len(clipped) < len(url):
                    shown = clipped
                    params += ' title="%s"' % href
        return '<a href="%s"%s>%s</a>' % (href, params, shown)

    escaped = xhtml_escape(text)
    return _URL_RE.sub(replace, escaped)
