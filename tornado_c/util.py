"""Small utilities used across tornado_c (Tornado's ``tornado.util``).

Most of this is internal plumbing.  The part applications meet is
`Configurable`, whose `~Configurable.configure` class method chooses the
implementation behind `.IOLoop`, `.AsyncHTTPClient` and `.Resolver`.
"""

from __future__ import annotations

import typing
import zlib
import re
import os
import asyncio
from inspect import getfullargspec
from typing import (
    Any,
    Callable,
    Dict,
    List,
    Mapping,
    Match,
    Optional,
    Sequence,
    Tuple,
    Type,
)

if typing.TYPE_CHECKING:
    import datetime
    import unittest
    from types import TracebackType
    from typing import NoReturn, Union

# Tornado no longer has its own TimeoutError; this is asyncio's class.
TimeoutError = asyncio.TimeoutError

# Names kept for code written for Python 2 and 3 at once.
bytes_type = bytes
unicode_type = str
basestring_type = str


class ObjectDict(Dict[str, Any]):
    """A `dict` whose keys can also be read and written as attributes."""

    __setattr__ = dict.__setitem__  # type: ignore[assignment]

    def __getattr__(self, name: str) -> Any:
        if name in self:
            return self[name]
        raise AttributeError(name)


class GzipDecompressor:
    """Incremental gzip decoder.

    Works like `zlib.decompressobj`, but expects (and checks) the gzip
    header and trailer around the compressed data.
    """

    def __init__(self) -> None:
        # A wbits value of 16 + MAX_WBITS makes zlib expect the gzip framing
        # (header and trailer) around the deflate stream.
        self.decompressobj = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def decompress(self, value: bytes, max_length: int = 0) -> bytes:
        """Feed ``value`` in; return whatever output is ready.

        Input may be held back internally, so call `flush` after the last
        chunk.  With a non-zero ``max_length`` at most that many bytes are
        returned and the rest of the input waits in `unconsumed_tail`, which
        the caller must pass back in on a later call.
        """
        return self.decompressobj.decompress(value, max_length)

    @property
    def unconsumed_tail(self) -> bytes:
        """Input not yet decompressed because of ``max_length``."""
        return self.decompressobj.unconsumed_tail

    def flush(self) -> bytes:
        """Return the output still buffered and check the stream ended cleanly.

        The decompressor must not be used after this.
        """
        return self.decompressobj.flush()


def import_object(name: str) -> Any:
    """Return the module or module attribute a dotted name refers to.

    A plain name imports that module; otherwise the last component is
    looked up on the module named by the rest.

    >>> import_object('os.path.join') is __import__('os').path.join
    True
    >>> import_object('zlib').__name__
    'zlib'
    >>> import_object('os.no_such_attribute')
    Traceback (most recent call last):
        ...
    ImportError: No module named no_such_attribute
    """
    parent, dot, leaf = name.rpartition(".")
    if not dot:
        return __import__(name)
    holder = __import__(parent, fromlist=[leaf])
    found = getattr(holder, leaf, _MISSING)
    if found is _MISSING:
        raise ImportError("No module named %s" % leaf)
    return found


_MISSING = object()


def exec_in(
    code: Any, glob: Dict[str, Any], loc: Optional[Mapping[str, Any]] = None
) -> None:
    """Run ``code`` (source text or a code object) with the given globals
    and locals."""
    if isinstance(code, str):
        # dont_inherit keeps this module's __future__ imports out of the
        # compiled code.
        code = compile(code, "<string>", "exec", dont_inherit=True)
    exec(code, glob, loc)


def raise_exc_info(
    exc_info: Tuple[Optional[type], Optional[BaseException], Optional["TracebackType"]],
) -> "NoReturn":
    """Raise again the exception of a `sys.exc_info` triple."""
    _, error, trace = exc_info
    # Forget the triple before raising: this frame would otherwise hold the
    # traceback, which holds this frame — a cycle.
    del exc_info
    if error is None:
        raise TypeError("raise_exc_info called with no exception")
    try:
        raise error.with_traceback(trace)
    finally:
        error = trace = None


def errno_from_exception(e: BaseException) -> Optional[int]:
    """Return the errno carried by an exception, or None.

    Uses the ``errno`` attribute when there is one, else the first of the
    exception's ``args``; an exception without either gives None.
    """
    if hasattr(e, "errno"):
        return e.errno  # type: ignore[attr-defined,no-any-return]
    if e.args:
        return e.args[0]  # type: ignore[no-any-return]
    return None


_alphanum = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
)

_re_unescape_pattern = re.compile(r"\\(.)", re.DOTALL)


def _re_unescape_replacement(match: Match[str]) -> str:
    char = match.group(1)
    if char[0] in _alphanum:
        raise ValueError("cannot unescape '\\\\%s'" % char[0])
    return char


def re_unescape(s: str) -> str:
    r"""Undo `re.escape` on ``s``.

    Raises ``ValueError`` for escapes `re.escape` never produces, such as
    ``\d``.

    .. versionadded:: 4.4
    """
    return _re_unescape_pattern.sub(_re_unescape_replacement, s)


class Configurable:
    """Base class whose constructor picks an implementation subclass.

    Instantiating the configurable base creates an instance of whichever
    subclass `configure` selected (or `configurable_default` when nothing
    was configured), passing it the keyword arguments given to `configure`
    plus the constructor's own.  ``isinstance`` keeps working as usual.

    Subclasses define the class methods `configurable_base` and
    `configurable_default` and put their set-up in `initialize` rather than
    ``__init__``.

    .. versionchanged:: 5.0
       Configuration may be given at several levels of one class hierarchy.
    """

    # The configuration lives on the configurable base class itself, under
    # these (name-mangled) attributes: _Configurable__impl_class and
    # _Configurable__impl_kwargs.
    __impl_class: Optional[Type["Configurable"]] = None
    __impl_kwargs: Dict[str, Any] = None  # type: ignore[assignment]

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        root = cls.configurable_base()
        if cls is root:
            chosen = cls.configured_class()
            arguments = dict(root.__impl_kwargs or {}, **kwargs)
        else:
            # A concrete subclass named directly: no configuration applies.
            chosen, arguments = cls, dict(kwargs)
        if chosen.configurable_base() is not root:
            # The chosen class heads a configurable hierarchy of its own,
            # which picks its implementation in turn.
            return chosen(*args, **arguments)
        made = super().__new__(chosen)
        # Set-up goes through initialize(), not __init__, so a subclass's
        # __new__ may hand back an existing object (AsyncHTTPClient's
        # per-IOLoop instances) without it being initialised twice.
        made.initialize(*args, **arguments)
        return made

    @classmethod
    def configurable_base(cls) -> Type["Configurable"]:
        """Return the root class of this configurable hierarchy.

        Usually the class that defines this method, whatever ``cls`` is.
        """
        raise NotImplementedError()

    @classmethod
    def configurable_default(cls) -> Type["Configurable"]:
        """Return the implementation used when `configure` was not called."""
        raise NotImplementedError()

    def _initialize(self) -> None:
        pass

    initialize: Callable[..., None] = _initialize
    """Set up a new instance; `Configurable` classes use this instead of
    ``__init__``.  Takes positional and keyword arguments (4.2+).
    """

    @classmethod
    def configure(
        cls, impl: "Union[None, str, Type[Configurable]]", **kwargs: Any
    ) -> None:
        """Choose the class the base instantiates from now on.

        ``impl`` is a subclass, its dotted name, or None for the default.
        Keyword arguments are remembered and passed to every new instance.
        """
        chosen = import_object(impl) if isinstance(impl, str) else impl
        if chosen is not None and not issubclass(chosen, cls):
            raise ValueError("Invalid subclass of %s" % cls)
        cls._restore_configuration((chosen, kwargs))

    @classmethod
    def configured_class(cls) -> Type["Configurable"]:
        """Return the implementation class currently in effect."""
        base = cls.configurable_base()
        # Look in the base's own __dict__: a configuration inherited from a
        # configurable higher up the hierarchy does not count here.
        if base.__dict__.get("_Configurable__impl_class") is None:
            base.__impl_class = cls.configurable_default()
        impl = base.__impl_class
        if impl is None:
            raise ValueError("configured class not found")
        return impl

    @classmethod
    def _save_configuration(
        cls,
    ) -> Tuple[Optional[Type["Configurable"]], Dict[str, Any]]:
        root = cls.configurable_base()
        return root.__impl_class, root.__impl_kwargs

    @classmethod
    def _restore_configuration(
        cls, saved: Tuple[Optional[Type["Configurable"]], Dict[str, Any]]
    ) -> None:
        root = cls.configurable_base()
        root.__impl_class, root.__impl_kwargs = saved


class ArgReplacer:
    """Find, and swap, one named argument in an ``(args, kwargs)`` pair.

    The function's signature tells whether the argument would be passed by
    position or by keyword.  Meant for decorators and wrappers.
    """

    def __init__(self, func: Callable, name: str) -> None:
        self.name = name
        positional = self._getargnames(func)
        # None: the argument can only be passed by keyword.
        self.arg_pos: Optional[int] = (
            positional.index(name) if name in positional else None
        )

    def _getargnames(self, func: Callable) -> List[str]:
        try:
            spec = getfullargspec(func)
        except TypeError:
            # Cython functions fail getfullargspec but carry a func_code
            # with the usual code-object fields.
            code = getattr(func, "func_code", None)
            if code is None:
                raise
            return list(code.co_varnames)[: code.co_argcount]
        return spec.args

    def get_old_value(
        self, args: Sequence[Any], kwargs: Dict[str, Any], default: Any = None
    ) -> Any:
        """Return the argument's current value (``default`` if absent)."""
        pos = self.arg_pos
        if pos is not None and len(args) > pos:
            return args[pos]
        return kwargs.get(self.name, default)

    def replace(
        self, new_value: Any, args: Sequence[Any], kwargs: Dict[str, Any]
    ) -> Tuple[Any, Sequence[Any], Dict[str, Any]]:
        """Put ``new_value`` in place of the argument.

        Returns ``(old_value, args, kwargs)``; the returned containers may be
        new objects or the inputs, possibly changed.  An argument not found
        is added to ``kwargs`` and ``old_value`` is None.
        """
        pos = self.arg_pos
        if pos is not None and len(args) > pos:
            old_value = args[pos]
            new_args = list(args)
            new_args[pos] = new_value
            return old_value, new_args, kwargs
        old_value = kwargs.get(self.name)
        kwargs[self.name] = new_value
        return old_value, args, kwargs


def timedelta_to_seconds(td):
    # type: (datetime.timedelta) -> float
    """Return ``td.total_seconds()``."""
    return td.total_seconds()


def _websocket_mask_python(mask: bytes, data: bytes) -> bytes:
    """Apply (or remove) the 4-byte WebSocket ``mask`` on ``data``.

    The XOR of RFC 6455 section 5.3; the C extension supplies a faster one.
    """
    n = len(data)
    if n == 0:
        return b""
    # XOR the whole payload at once as one big integer against the mask
    # repeated to the payload's length.
    key = (bytes(mask) * ((n + 3) // 4))[:n]
    return (
        int.from_bytes(data, "little") ^ int.from_bytes(key, "little")
    ).to_bytes(n, "little")


if os.environ.get("TORNADO_NO_EXTENSION") or os.environ.get("TORNADO_EXTENSION") == "0":
    # Python-only mode requested explicitly.
    _websocket_mask = _websocket_mask_python
else:
    try:
        from tornado_c._core import (  # type: ignore[import-not-found,no-redef]
            websocket_mask as _websocket_mask,
        )
    except ImportError:
        if os.environ.get("TORNADO_EXTENSION") == "1":
            raise
        _websocket_mask = _websocket_mask_python


def doctests():
    # type: () -> unittest.TestSuite
    """Return this module's doctests as a `unittest.TestSuite`."""
    import doctest

    return doctest.DocTestSuite(__name__)

