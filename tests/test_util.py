"""Differential tests of tornado_c.util against tornado.util."""

from __future__ import annotations

import asyncio
import datetime
import errno
import gzip
import inspect
import os
import random
import re
import string
import sys
import unittest
import zlib
from typing import Any, List, Tuple

import pytest

import tornado.util

PUBLIC = [
    "ObjectDict",
    "GzipDecompressor",
    "import_object",
    "exec_in",
    "raise_exc_info",
    "errno_from_exception",
    "re_unescape",
    "Configurable",
    "ArgReplacer",
    "timedelta_to_seconds",
    "doctests",
    "TimeoutError",
    "bytes_type",
    "unicode_type",
    "basestring_type",
    "_websocket_mask",
    "_websocket_mask_python",
    "_re_unescape_pattern",
    "_alphanum",
]


def params(obj: Any) -> List[Tuple[str, Any, Any]]:
    """A signature without annotations: names, kinds and defaults."""
    return [
        (p.name, p.kind, p.default) for p in inspect.signature(obj).parameters.values()
    ]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_names_exist(impl: Any, name: str) -> None:
    assert hasattr(impl.util, name)


@pytest.mark.parametrize(
    "name",
    [
        "import_object",
        "exec_in",
        "raise_exc_info",
        "errno_from_exception",
        "re_unescape",
        "timedelta_to_seconds",
        "doctests",
        "_websocket_mask_python",
        "ArgReplacer",
        "ArgReplacer.get_old_value",
        "ArgReplacer.replace",
        "GzipDecompressor",
        "GzipDecompressor.decompress",
        "GzipDecompressor.flush",
        "Configurable.configure",
        "Configurable.configured_class",
        "Configurable.configurable_base",
        "Configurable.configurable_default",
        "Configurable._save_configuration",
        "Configurable._restore_configuration",
    ],
)
def test_signatures(impl: Any, name: str) -> None:
    def get(mod: Any) -> Any:
        obj = mod
        for part in name.split("."):
            obj = getattr(obj, part)
        return obj

    assert params(get(impl.util)) == params(get(tornado.util))


def test_type_aliases(impl: Any) -> None:
    u = impl.util
    assert u.TimeoutError is asyncio.TimeoutError
    assert u.bytes_type is bytes
    assert u.unicode_type is str
    assert u.basestring_type is str


# --- ObjectDict -------------------------------------------------------------


def test_object_dict(impl: Any) -> None:
    d = impl.util.ObjectDict(a=1)
    assert isinstance(d, dict)
    assert d.a == 1
    d.b = 2
    assert d["b"] == 2
    assert dict(d) == {"a": 1, "b": 2}
    with pytest.raises(AttributeError) as info:
        d.missing
    assert info.value.args == ("missing",)
    assert getattr(d, "missing", "default") == "default"
    assert not hasattr(d, "other")


# --- GzipDecompressor -------------------------------------------------------


def test_gzip_decompressor_chunks(impl: Any) -> None:
    payload = os.urandom(3000) + b"x" * 50000
    data = gzip.compress(payload)
    d = impl.util.GzipDecompressor()
    out = []
    for i in range(0, len(data), 777):
        out.append(d.decompress(data[i : i + 777]))
    out.append(d.flush())
    assert b"".join(out) == payload
    assert d.unconsumed_tail == b""


def test_gzip_decompressor_max_length(impl: Any) -> None:
    payload = b"abcdefgh" * 10000
    d = impl.util.GzipDecompressor()
    chunk = d.decompress(gzip.compress(payload), 1000)
    pieces = [chunk]
    assert len(chunk) == 1000
    while d.unconsumed_tail:
        pieces.append(d.decompress(d.unconsumed_tail, 1000))
        assert len(pieces[-1]) <= 1000
    pieces.append(d.flush())
    assert b"".join(pieces) == payload


def test_gzip_decompressor_errors(impl: Any) -> None:
    d = impl.util.GzipDecompressor()
    with pytest.raises(zlib.error):
        d.decompress(zlib.compress(b"not gzip framing"))
    d = impl.util.GzipDecompressor()
    truncated = gzip.compress(b"hello world" * 100)[:-6]
    assert d.decompress(truncated) == b"hello world" * 100
    # zlib's flush does not complain about a missing trailer; the output is
    # the same either way.
    assert d.flush() == b""


# --- import_object ----------------------------------------------------------


def test_import_object(impl: Any) -> None:
    u = impl.util
    assert u.import_object("os") is os
    assert u.import_object("os.path") is os.path
    assert u.import_object("os.path.join") is os.path.join
    assert u.import_object(impl.name + ".util") is u
    assert u.import_object(impl.name + ".util.ObjectDict") is u.ObjectDict
    with pytest.raises(ImportError) as info:
        u.import_object("os.no_such_thing")
    assert str(info.value) == "No module named no_such_thing"
    with pytest.raises(ImportError):
        u.import_object("no_such_module_for_tornado_c_tests")
    with pytest.raises(ImportError):
        u.import_object("no_such_module_for_tornado_c_tests.x")


def test_doctests(impl: Any) -> None:
    suite = impl.util.doctests()
    assert isinstance(suite, unittest.TestSuite)
    assert suite.countTestCases() >= 1
    result = unittest.TestResult()
    suite.run(result)
    assert result.wasSuccessful(), result.failures + result.errors


# --- exec_in / raise_exc_info / errno_from_exception ------------------------


def test_exec_in(impl: Any) -> None:
    g: dict = {"x": 2}
    impl.util.exec_in("y = x * 21", g)
    assert g["y"] == 42
    loc: dict = {}
    impl.util.exec_in(compile("z = x + 1", "<t>", "exec"), g, loc)
    assert loc == {"z": 3} and "z" not in g
    # Source text does not inherit __future__ flags (annotations are
    # evaluated eagerly), whatever the implementing module imports.
    with pytest.raises(NameError):
        impl.util.exec_in("def f(a: undefined_name) -> None: pass", {})
    with pytest.raises(NameError):
        impl.util.exec_in("undefined_name", {})


def test_raise_exc_info(impl: Any) -> None:
    def fail() -> None:
        raise KeyError("k")

    try:
        fail()
    except KeyError:
        info = sys.exc_info()
    with pytest.raises(KeyError) as caught:
        impl.util.raise_exc_info(info)
    assert caught.value is info[1]
    # The original traceback (with fail's frame) is kept.
    names = [entry.name for entry in caught.traceback]
    assert "fail" in names
    with pytest.raises(TypeError) as err:
        impl.util.raise_exc_info((None, None, None))
    assert str(err.value) == "raise_exc_info called with no exception"


@pytest.mark.parametrize(
    "exc, expected",
    [
        (OSError(errno.EPIPE, "pipe"), errno.EPIPE),
        (OSError(), None),
        (ConnectionResetError(errno.ECONNRESET, "reset"), errno.ECONNRESET),
        (Exception(7, "x"), 7),
        (Exception(), None),
        (ValueError("text"), "text"),
    ],
)
def test_errno_from_exception(impl: Any, exc: BaseException, expected: Any) -> None:
    assert impl.util.errno_from_exception(exc) == expected


# --- re_unescape --------------------------------------------------------------


def test_re_unescape_round_trip(impl: Any) -> None:
    text = string.printable + "\u00e9\u4e2d\n\t"
    assert impl.util.re_unescape(re.escape(text)) == text
    for ch in string.printable:
        assert impl.util.re_unescape(re.escape(ch)) == ch


@pytest.mark.parametrize("bad", [r"\d", r"\w", r"a\1", r"\Z"])
def test_re_unescape_rejects(impl: Any, bad: str) -> None:
    with pytest.raises(ValueError) as info:
        impl.util.re_unescape(bad)
    with pytest.raises(ValueError) as ref:
        tornado.util.re_unescape(bad)
    assert str(info.value) == str(ref.value)


# --- timedelta_to_seconds -----------------------------------------------------


def test_timedelta_to_seconds(impl: Any) -> None:
    td = datetime.timedelta(days=1, seconds=2, microseconds=5)
    assert impl.util.timedelta_to_seconds(td) == td.total_seconds()


# --- ArgReplacer --------------------------------------------------------------


def test_arg_replacer(impl: Any) -> None:
    def f(a: Any, b: Any, callback: Any = None, *args: Any, **kw: Any) -> None:
        pass

    r = impl.util.ArgReplacer(f, "callback")
    assert r.name == "callback" and r.arg_pos == 2
    assert r.get_old_value((1, 2, 3), {}) == 3
    assert r.get_old_value((1, 2), {"callback": 4}) == 4
    assert r.get_old_value((1, 2), {}, "dflt") == "dflt"

    old, args, kwargs = r.replace("new", (1, 2, 3), {})
    assert (old, list(args), kwargs) == (3, [1, 2, "new"], {})
    kw: dict = {"callback": "x"}
    old, args, kwargs = r.replace("new", (1, 2), kw)
    assert (old, tuple(args), kwargs) == ("x", (1, 2), {"callback": "new"})
    assert kwargs is kw
    old, args, kwargs = r.replace("new", (1,), {})
    assert (old, kwargs) == (None, {"callback": "new"})

    kwonly = impl.util.ArgReplacer(f, "missing")
    assert kwonly.arg_pos is None
    assert kwonly.replace(1, (9, 9, 9, 9), {}) == (None, (9, 9, 9, 9), {"missing": 1})

    with pytest.raises(TypeError):
        impl.util.ArgReplacer(42, "x")  # type: ignore[arg-type]


# --- Configurable -------------------------------------------------------------


def make_hierarchy(impl: Any) -> Any:
    Configurable = impl.util.Configurable

    class Base(Configurable):
        @classmethod
        def configurable_base(cls) -> Any:
            return Base

        @classmethod
        def configurable_default(cls) -> Any:
            return Impl1

    class Impl1(Base):
        def initialize(self, a: Any = None, b: Any = None) -> None:
            self.a = a
            self.b = b

    class Impl2(Base):
        def initialize(self, *args: Any, **kw: Any) -> None:
            self.args = args
            self.kw = kw

    class Sub(Base):
        # A second configurable level below Base.
        @classmethod
        def configurable_base(cls) -> Any:
            return Sub

        @classmethod
        def configurable_default(cls) -> Any:
            return SubImpl1

        def initialize(self, **kw: Any) -> None:
            self.kw = kw

    class SubImpl1(Sub):
        pass

    class SubImpl2(Sub):
        pass

    return Base, Impl1, Impl2, Sub, SubImpl1, SubImpl2


def test_configurable(impl: Any) -> None:
    Base, Impl1, Impl2, Sub, SubImpl1, SubImpl2 = make_hierarchy(impl)
    saved = Base._save_configuration()
    obj = Base(a=1)
    assert type(obj) is Impl1 and obj.a == 1 and obj.b is None
    assert Base.configured_class() is Impl1

    Base.configure(Impl2, b=2)
    obj = Base(1, c=3)
    assert type(obj) is Impl2 and obj.args == (1,) and obj.kw == {"b": 2, "c": 3}
    # Explicit subclasses ignore the configured kwargs.
    obj = Impl1(a=5)
    assert type(obj) is Impl1 and obj.b is None

    Base.configure(None)
    assert type(Base()) is Impl1

    Base._restore_configuration(saved)
    assert Base._save_configuration() == saved


def test_configurable_by_name(impl: Any) -> None:
    Base, Impl1, Impl2, *_ = make_hierarchy(impl)
    module = sys.modules[__name__]
    module.Impl2_for_test = Impl2  # type: ignore[attr-defined]
    try:
        Base.configure(__name__ + ".Impl2_for_test", x=1)
        obj = Base()
        assert type(obj) is Impl2 and obj.kw == {"x": 1}
    finally:
        del module.Impl2_for_test  # type: ignore[attr-defined]


def test_configurable_invalid(impl: Any) -> None:
    Base, Impl1, *_ = make_hierarchy(impl)
    with pytest.raises(ValueError) as info:
        Impl1.configure(dict)
    assert str(info.value) == "Invalid subclass of %s" % Impl1
    with pytest.raises(NotImplementedError):
        impl.util.Configurable.configurable_base()
    with pytest.raises(NotImplementedError):
        impl.util.Configurable.configurable_default()


def test_configurable_multilevel(impl: Any) -> None:
    Base, Impl1, Impl2, Sub, SubImpl1, SubImpl2 = make_hierarchy(impl)
    assert type(Sub()) is SubImpl1
    Sub.configure(SubImpl2, y=1)
    obj = Sub()
    assert type(obj) is SubImpl2 and obj.kw == {"y": 1}
    # Configuring the upper level with the lower base recurses into it.
    Base.configure(Sub, z=2)
    obj = Base()
    assert type(obj) is SubImpl2 and obj.kw == {"y": 1, "z": 2}
    assert Base.configured_class() is Sub
    assert Sub.configured_class() is SubImpl2
    # Each level keeps its configuration in its own class dictionary.
    assert Sub.__dict__["_Configurable__impl_class"] is SubImpl2
    assert Base.__dict__["_Configurable__impl_class"] is Sub


def test_configurable_initialize_default(impl: Any) -> None:
    Configurable = impl.util.Configurable

    class Plain(Configurable):
        @classmethod
        def configurable_base(cls) -> Any:
            return Plain

        @classmethod
        def configurable_default(cls) -> Any:
            return Plain

    assert type(Plain()) is Plain
    with pytest.raises(TypeError):
        Plain(1)


# --- websocket mask -----------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 125, 1000, 65537])
def test_websocket_mask(impl: Any, length: int) -> None:
    rnd = random.Random(length)
    mask = bytes(rnd.randrange(256) for _ in range(4))
    data = bytes(rnd.randrange(256) for _ in range(length))
    expected = tornado.util._websocket_mask_python(mask, data)
    assert impl.util._websocket_mask_python(mask, data) == expected
    assert impl.util._websocket_mask(mask, data) == expected
    assert impl.util._websocket_mask(mask, expected) == data
    zeros = b"\x00" * length
    assert impl.util._websocket_mask(b"\x00\x00\x00\x00", data) == data
    assert impl.util._websocket_mask(mask, zeros) == (mask * length)[:length]
