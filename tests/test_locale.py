"""Differential tests for tornado_c.locale against tornado.locale.

Both modules keep global state (loaded translations, the default locale, a
cache of Locale objects); each test saves and restores it for both.  Dates
are formatted against a frozen "now" so relative phrases are exact.
"""

from __future__ import annotations

import datetime
import inspect
import logging
import os
import struct
import types
from typing import Any, Dict, Iterator, List, Tuple

import pytest

import tornado.locale as ref
import tornado_c.locale as tc

MODS = [ref, tc]
_STATE = ("_default_locale", "_translations", "_supported_locales", "_use_gettext")


@pytest.fixture(autouse=True)
def isolated_state() -> Iterator[None]:
    saved = [({name: getattr(m, name) for name in _STATE}, dict(m.Locale._cache)) for m in MODS]
    for m in MODS:
        m.Locale._cache.clear()
    try:
        yield
    finally:
        for m, (values, cache) in zip(MODS, saved):
            for name, value in values.items():
                setattr(m, name, value)
            m.Locale._cache.clear()
            m.Locale._cache.update(cache)


NOW = datetime.datetime(2024, 3, 14, 15, 9, 26, tzinfo=datetime.timezone.utc)


class _FrozenDatetime(datetime.datetime):
    @classmethod
    def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
        return NOW if tz is not None else NOW.replace(tzinfo=None)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.SimpleNamespace(
        datetime=_FrozenDatetime, timedelta=datetime.timedelta, timezone=datetime.timezone
    )
    for m in MODS:
        monkeypatch.setattr(m, "datetime", fake)


def outcome(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return ("ok", fn(*args, **kwargs))
    except Exception as e:  # noqa: BLE001 - compared
        return ("raised", type(e).__name__, str(e))


CSV_FILES = {
    "es_LA.csv": '"Hello","Hola"\n"%(name)s liked this","A %(name)s les gustó esto","plural"\n'
    '"%(name)s liked this","A %(name)s le gustó esto","singular"\n"January","Enero"\n'
    '"Monday","Lunes"\n"%(weekday)s at %(time)s","%(weekday)s a las %(time)s"\n'
    '"%(commas)s and %(last)s","%(commas)s y %(last)s"\n\n"lonely"\n'
    '"bad","malo","dual"\n',
    "fr_FR.csv": "\ufeff\"school\",\"\u00e9cole\"\n",
    "zh_CN.csv": '"Hello","\u4f60\u597d"\n',
    "not-a-locale.csv": '"a","b"\n',
    "readme.txt": "ignored",
}


def write_csv_dir(path: Any, files: Dict[str, str] = CSV_FILES, encoding: str = "utf-8") -> str:
    for name, text in files.items():
        (path / name).write_bytes(text.encode(encoding))
    return str(path)


def both_load_csv(directory: str, encoding: Any = None) -> None:
    for m in MODS:
        m.load_translations(directory, encoding) if encoding else m.load_translations(directory)


def test_locale_names_table() -> None:
    assert set(tc.LOCALE_NAMES) == set(ref.LOCALE_NAMES)
    for code, entry in tc.LOCALE_NAMES.items():
        assert set(entry) == {"name", "name_en"}, code
        assert entry["name"] and entry["name_en"]
    assert tc.LOCALE_NAMES["es_LA"]["name"] == "Espa\u00f1ol"


def test_defaults() -> None:
    for m in MODS:
        assert m.CONTEXT_SEPARATOR == "\x04"
        assert m.get_supported_locales() == frozenset(["en_US"])
        loc = m.get()
        assert (loc.code, loc.name, loc.rtl) == ("en_US", m.LOCALE_NAMES["en_US"]["name"], False)
        assert type(loc).__name__ == "CSVLocale"


def test_csv_loading(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    directory = write_csv_dir(tmp_path)
    logs: List[List[Tuple[str, int, str]]] = []
    for m in MODS:
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="tornado.general"):
            m.load_translations(directory)
        logs.append([(r.name, r.levelno, r.getMessage()) for r in caplog.records])
    assert logs[0] == logs[1]
    assert tc._translations == ref._translations
    assert tc.get_supported_locales() == ref.get_supported_locales()


def test_csv_utf16(tmp_path: Any) -> None:
    directory = write_csv_dir(tmp_path, {"de_DE.csv": '"Hello","Hallo"\n'}, encoding="utf-16")
    both_load_csv(directory)
    assert tc._translations == ref._translations == {"de_DE": {"unknown": {"Hello": "Hallo"}}}


def test_csv_explicit_encoding(tmp_path: Any) -> None:
    directory = write_csv_dir(tmp_path, {"de_DE.csv": '"Gr\u00fc\u00dfe","x"\n'}, encoding="latin-1")
    both_load_csv(directory, "latin-1")
    assert tc._translations == ref._translations


@pytest.mark.parametrize(
    "codes",
    [
        (), ("es_LA",), ("es-la",), ("ES_la",), ("es",), ("es_MX",), ("fr",), ("fr_CA", "es_LA"),
        ("xx", "zh_CN"), ("a_b_c", "fr_FR"), ("", None, "es_LA"), ("en",), ("de_DE",),
    ],
)
def test_get_closest(tmp_path: Any, codes: Tuple[Any, ...]) -> None:
    both_load_csv(write_csv_dir(tmp_path))
    assert tc.get(*codes).code == ref.get(*codes).code


def test_set_default_locale(tmp_path: Any) -> None:
    both_load_csv(write_csv_dir(tmp_path))
    for m in MODS:
        m.set_default_locale("fr_FR")
    assert tc.get_supported_locales() == ref.get_supported_locales()
    assert tc.get("xx").code == ref.get("xx").code == "fr_FR"
    for m in MODS:
        m.set_default_locale("de_DE")
    assert tc.get_supported_locales() == ref.get_supported_locales()
    assert tc.get("de").code == ref.get("de").code


TRANSLATE_CALLS = [
    ("Hello",),
    ("Missing",),
    ("%(name)s liked this", "%(name)s liked these", 1),
    ("%(name)s liked this", "%(name)s liked these", 2),
    ("%(name)s liked this", "%(name)s liked these", 0),
    ("January",),
    ("bad",),
]


@pytest.mark.parametrize("code", ["es_LA", "fr_FR", "zh_CN", "en_US"])
def test_csv_translate(tmp_path: Any, code: str, caplog: pytest.LogCaptureFixture) -> None:
    both_load_csv(write_csv_dir(tmp_path))
    for call in TRANSLATE_CALLS:
        assert tc.get(code).translate(*call) == ref.get(code).translate(*call)
    assert outcome(tc.get(code).translate, "a", "b") == outcome(ref.get(code).translate, "a", "b")
    warned = []
    for m in MODS:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tornado.general"):
            r = m.get(code).pgettext("ctx", "Hello")
        warned.append((r, [(x.levelno, x.getMessage()) for x in caplog.records]))
    assert warned[0] == warned[1]


def _write_mo(path: str, catalog: Dict[str, Any], plural_forms: str) -> None:
    """Write a GNU .mo file (little-endian, no hash table)."""
    entries: Dict[bytes, bytes] = {
        b"": ("Content-Type: text/plain; charset=UTF-8\nPlural-Forms: %s\n" % plural_forms).encode()
    }
    for key, value in catalog.items():
        if isinstance(key, tuple):
            k = "\x00".join(key).encode()
            v = "\x00".join(value).encode()
        else:
            k, v = key.encode(), value.encode()
        entries[k] = v
    keys = sorted(entries)
    ids = b""
    strs = b""
    offsets = []
    for k in keys:
        offsets.append((len(k), len(ids), len(entries[k]), len(strs)))
        ids += k + b"\x00"
        strs += entries[k] + b"\x00"
    n = len(keys)
    key_table_start = 7 * 4
    value_table_start = key_table_start + n * 8
    ids_start = value_table_start + n * 8
    strs_start = ids_start + len(ids)
    out = struct.pack("Iiiiiii", 0x950412DE, 0, n, key_table_start, value_table_start, 0, 0)
    for klen, koff, _, _ in offsets:
        out += struct.pack("ii", klen, koff + ids_start)
    for _, _, vlen, voff in offsets:
        out += struct.pack("ii", vlen, voff + strs_start)
    with open(path, "wb") as f:
        f.write(out + ids + strs)


GETTEXT_CATALOG: Dict[Any, Any] = {
    "school": "\u00e9cole",
    "January": "janvier",
    "Monday": "lundi",
    ("%(name)s liked this", "%(name)s liked these"): (
        "%(name)s a aim\u00e9 \u00e7a",
        "%(name)s ont aim\u00e9 \u00e7a",
    ),
    "law\x04right": "le droit",
    "good\x04right": "le bien",
    ("organization\x04club", "organization\x04clubs"): ("le club", "les clubs"),
    ("stick\x04club", "stick\x04clubs"): ("le b\u00e2ton", "les b\u00e2tons"),
}


def make_gettext_dir(tmp_path: Any) -> str:
    for lang in ("fr_FR", "es"):
        d = tmp_path / lang / "LC_MESSAGES"
        d.mkdir(parents=True)
        _write_mo(str(d / "tornado_test.mo"), GETTEXT_CATALOG, "nplurals=2; plural=(n > 1);")
    (tmp_path / "de_DE" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "de_DE" / "LC_MESSAGES" / "tornado_test.mo").write_bytes(b"not a mo file")
    return str(tmp_path)


def test_gettext(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    directory = make_gettext_dir(tmp_path)
    logs = []
    for m in MODS:
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="tornado.general"):
            m.load_gettext_translations(directory, "tornado_test")
        logs.append(sorted((r.levelno, r.getMessage()) for r in caplog.records))
    assert logs[0] == logs[1]
    assert tc.get_supported_locales() == ref.get_supported_locales()
    assert tc._use_gettext and ref._use_gettext
    assert tc.get("fr_FR").translate("school") == "\u00e9cole"
    assert tc.get("fr_FR").pgettext("law", "right") == "le droit"
    for code in ("fr_FR", "es", "en_US"):
        a, b = tc.get(code), ref.get(code)
        assert type(a).__name__ == type(b).__name__
        for call in TRANSLATE_CALLS:
            assert a.translate(*call) == b.translate(*call)
        for ctx_call in [
            ("law", "right"), ("good", "right"), ("none", "right"), ("x", "school"),
            ("organization", "club", "clubs", 1), ("organization", "club", "clubs", 2),
            ("stick", "club", "clubs", 2), ("none", "club", "clubs", 5),
            ("none", "%(name)s liked this", "%(name)s liked these", 2),
        ]:
            assert a.pgettext(*ctx_call) == b.pgettext(*ctx_call), (code, ctx_call)


DATES = [
    NOW,
    NOW - datetime.timedelta(seconds=1),
    NOW - datetime.timedelta(seconds=49),
    NOW - datetime.timedelta(seconds=50),
    NOW - datetime.timedelta(seconds=89),
    NOW - datetime.timedelta(seconds=90),
    NOW - datetime.timedelta(minutes=49, seconds=59),
    NOW - datetime.timedelta(minutes=50),
    NOW - datetime.timedelta(hours=1, minutes=30),
    NOW - datetime.timedelta(hours=23, minutes=59),
    NOW - datetime.timedelta(hours=24),
    NOW - datetime.timedelta(hours=36),
    NOW - datetime.timedelta(days=2),
    NOW - datetime.timedelta(days=4, hours=23),
    NOW - datetime.timedelta(days=5),
    NOW - datetime.timedelta(days=100),
    NOW - datetime.timedelta(days=333),
    NOW - datetime.timedelta(days=334),
    NOW - datetime.timedelta(days=800),
    NOW + datetime.timedelta(seconds=30),
    NOW + datetime.timedelta(seconds=90),
    NOW + datetime.timedelta(days=3),
    NOW.replace(tzinfo=None) - datetime.timedelta(hours=3),
    NOW.astimezone(datetime.timezone(datetime.timedelta(hours=5))) - datetime.timedelta(days=1),
    NOW.timestamp() - 7200,
    int(NOW.timestamp()) - 86400 * 3,
    datetime.datetime(2024, 3, 13, 0, 30, tzinfo=datetime.timezone.utc),
    datetime.datetime(2024, 3, 13, 23, 59, tzinfo=datetime.timezone.utc),
]


@pytest.mark.parametrize("code", ["en_US", "en", "zh_CN", "es_LA", "fa_IR"])
@pytest.mark.parametrize("gmt_offset", [0, 300, -480])
def test_format_date(frozen: None, tmp_path: Any, code: str, gmt_offset: int) -> None:
    both_load_csv(write_csv_dir(tmp_path, {**CSV_FILES, "en.csv": "", "fa_IR.csv": ""}))
    a, b = tc.get(code), ref.get(code)
    assert a.code == b.code
    for date in DATES:
        for relative in (True, False):
            for shorter in (False, True):
                for full_format in (False, True):
                    kw = dict(gmt_offset=gmt_offset, relative=relative, shorter=shorter,
                              full_format=full_format)
                    assert outcome(a.format_date, date, **kw) == outcome(b.format_date, date, **kw), (
                        date, kw)


@pytest.mark.parametrize("code", ["en_US", "es_LA", "zh_CN"])
def test_format_day_list_number(tmp_path: Any, code: str) -> None:
    both_load_csv(write_csv_dir(tmp_path, {**CSV_FILES, "fa_IR.csv": "", "en.csv": ""}))
    for c in (code, "fa_IR", "en"):
        a, b = tc.get(c), ref.get(c)
        for date in DATES[:20:3]:
            for dow in (True, False):
                for off in (0, 600):
                    assert a.format_day(date, off, dow) == b.format_day(date, off, dow)
        for parts in ([], ["a"], ["a", "b"], ["a", "b", "c"], ("x", "y")):
            assert a.list(parts) == b.list(parts)
        for n in (0, 1, 12, 123, 1234, 1234567, -1234, 10**12):
            assert a.friendly_number(n) == b.friendly_number(n)


def test_rtl_and_names(tmp_path: Any) -> None:
    both_load_csv(write_csv_dir(tmp_path, {"fa_IR.csv": "", "ar_AR.csv": "", "he_IL.csv": "",
                                           "qq.csv": "", "de_DE.csv": ""}))
    for code in ("fa_IR", "ar_AR", "he_IL", "qq", "de_DE"):
        a, b = tc.get(code), ref.get(code)
        assert (a.code, a.rtl) == (b.code, b.rtl)
    assert tc.get("qq").name == ref.get("qq").name == "Unknown"


def test_base_locale_abstract() -> None:
    with pytest.raises(NotImplementedError):
        tc.Locale("en_US")
    for cls in (tc.CSVLocale, tc.GettextLocale):
        assert issubclass(cls, tc.Locale)


def test_signatures() -> None:
    def shape(fn: Any) -> Any:
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    for name in ("get", "set_default_locale", "load_translations", "load_gettext_translations",
                 "get_supported_locales"):
        assert shape(getattr(tc, name)) == shape(getattr(ref, name)), name
    for meth in ("get_closest", "get", "translate", "pgettext", "format_date", "format_day",
                 "list", "friendly_number"):
        assert shape(getattr(tc.Locale, meth)) == shape(getattr(ref.Locale, meth)), meth
    assert shape(tc.CSVLocale) == shape(ref.CSVLocale)
    assert shape(tc.GettextLocale) == shape(ref.GettextLocale)
    assert os.path.basename(tc.__file__) == "locale.py"
