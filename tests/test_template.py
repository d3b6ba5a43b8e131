"""Differential tests for tornado_c.template against tornado.template.

Each template is compiled and rendered by both implementations; the output
bytes, the generated code, parse errors (type, message, file, line) and the
template line reported in tracebacks must be identical.  Hypothesis builds
random templates from directive fragments and from raw brace soup.
"""

from __future__ import annotations

import datetime
import inspect
import os
import re
import tempfile
import traceback
from typing import Any, Dict, List, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "tornado_c-hypothesis"))

import tornado.template as ref
import tornado_c.template as tc

SETTINGS = settings(
    max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _frame_comment(tb_text: str) -> str:
    """The template location comment of the innermost generated-code line."""
    comments = [line.strip() for line in tb_text.splitlines() if "  # " in line]
    return comments[-1].split("  # ", 1)[1] if comments else ""


_SET_RE = re.compile(r"\{('[a-z]+'(?:, '[a-z]+')*)\}")


def _norm(message: str) -> str:
    """Sort set reprs in messages: a set's order depends on the hash seed of
    the process that compiled the module's .pyc."""
    return _SET_RE.sub(lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", message)


def render(mod: Any, source: Any, kwargs: Optional[Dict[str, Any]] = None, **tkw: Any) -> Any:
    """Compile and render; describe the outcome in a comparable way."""
    try:
        t = mod.Template(source, **tkw)
    except mod.ParseError as e:
        return ("parse", _norm(e.message), e.filename, e.lineno, _norm(str(e)))
    except Exception as e:  # noqa: BLE001 - compared
        return ("compile", type(e).__name__)
    try:
        out = t.generate(**(kwargs or {}))
    except Exception as e:  # noqa: BLE001 - compared
        return ("runtime", type(e).__name__, str(e), _frame_comment(traceback.format_exc()), t.code)
    return ("ok", out, t.code)


def same(source: Any, kwargs: Optional[Dict[str, Any]] = None, **tkw: Any) -> Any:
    expected = render(ref, source, kwargs, **tkw)
    got = render(tc, source, kwargs, **tkw)
    assert got == expected, source
    return got


def same_loader(templates: Dict[str, str], name: str, kwargs: Optional[Dict[str, Any]] = None,
                **lkw: Any) -> Any:
    results = []
    for mod in (ref, tc):
        loader = mod.DictLoader(templates, **lkw)
        try:
            t = loader.load(name)
            out: Any = ("ok", t.generate(**(kwargs or {})), t.code)
        except mod.ParseError as e:
            out = ("parse", _norm(str(e)))
        except Exception as e:  # noqa: BLE001 - compared
            out = ("error", type(e).__name__, str(e), _frame_comment(traceback.format_exc()))
        results.append(out)
    assert results[1] == results[0], (templates, name)
    return results[0]


# ---------------------------------------------------------------------------
# Fixed cases


CASES = [
    "Hello {{ name }}!",
    "{{ 1 + 1 }} and {{ 'x' * 3 }}",
    "{# a comment #}after",
    "{{!x}} {%!y%} {#!z#}",
    "{{! }} {%! {% if 1 %}x{% end %}",
    "{{{{ x }}}}",
    "\\{{{ x }}}",
    "{{",
    "{%",
    "{#",
    "{{ }}",
    "{% %}",
    "{% end %}",
    "{% else %}",
    "{% if 1 %}{% except %}{% end %}",
    "{% for i in [] %}{% finally %}{% end %}",
    "{% if 1 %}unterminated",
    "{% bogus %}",
    "{% break %}",
    "{% apply f %}{% for i in [1] %}{% break %}{% end %}{% end %}",
    "{% for i in range(3) %}{% apply f %}{% break %}{% end %}{% end %}",
    "{% extends %}",
    "{% extends 'base.html' %}",
    "{% include %}",
    "{% set %}",
    "{% import %}",
    "{% apply %}x{% end %}",
    "{% block %}x{% end %}",
    "{% whitespace bogus %}",
    "{% if x > 3 %}big{% elif x > 1 %}mid{% else %}small{% end %}",
    "{% for i in range(5) %}{% if i == 2 %}{% continue %}{% end %}{{ i }}{% end %}",
    "{% set i = 0 %}{% while i < 4 %}{{ i }}{% set i += 1 %}{% end %}",
    "{% try %}{{ 1/0 }}{% except ZeroDivisionError %}zde{% else %}e{% finally %}f{% end %}",
    "{% try %}ok{% except %}no{% else %}else{% finally %}fin{% end %}",
    "{% import math %}{{ math.floor(2.5) }}",
    "{% from os import path %}{{ path.join('a', 'b') }}",
    "{% comment this is ignored %}x",
    "{% raw '<b>' %} {{ '<b>' }}",
    "{% autoescape None %}{{ '<b>' }}",
    "{% autoescape xhtml_escape %}{{ '<&>\"' }}",
    "{% autoescape url_escape %}{{ 'a b&c' }}",
    "{% apply upper %}hello {{ name }}{% end %}",
    "{% apply upper %}{% apply upper %}in{% end %}{% end %}",
    "{% module Foo() %}",
    "{{ datetime.date(2020, 1, 2) }} {{ squeeze(' a  b ') }} {{ json_encode([1]) }}",
    "{{ url_escape('a b') }} {{ linkify('see http://x.com') }} {{ escape('<') }}",
    "{{ b'bytes' }} {{ 3.5 }} {{ None }} {{ [1, '<'] }}",
    "\u00e9{{ '\u00e9' }}",
    "line1\n  line2   \n\n\n   line3\t\tx",
    "<pre>\n   keep   \n</pre>   squeeze  \n\n",
    "{% whitespace oneline %}a\n\n  b\t c{% whitespace all %}\n  d  \n",
    "{% whitespace single %}  a  \n\n b",
    "{% if True %}{% end %}",
    "{% for x in [] %}{% else %}empty{% end %}",
    "a {{ undefined_name }} b",
    "one\ntwo {{ 1/0 }}\nthree",
    "one\n{% if 1/0 %}\nx{% end %}",
    "{{ 1 +* 2 }}",
    "{% if %}x{% end %}",
    "{% set x = 1 %}{% set x = x + 1 %}{{ x }}",
    "{%if 1%}tight{%end%}",
    "{%   if   1   %}spaced{%   end   %}",
    "{{x}}",
    "{{ '}}' }}",
    "{{ '%}' }}{% set y = '%' %}{{ y }}",
    "{ { } } % # {",
    "{",
    "x{",
    "{{!",
    "{%!",
    "{#!",
]


@pytest.mark.parametrize("source", CASES)
@pytest.mark.parametrize("name", ["<string>", "page.html", "script.js", "notes.txt"])
def test_cases(source: str, name: str) -> None:
    def upper(s: bytes) -> bytes:
        return s.upper()

    class Modules:
        def Foo(self) -> str:
            return "<foo>"

    same(source, {"name": "Ben", "x": 2, "upper": upper, "_tt_modules": Modules()}, name=name)


@pytest.mark.parametrize("source", CASES[:12])
def test_bytes_source(source: str) -> None:
    same(source.encode("utf-8"), {"name": b"B\xc3\xa9n", "x": 1})


@pytest.mark.parametrize(
    "kw",
    [
        {"autoescape": None},
        {"autoescape": "xhtml_escape"},
        {"autoescape": "url_escape"},
        {"whitespace": "all"},
        {"whitespace": "single"},
        {"whitespace": "oneline"},
        {"compress_whitespace": True},
        {"compress_whitespace": False},
        {"compress_whitespace": True, "whitespace": "all"},
        {"whitespace": "bogus"},
    ],
)
def test_constructor_options(kw: Dict[str, Any]) -> None:
    same("  <a>{{ v }}</a>  \n\n  end  ", {"v": "<&>"}, name="t.html", **kw)


def test_filter_whitespace() -> None:
    for mode in ("all", "single", "oneline", "nope"):
        for text in ("", " a \n\t\n b\t\t", "\n\n", "x  y"):
            try:
                expected: Any = ref.filter_whitespace(mode, text)
            except Exception as e:  # noqa: BLE001
                expected = (type(e).__name__, str(e))
            try:
                got: Any = tc.filter_whitespace(mode, text)
            except Exception as e:  # noqa: BLE001
                got = (type(e).__name__, str(e))
            assert got == expected


def test_parse_error() -> None:
    for args in [("msg",), ("msg", "f.html"), ("msg", "f.html", 7)]:
        assert str(tc.ParseError(*args)) == str(ref.ParseError(*args))
        assert tc.ParseError(*args).args == ref.ParseError(*args).args
    with pytest.raises(tc.ParseError) as info:
        tc.Template("a\nb\n{{ x", name="foo.html")
    assert (info.value.filename, info.value.lineno) == ("foo.html", 3)


def _shape(fn: Any) -> Any:
    """Parameter names, kinds and defaults (sentinels by type name)."""
    out = []
    for p in inspect.signature(fn).parameters.values():
        default = p.default
        if not isinstance(default, (str, int, type(None), list, dict, tuple)):
            default = type(default).__name__
        out.append((p.name, p.kind, default))
    return out


def test_public_signatures() -> None:
    names = ["Template", "BaseLoader", "Loader", "DictLoader", "ParseError", "filter_whitespace"]
    for name in names:
        assert _shape(getattr(tc, name)) == _shape(getattr(ref, name)), name
    assert _shape(tc.Template.generate) == _shape(ref.Template.generate)
    for meth in ["reset", "resolve_path", "load"]:
        assert _shape(getattr(tc.BaseLoader, meth)) == _shape(getattr(ref.BaseLoader, meth))


# ---------------------------------------------------------------------------
# Loaders: extends, block, include, relative paths, errors via includes

INHERIT = {
    "base.html": "<title>{% block title %}Default{% end %}</title>\n"
    "<body>{% block body %}base body{% end %}</body>{% block tail %}{% end %}",
    "page.html": '{% extends "base.html" %}{% block title %}Page {{ n }}{% end %}'
    "{% block body %}{% include 'part.html' %}{% end %}",
    "part.html": "<p>{{ n * 2 }}</p>{% block tail %}part tail{% end %}",
    "grand.html": "{% extends 'page.html' %}{% block title %}Grand{% end %}",
    "dir/a.html": "{% include 'b.html' %}|{% include '../part.html' %}",
    "dir/b.html": "B{{ n }}",
    "escaped.html": "{% autoescape None %}{% block b %}{{ v }}{% end %}",
    "child_of_escaped.html": "{% extends 'escaped.html' %}{% block b %}{{ v }}{% end %}",
    "err_base.html": "{% block b %}{% end %}",
    "err_sub.html": "{% extends 'err_base.html' %}\n\n{% block b %}\nx{{ 1/0 }}{% end %}",
    "inc_a.html": "{% include 'inc_b.html' %}",
    "inc_b.html": "\n{% include 'inc_c.html' %}",
    "inc_c.html": "{{ missing }}",
    "bad_parse.html": "ok\n{% if 1 %}",
    "includes_bad.html": "{% include 'bad_parse.html' %}",
    "extends_missing.html": "{% extends 'nope.html' %}",
    "mod.html": "{% module Template('inc_c.html') %}",
    "nested_extends.html": "{% if 1 %}{% extends 'base.html' %}{% end %}",
    "abs/x.html": "{% include '/dir/b.html' %}",
}


@pytest.mark.parametrize("name", sorted(INHERIT))
@pytest.mark.parametrize("kw", [{}, {"autoescape": None}, {"whitespace": "oneline"},
                                {"namespace": {"n": 5}}])
def test_dict_loader(name: str, kw: Dict[str, Any]) -> None:
    kwargs = {"v": "<x>"}
    if "namespace" not in kw:
        kwargs["n"] = 3
    same_loader(INHERIT, name, kwargs, **kw)


def test_file_loader(tmp_path: Any) -> None:
    for rel, text in INHERIT.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    (tmp_path / "t\u00e9st.html").write_bytes("h\u00e9llo".encode("utf-8"))
    for name in ["page.html", "grand.html", "dir/a.html", "child_of_escaped.html",
                 "t\u00e9st.html", "abs/x.html"]:
        outs = []
        for mod in (ref, tc):
            loader = mod.Loader(str(tmp_path))
            try:
                t = loader.load(name)
                outs.append((t.generate(n=1, v="<"), t.name, sorted(loader.templates)))
            except Exception as e:  # noqa: BLE001
                outs.append((type(e).__name__, str(e).replace(str(tmp_path), "")))
        assert outs[0] == outs[1], name
    for mod in (ref, tc):
        loader = mod.Loader(str(tmp_path))
        assert loader.resolve_path("b.html", "dir/a.html") == "dir/b.html"
        assert loader.resolve_path("../../x.html", "dir/a.html") == "../../x.html"
        loader.load("dir/b.html")
        assert loader.templates
        loader.reset()
        assert loader.templates == {}


def test_resolve_path() -> None:
    cases = [("b.html", None), ("b.html", "a/x.html"), ("../b.html", "a/x.html"),
             ("/b.html", "a/x.html"), ("b.html", "<string>"), ("b.html", "/abs/x.html"),
             ("./c/../d.html", "a/b/x.html")]
    for name, parent in cases:
        assert tc.DictLoader({}).resolve_path(name, parent) == ref.DictLoader({}).resolve_path(
            name, parent
        )


def test_extends_without_loader() -> None:
    same("{% extends 'x.html' %}")


def test_unknown_template_in_dict_loader() -> None:
    same_loader({"a.html": "{% include 'missing.html' %}"}, "a.html")


def test_loader_defaults() -> None:
    for mod in (ref, tc):
        loader = mod.BaseLoader()
        assert loader.autoescape == "xhtml_escape"
        assert loader.namespace == {}
        assert loader.whitespace is None
        with pytest.raises(NotImplementedError):
            loader.load("x")


def test_generate_is_repeatable() -> None:
    t = tc.Template("{% for i in range(n) %}{{ i }}{% end %}")
    assert t.generate(n=3) == b"012"
    assert t.generate(n=2) == b"01"


def test_no_future_inheritance() -> None:
    # This module uses "from __future__ import annotations"; templates
    # must not inherit it (or any other future flag).
    same("{% def f(x: int) -> int: return x %}")
    same("{{ 7 // 2 }} {{ 7 / 2 }}")


def test_compile_error_logs_code(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("ERROR", logger="tornado.application"):
        with pytest.raises(SyntaxError):
            tc.Template("a\n{{ 1 + }}", name="bad.html")
    records = [r for r in caplog.records if r.name == "tornado.application"]
    assert records and records[0].getMessage().startswith("bad.html code:\n")
    assert "# bad.html:2" in records[0].getMessage()


def test_traceback_line_comments() -> None:
    loader = tc.DictLoader(INHERIT)
    with pytest.raises(NameError) as info:
        loader.load("inc_a.html").generate()
    text = "".join(traceback.format_exception(info.type, info.value, info.tb))
    assert "# inc_c.html:1 (via inc_b.html:2, inc_a.html:1)" in text


# ---------------------------------------------------------------------------
# Expressions run in tornado_c's short form (one C call per expression):
# same output and errors as Tornado's four statements, whatever the value,
# and the long form wherever the names involved may mean something else.


class _Shown:
    def __str__(self) -> str:
        return "<shown & told>"


class _Failing:
    def __str__(self) -> str:
        raise ValueError("no text")


class _SubStr(str):
    pass


class _SubBytes(bytes):
    pass


_VALUES = [
    "plain", "<a href='x'>&\"", "caf\u00e9 <\u2603>", "", b"raw <bytes>", b"caf\xc3\xa9 &",
    b"\xff<bad utf8>", "\ud800 lone", 0, -12, 2.5, float("nan"), True, None, [1, "<"],
    {"k": "<v>"}, _Shown(), _Failing(), _SubStr("sub<str>"), _SubBytes(b"sub&bytes"),
    datetime.date(2020, 1, 2),
]


@pytest.mark.parametrize("value", _VALUES, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize(
    "source,kw",
    [
        ("<p>{{ v }}</p>", {}),
        ("<p>{% raw v %}</p>", {}),
        ("<p>{{ v }}</p>", {"autoescape": None}),
        ("{% autoescape url_escape %}{{ v }}", {}),
        ("{{ v }}|{% autoescape None %}{{ v }}", {}),
        ("{% apply lower %}{{ v }}{% end %}", {}),
    ],
)
def test_expression_values(value: Any, source: str, kw: Dict[str, Any]) -> None:
    assert tc.Template(source, **kw)._fused
    same(source, {"v": value, "lower": lambda b: b.lower()}, **kw)


def test_short_form_is_used() -> None:
    page = tc.Template("<ul>{% for i in items %}<li>{{ i }}</li>{% end %}</ul>")
    assert page._fused
    # ``code`` is still the code Tornado generates.
    assert page.code == ref.Template("<ul>{% for i in items %}<li>{{ i }}</li>{% end %}</ul>").code


@pytest.mark.parametrize(
    "source",
    [
        "{% set str = repr %}{{ v }}",
        "{% set xhtml_escape = upper %}{{ v }}",
        "{% for isinstance in [upper] %}{{ v }}{% end %}",
        "{% set _tt_utf8 = upper %}{{ 'a' }}",
        "{% set _tt_string_types = (int,) %}{{ 3 }}",
        "{{ v }}{{ _tt_tmp }}",
        "{% import json as str %}{{ v }}",
        "{{ str(v) }}",
    ],
)
def test_rebinding_templates_keep_the_long_form(source: str) -> None:
    t = tc.Template(source)
    assert not t._fused
    same(source, {"v": "<x>", "upper": lambda s: s.upper() if isinstance(s, (str, bytes)) else s})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"xhtml_escape": lambda s: "[%s]" % s},
        {"_tt_utf8": lambda s: s.encode("ascii", "replace") if isinstance(s, str) else s},
        {"str": lambda s: "S"},
        {"isinstance": lambda *a: False},
        {"_tt_string_types": (bytes,)},
    ],
    ids=lambda k: next(iter(k)),
)
def test_overridden_names_at_run_time(kwargs: Dict[str, Any]) -> None:
    # A name the short form depends on, given as an argument (or in the
    # loader's namespace): the Python helpers follow it as Tornado's
    # statements would.
    for value in ("<é>", 5, b"b&"):
        same("{{ v }}|{% raw v %}", dict(kwargs, v=value))
        same_loader({"p.html": "{{ v }}|{% raw v %}"}, "p.html", {"v": value}, namespace=kwargs)


def test_include_with_rebinding_keeps_the_long_form() -> None:
    templates = {
        "main.html": "{{ v }}{% include 'inc.html' %}{{ v }}",
        "inc.html": "{% set xhtml_escape = upper %}",
    }
    same_loader(templates, "main.html", {"v": "<a>", "upper": lambda s: s.upper()})
    assert not tc.DictLoader(templates).load("main.html")._fused
    plain = {"main.html": "{{ v }}{% include 'inc.html' %}", "inc.html": "{{ v }}!"}
    same_loader(plain, "main.html", {"v": "<a>"})
    assert tc.DictLoader(plain).load("main.html")._fused


def test_short_form_traceback_lines() -> None:
    loader = tc.DictLoader({"a.html": "x\n{{ v }}", "b.html": "{% include 'a.html' %}"})
    with pytest.raises(ValueError) as info:
        loader.load("b.html").generate(v=_Failing())
    text = "".join(traceback.format_exception(info.type, info.value, info.tb))
    assert "_tt_append(_tt_xhtml(_tt_tmp))  # a.html:2 (via b.html:1)" in text


# ---------------------------------------------------------------------------
# Random templates

_TEXT = st.text(alphabet=" \t\n\rab<>&\"'{}%#!\u00e9xpre/", max_size=12)
_EXPR = st.sampled_from(["x", "y", "x + 1", "'<a&b>'", "b'\\xc3\\xa9'", "None", "[x, y]",
                         "'%s' % x", "len(s)", "s.upper()", "1/x", "z"])
_COND = st.sampled_from(["x", "not x", "x > 1", "y", "s"])


def _leaf() -> st.SearchStrategy[str]:
    return st.one_of(
        _TEXT,
        _EXPR.map(lambda e: "{{ %s }}" % e),
        _EXPR.map(lambda e: "{%% raw %s %%}" % e),
        st.sampled_from(["{# c #}", "{{!", "{%!", "{#!", "{% comment hi %}", "<pre> a  \n  b</pre>",
                         "{% set x = x + 1 %}", "{% autoescape None %}", "{% autoescape url_escape %}",
                         "{% whitespace oneline %}", "{% whitespace single %}", "{% whitespace all %}",
                         "{% import os %}", "{% from math import pi %}", "{%end%}", "{% else %}",
                         "{% break %}", "{% continue %}", "{% bogus %}", "{{ }}", "{%"]),
    )


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    body = st.lists(children, max_size=4).map("".join)
    return st.one_of(
        st.tuples(_COND, body, body).map(lambda t: "{%% if %s %%}%s{%% else %%}%s{%% end %%}" % t),
        st.tuples(_COND, body, _COND, body).map(
            lambda t: "{%% if %s %%}%s{%% elif %s %%}%s{%% end %%}" % t
        ),
        body.map(lambda b: "{%% for i in range(3) %%}{{ i }}%s{%% end %%}" % b),
        body.map(lambda b: "{%% for i in range(2) %%}{%% if i %%}{%% break %%}{%% end %%}%s{%% end %%}" % b),
        body.map(lambda b: "{%% apply upper %%}%s{%% end %%}" % b),
        st.tuples(body, body).map(
            lambda t: "{%% try %%}%s{%% except Exception %%}E{%% finally %%}%s{%% end %%}" % t
        ),
        # The counter steps first, so "continue" cannot skip it, and an inner
        # loop leaves it at 2, ending the outer one: every loop terminates.
        body.map(lambda b: "{%% set n = 0 %%}{%% while n < 2 %%}{%% set n += 1 %%}%s{%% end %%}" % b),
        body.map(lambda b: "{%% block blk %%}%s{%% end %%}" % b),
    )


TEMPLATES = st.recursive(_leaf(), lambda c: st.lists(st.one_of(c, _extend(c)), max_size=4).map("".join),
                         max_leaves=12)


def _upper(s: bytes) -> bytes:
    return s.upper()


@SETTINGS
@given(TEMPLATES, st.sampled_from(["<string>", "a.html", "a.txt", "a.js"]),
       st.sampled_from([0, 1, 2]), st.sampled_from(["", "<&>", "\u00e9"]))
def test_random_templates(source: str, name: str, x: int, s: str) -> None:
    same(source, {"x": x, "y": [x], "s": s, "upper": _upper}, name=name)


@SETTINGS
@given(st.text(alphabet="{}%#! \nab", max_size=30))
def test_brace_soup(source: str) -> None:
    same(source, {"a": 1, "b": 2}, name="soup.html")


@SETTINGS
@given(TEMPLATES, TEMPLATES)
def test_random_inheritance(base_body: str, child_body: str) -> None:
    templates = {
        "base.html": "[{% block a %}" + base_body + "{% end %}]{% include 'inc.html' %}",
        "child.html": "{% extends 'base.html' %}{% block a %}" + child_body + "{% end %}",
        "inc.html": "<{% block a %}inc{% end %}>",
    }
    same_loader(templates, "child.html", {"x": 1, "y": 2, "s": "<>", "upper": _upper})


def test_datetime_in_namespace() -> None:
    assert tc.Template("{{ datetime.date(2001, 2, 3).isoformat() }}").generate() == b"2001-02-03"
    assert datetime is not None


def test_template_number_values_match_str() -> None:
    """{{ number }}: the C helpers write exact ints and short decimals
    themselves; every value still gives utf8(str(value)) (escaped for
    _tt_xhtml), subclasses and bools through their own __str__."""
    import enum
    import math
    import random
    import struct

    from tornado_c import _core
    from tornado_c.escape import utf8, xhtml_escape

    class Code(enum.IntEnum):
        OK = 200

    class Money(float):
        def __str__(self) -> str:
            return "$%.2f" % self

    rng = random.Random(11)
    values: List[Any] = [0, -1, 2**63 - 1, -(2**63), 2**63, 10**40, True, False, Code.OK,
                         Money(1.5), 0.0, -0.0, math.inf, -math.inf, math.nan, 1e-4, 1e9,
                         1e16, 1e-7, 0.1 + 0.2, 1.5]
    for _ in range(20000):
        x = rng.randint(0, 10 ** rng.randint(1, 16)) / 10 ** rng.randint(0, 8)
        values += [x, -x, math.nextafter(x, 0.0), rng.randint(-(2**70), 2**70),
                   struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]]
    for value in values:
        want = utf8(str(value))
        assert _core._tt_bytes(value) == want, repr(value)
        assert _core._tt_xhtml(value) == utf8(xhtml_escape(want)), repr(value)
