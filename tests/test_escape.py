"""Differential tests for tornado_c.escape against tornado.escape.

Every case runs the same input through the reference and tornado_c and
compares the result (or the exception type and message).
"""

from __future__ import annotations

import inspect
import os
import tempfile
from typing import Any, Callable, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

# Keep Hypothesis's cache out of the repository (pytest's norecursedirs
# replaces the defaults, and the hypothesis plugin warns about the directory).
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "tornado_c-hypothesis"))

import tornado.escape as ref
import tornado_c.escape as tc

FUNCTIONS = [
    "xhtml_escape",
    "xhtml_unescape",
    "url_escape",
    "url_unescape",
    "parse_qs_bytes",
    "json_encode",
    "json_decode",
    "squeeze",
    "utf8",
    "to_unicode",
    "_unicode",
    "native_str",
    "to_basestring",
    "recursive_unicode",
    "linkify",
]

SETTINGS = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def outcome(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        result = fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - compared, not swallowed
        return ("raised", type(exc).__name__, str(exc))
    return ("ok", type(result).__name__, result)


def same(name: str, *args: Any, **kwargs: Any) -> Any:
    expected = outcome(getattr(ref, name), *args, **kwargs)
    got = outcome(getattr(tc, name), *args, **kwargs)
    assert got == expected, (name, args, kwargs)
    return got


@pytest.mark.parametrize("name", FUNCTIONS)
def test_signatures(name: str) -> None:
    def shape(fn: Callable[..., Any]) -> list:
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    assert shape(getattr(tc, name)) == shape(getattr(ref, name))


def test_aliases(impl: Any) -> None:
    esc = impl.mod("escape")
    assert esc.native_str is esc.to_unicode
    assert esc.to_basestring is esc.to_unicode
    assert esc._unicode is esc.to_unicode
    assert esc.unicode_type is str


# Text that exercises URL detection: URL-ish fragments glued together.
URL_PIECES = st.sampled_from(
    [
        "http://", "https://", "ftp://", "javascript:", "www.", "mailto:", "file:///",
        "x-y:/", "example.com", "/path", "/a/b/c.html", "?q=1", "&x=2", "#frag", "(",
        ")", ".", ",", "!", "?", ";", ":", " ", "\n", "\t", '"', "'", "<", ">", "&",
        "&amp;", "&quot;", "a", "Z9", "é", "中", "_", "-", "~", "%20", "wiki/Foo_(bar)",
        "123456789012345678901234567890", "/xyzxyzxyzxyz.html?foo=bar",
        "/abcdefghijklmnopqrstuvwxyz/more/stuff", "@", "[", "]", "{", "}", "|", "`",
    ]
)
URL_TEXT = st.lists(URL_PIECES, max_size=14).map("".join)
ANY_TEXT = st.one_of(st.text(max_size=40), URL_TEXT)


@SETTINGS
@given(ANY_TEXT)
def test_text_functions_random(text: str) -> None:
    for name in ("xhtml_escape", "xhtml_unescape", "squeeze", "utf8", "to_unicode"):
        same(name, text)
        same(name, text.encode("utf-8"))
    same("json_encode", text)
    same("json_encode", {"k": [text, 1, None, 2.5]})
    same("json_decode", text)


@SETTINGS
@given(st.text(alphabet="&#;x0123456789abcdefXAlmpquotgsn ", max_size=30))
def test_xhtml_unescape_entities(text: str) -> None:
    same("xhtml_unescape", text)


@SETTINGS
@given(st.one_of(st.text(max_size=30), st.binary(max_size=30)), st.booleans())
def test_url_escape_random(value: Any, plus: bool) -> None:
    same("url_escape", value)
    same("url_escape", value, plus=plus)


QUERYISH = st.lists(
    st.sampled_from(["a", "b", "=", "&", ";", "+", "%", "%2", "%20", "%ff", "%C3%A9", "é", " ", "\xff"]),
    max_size=12,
).map("".join)


@SETTINGS
@given(
    st.one_of(QUERYISH, QUERYISH.map(lambda s: s.encode("utf-8")), st.binary(max_size=20)),
    st.sampled_from([None, "utf-8", "latin1"]),
    st.booleans(),
)
def test_url_unescape_random(value: Any, encoding: Any, plus: bool) -> None:
    same("url_unescape", value, encoding=encoding, plus=plus)
    same("url_unescape", value, encoding, plus)


@SETTINGS
@given(
    st.one_of(QUERYISH, QUERYISH.map(lambda s: s.encode("utf-8")), st.binary(max_size=20)),
    st.booleans(),
    st.booleans(),
)
def test_parse_qs_bytes_random(qs: Any, keep_blank: bool, strict: bool) -> None:
    same("parse_qs_bytes", qs)
    same("parse_qs_bytes", qs, keep_blank_values=keep_blank, strict_parsing=strict)


@SETTINGS
@given(
    URL_TEXT,
    st.booleans(),
    st.sampled_from(["", "rel='nofollow'", "  class=\"x\"  "]),
    st.booleans(),
    st.sampled_from([["http", "https"], ["http", "javascript", "ftp", "x-y", "file"], []]),
)
def test_linkify_random(
    text: str, shorten: bool, extra: str, require_protocol: bool, protocols: list
) -> None:
    same(
        "linkify",
        text,
        shorten=shorten,
        extra_params=extra,
        require_protocol=require_protocol,
        permitted_protocols=protocols,
    )


@SETTINGS
@given(st.text(max_size=40))
def test_url_re_matches_reference(text: str) -> None:
    got = [m.groups() + (m.span(),) for m in tc._URL_RE.finditer(text)]
    expected = [m.groups() + (m.span(),) for m in ref._URL_RE.finditer(text)]
    assert got == expected


LINKIFY_CASES = [
    "hello http://world.com/!",
    "hello http://world.com/with?param=true&stuff=yes",
    "http://url.com/w(aaa)",
    "http://url.com/w(a(aa)",
    "http://url.com/w(aa)a)",
    "www.example.com/path/to/a/very/long/file/name.html?query=string&x=y",
    "http://www.example.com/wpstyle/?p=364.",
    "http://foo.com/blah_blah_(wikipedia)_(again)",
    "(Something like http://foo.com/blah_blah_(wikipedia))",
    "javascript:alert(1)",
    "<script>www.x.org</script> & \"quoted http://q.com/a&b\"",
    "https://a-very-long-hostname-here.example.com/aaaaaaaaaaaaaaaaaaaaa/bbb",
    "http://x.com/" + "a&" * 30,
    "ftp://f.org/a and mailto:me@x.org and file:///etc/passwd",
    b"bytes http://b.com/\xc3\xa9",
    "",
]


@pytest.mark.parametrize("text", LINKIFY_CASES)
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"shorten": True},
        {"extra_params": 'rel="nofollow" class="external"'},
        {"extra_params": lambda href: ' class="internal" ' if "x.com" in href else 'rel="no"'},
        {"require_protocol": True},
        {"permitted_protocols": ["http", "ftp", "mailto", "javascript", "file"]},
        {"shorten": True, "require_protocol": True, "extra_params": " a=b "},
    ],
)
def test_linkify_cases(text: Any, kwargs: dict) -> None:
    same("linkify", text, **kwargs)


def test_linkify_extra_params_callable_gets_href() -> None:
    for mod in (ref, tc):
        seen: list = []
        mod.linkify("see www.a.com and http://b.org", extra_params=lambda h: seen.append(h) or "")
        assert seen == ["http://www.a.com", "http://b.org"]


@pytest.mark.parametrize(
    "value",
    [None, 1, 1.5, [b"x"], b"\xff", "\ud800", bytearray(b"x"), "é", b"\xc3\xa9", object],
)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_odd_inputs(name: str, value: Any) -> None:
    if name == "json_encode" and value is object:
        same(name, value)
        return
    same(name, value)


@pytest.mark.parametrize(
    "obj",
    [
        {b"a": [b"b", (b"c", 1, None)], "d": {b"e": b"f"}},
        [b"x", [b"y", {b"z"}]],
        (b"t",),
        b"\xc3\xa9",
        3,
        {b"\xff": 1},
    ],
)
def test_recursive_unicode(obj: Any) -> None:
    same("recursive_unicode", obj)


@pytest.mark.parametrize(
    "value",
    ["</script>", ["</", "<\\/", "x</y"], {"</k": "</v"}, "\u2028\u2029", "é", 1e100, None, True],
)
def test_json_encode(value: Any) -> None:
    same("json_encode", value)


# JSON data as APIs send it, for the C encoder behind json_encode: every
# scalar json.dumps writes (non-finite floats and ints past 64 bits
# included), tuples, and the dict keys json converts to strings.
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),
    st.text(),
    st.text(alphabet="</>\\\"\x00\x7f\x80\u2028\U0001f600\ud800"),
)
JSON_KEYS = st.one_of(st.text(max_size=8), st.integers(), st.floats(), st.booleans(), st.none())
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=5).map(tuple),
        st.dictionaries(JSON_KEYS, inner, max_size=5),
    ),
    max_leaves=30,
)


@SETTINGS
@given(JSON_VALUES)
def test_json_encode_random(value: Any) -> None:
    same("json_encode", value)


def test_json_encode_repeated_keys() -> None:
    """Keys met again in one value (the same str objects in many dicts) are
    written as the first time: more distinct keys than the encoder keeps,
    keys with escapes, non-str keys next to str ones, equal but distinct
    str objects, nested and sibling dicts."""
    import json

    from tornado_c import _core

    names = ["k%d" % i for i in range(12)] + ["</x", 'q"', "\u00e9", "\U0001f600", ""]
    distinct = "".join(["k", "0"])  # equal to "k0", another object
    assert distinct is not names[0]
    rows = [{name: i for name in names} for i in range(3)]
    rows.append({distinct: 1, 0: 2, None: 3, True: 4, 1.5: 5, names[0]: 6})
    rows.append({names[1]: {names[1]: {names[1]: [names[1], {names[2]: None}]}}})
    value = {"rows": rows, "again": rows[::-1], "keys": names}
    for item in (value, rows, [{}, {"a": 1}, {"a": 2}], {"a": {"a": {"a": 1}}}):
        want = json.dumps(item).replace("</", "<\\/")
        assert _core._json_encode(item) == want


def test_json_encode_ascii_strings_exhaustive() -> None:
    """Every ASCII string of up to two characters, and of three over the
    characters that need escaping, gives json_encode's text exactly (the C
    encoder copies an ASCII string that needs no escape whole)."""
    import json

    from tornado_c import _core

    chars = [chr(c) for c in range(128)]
    special = ["<", "/", '"', "\\", "\x00", "\x1f", "\x7f", "\n", " ", "a", "~"]
    texts = [""] + chars + [a + b for a in chars for b in chars]
    texts += [a + b + c for a in special for b in special for c in special]
    for text in texts:
        want = json.dumps(text).replace("</", "<\\/")
        assert _core._json_encode(text) == want, repr(text)
        assert _core._json_encode({text: [text]}) == json.dumps({text: [text]}).replace(
            "</", "<\\/"), repr(text)


def test_json_encode_floats_and_ints_exhaustive_sample() -> None:
    """The C encoder's number formatting (a short path for decimals with up
    to six places, its own integer digits) against json.dumps: decimals,
    their float neighbours, random bit patterns, range edges, int64 edges;
    as values and as dict keys."""
    import json
    import math
    import random
    import struct

    from tornado_c import _core

    rng = random.Random(20261122)
    values: List[Any] = [0.0, -0.0, 1e-4, 1e9, 999999999.999999, 999999999.9999999, 0.00011,
                         0.1 + 0.2, 1 / 3, 5e-5, 1e15, 1e16, 123456789.123456,
                         0, 1, -1, 9, 10, 2**63 - 1, -(2**63), 2**63, -(2**63) - 1]
    for _ in range(20000):
        m, k = rng.randint(0, 10 ** rng.randint(1, 16)), rng.randint(0, 8)
        x = m / 10**k
        values += [x, -x, math.nextafter(x, 0.0), math.nextafter(x, math.inf)]
        values.append(struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0])
        values.append(round(rng.uniform(1e-4, 1e9), rng.randint(0, 7)))
        values.append(rng.randint(-(2**64), 2**64))
    for value in values:
        assert _core._json_encode(value) == json.dumps(value), repr(value)
    keyed = {value: 1 for value in values[:2000] if not (
        isinstance(value, float) and math.isnan(value))}
    assert _core._json_encode(keyed) == json.dumps(keyed)


@pytest.mark.parametrize("count", [0, 1, 30, 31, 32, 33, 60, 2000])
def test_json_encode_long_outputs(count: int) -> None:
    """Text longer than the encoder's first (stack) buffer, and growing
    on the heap several times: repeated keys copied from before the move,
    strings and escapes across the boundaries, one string longer than the
    buffer."""
    import json

    from tornado_c import _core

    rows = [{"name": "row </%d>" % i, "id": i, "price": i / 4, "tags": ["a", "\u00e9"]}
            for i in range(count)]
    for value in (rows, {"rows": rows, "count": count}, ["x" * (count * 40)],
                  ["<" + "/\"" * (count * 20)]):
        assert _core._json_encode(value) == json.dumps(value).replace("</", "<\\/")


def test_json_encode_numbers_at_digit_count_edges() -> None:
    """Numbers whose digit count changes (the C encoder works out a
    number's length before writing its digits in place): every power of
    ten and its neighbours as ints of either sign up to the int64 edges,
    and as the integer and fraction parts of floats with 0 to 6 places,
    alone and next to other values."""
    import json

    from tornado_c import _core

    ints = [0, 2**63 - 1, -(2**63), 2**64 - 1, 2**64]
    for e in range(20):
        for v in (10**e - 1, 10**e, 10**e + 1):
            ints += [v, -v]
    floats = []
    for k in range(7):
        for e in range(16):
            for m in (10**e - 1, 10**e, 10**e + 1):
                floats += [m / 10**k, -m / 10**k]
    for value in ints + floats:
        assert _core._json_encode(value) == json.dumps(value), repr(value)
    for batch in (ints, floats, list(zip(ints, floats))):
        assert _core._json_encode(batch) == json.dumps(batch)
    keyed = {value: [value] for value in ints + floats}
    assert _core._json_encode(keyed) == json.dumps(keyed)


def test_json_encode_float_ties_and_half_steps() -> None:
    """Floats that sit halfway between two candidates of the short decimal
    path ((n + 0.5) / 10**k), their neighbours, and whole numbers with a
    half added: json.dumps's text every time."""
    import json
    import math
    import random

    from tornado_c import _core

    rng = random.Random(7)
    values: List[float] = []
    for k in range(0, 8):
        for _ in range(2000):
            n = rng.randint(0, 10 ** rng.randint(1, 15 - k))
            x = (n + 0.5) / 10**k
            values += [x, math.nextafter(x, 0.0), math.nextafter(x, math.inf), n + 0.5]
    for value in values:
        for v in (value, -value):
            assert _core._json_encode(v) == json.dumps(v), repr(v)


def test_json_encode_dyadic_fractions() -> None:
    """Halves, quarters, eighths and sixteenths, with their neighbours, in
    the short decimal path's range and at its edges, of either sign."""
    import json
    import math
    import random

    from tornado_c import _core

    rng = random.Random(11)
    values: List[float] = [0.5, 0.25, 0.125, 0.375, 1e-4 * 1.25, 999999999.875, 999999999.5,
                           1e9 - 0.25, 2.0**-13, 2.0**-14, 3 * 2.0**-13, 0.0625]
    for j in (1, 2, 3, 4):
        for _ in range(3000):
            q = rng.randint(0, 10 ** rng.randint(1, 10))
            values.append(q / 2**j)
    values += [math.nextafter(v, 0.0) for v in values] + [math.nextafter(v, 2e9) for v in values]
    for value in values:
        for v in (value, -value):
            assert _core._json_encode(v) == json.dumps(v), repr(v)
    assert _core._json_encode(values) == json.dumps(values)


def test_json_encode_special_characters_at_every_place() -> None:
    """Strings of 1 to 25 ASCII characters (the C encoder scans them eight
    at a time) with a character to escape, or a "</", at each place --
    across the eight-character boundaries -- and a "/" that needs none."""
    import json

    from tornado_c import _core

    texts = []
    for n in range(1, 26):
        for i in range(n):
            for c in ('"', "\\", "\x00", "\x1f", "\x7f", "\n", "/"):
                texts.append("a" * i + c + "b" * (n - i - 1))
            if i + 1 < n:
                texts.append("a" * i + "</" + "b" * (n - i - 2))
                texts.append("a" * i + "<" + "x" + "/" * (n - i - 2))
    for text in texts:
        want = json.dumps(text).replace("</", "<\\/")
        assert _core._json_encode(text) == want, repr(text)
    assert _core._json_encode(texts) == json.dumps(texts).replace("</", "<\\/")


def test_json_encode_keys_in_changing_orders() -> None:
    """Dicts of one set of keys in different orders, with other dicts in
    between and keys dropped or added (the encoder guesses each key from
    the order it saw last), and more keys than it keeps."""
    import itertools
    import json

    from tornado_c import _core

    keys = ["id", "name", "price", "tags"]
    rows: List[Any] = []
    for order in itertools.permutations(keys):
        rows.append({k: len(k) for k in order})
        rows.append({k: {"inner": k, order[0]: 1} for k in order[:2]})
        rows.append({k: 0 for k in order[1:]})
    rows.append({"k%d" % i: i for i in range(20)})
    rows += [{k: i for k in keys} for i in range(5)]
    assert _core._json_encode(rows) == json.dumps(rows)
    assert _core._json_encode(rows[::-1]) == json.dumps(rows[::-1])


def test_json_encode_ints_at_digit_size_edges() -> None:
    """Ints around the sizes CPython stores in one internal digit (2**15,
    2**30, 2**31, 2**60, 2**62), which the C encoder reads without a
    call."""
    import json

    from tornado_c import _core

    values = []
    for e in (15, 16, 29, 30, 31, 32, 59, 60, 61, 62, 63):
        for v in (2**e - 1, 2**e, 2**e + 1):
            values += [v, -v]
    for value in values:
        assert _core._json_encode(value) == json.dumps(value), value
        assert _core._json_encode({value: value}) == json.dumps({value: value}), value


def test_json_encode_values_at_the_deepest_nesting() -> None:
    """Containers nested as deep as the C encoder goes, holding every kind
    of scalar at the bottom: the text of json.dumps (deeper containers are
    json.dumps's own, and json_encode's answer the same)."""
    import json

    from tornado_c import _core, escape

    leaf = ["s</", 1, -2.5, 1e300, None, True, False, 10**30]
    for depth in (62, 63, 64, 65, 66):
        value: Any = list(leaf)
        for level in range(depth):
            value = [value, 1.5] if level % 2 else {"k": value, "n": "x"}
        want = json.dumps(value).replace("</", "<\\/")
        assert escape.json_encode(value) == want, depth
        assert _core._json_encode(value) == (want if depth <= 64 else NotImplemented), depth


class _Str(str):
    pass


class _Dict(dict):
    pass


def _cycle() -> list:
    loop: list = []
    loop.append(loop)
    return loop


def _nested(depth: int) -> list:
    value: list = []
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}  # type: ignore[assignment]
    return value


@pytest.mark.parametrize(
    "make",
    [
        lambda: [_Str("</x>")],
        lambda: _Dict(a=1),
        lambda: {(1, 2): 3},
        lambda: {"a": {1, 2}},
        lambda: [1, b"x"],
        lambda: [10**5000],
        lambda: _cycle(),
        lambda: _nested(100),
    ],
)
def test_json_encode_unusual(make: Callable[[], Any]) -> None:
    # Subclasses, values json rejects, cycles and deep nesting: the same
    # output or the same error as Tornado's json_encode.
    same("json_encode", make())


@pytest.mark.parametrize("name", ["xhtml_escape", "utf8", "to_unicode"])
@pytest.mark.parametrize("value", [_Str("<é>"), b"<\xc3\xa9>", "plain", b"plain", "\U0001f600<"])
def test_text_subclasses_and_kinds(name: str, value: Any) -> None:
    same(name, value)
    same(name, value=value)
    if isinstance(value, bytes):
        class _Bytes(bytes):
            pass

        same(name, _Bytes(value))


@pytest.mark.parametrize(
    "value", ['"\\u00e9"', b'"\xc3\xa9"', b"\xef\xbb\xbf[1]", "[1, 2", '{"a": "<\\/"}', b'"\xff"']
)
def test_json_decode(value: Any) -> None:
    same("json_decode", value)


def test_return_types(impl: Any) -> None:
    esc = impl.mod("escape")
    assert type(esc.xhtml_escape(b"<")) is str
    assert type(esc.url_escape(b"a b")) is str
    assert type(esc.url_unescape(b"a", encoding=None)) is bytes
    assert type(esc.url_unescape("a")) is str
    assert type(esc.json_encode(b"x".decode())) is str
    assert type(esc.linkify(b"www.x.com")) is str
