"""Differential tests for tornado_c.options against tornado.options.

Each scenario builds a fresh `OptionParser` of each implementation, runs the
same definitions and inputs, and compares values, exceptions and output.
"""

from __future__ import annotations

import datetime
import inspect
import io
import os
import sys
import tempfile
from typing import Any, Callable, List, Tuple
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

import tornado.options as ref_opts
import tornado_c.options as tc_opts

# Keep Hypothesis's cache out of the repository.
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "tornado_c-hypothesis"))

IMPLS = [("tornado", ref_opts), ("tornado_c", tc_opts)]
SETTINGS = settings(
    max_examples=200, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def capture(fn: Callable[[], Any]) -> Tuple:
    """Run fn, returning ("ok", value) or ("raised", type name, message)."""
    try:
        value = fn()
    except SystemExit as exc:
        return ("exit", exc.code)
    except Exception as exc:  # noqa: BLE001 - compared between implementations
        return ("raised", type(exc).__name__, str(exc))
    return ("ok", value)


def both(scenario: Callable[[Any], Any]) -> Any:
    """Run ``scenario(options_module)`` on both implementations; compare."""
    results = [capture(lambda mod=mod: scenario(mod)) for _n, mod in IMPLS]
    assert results[0] == results[1]
    return results[1]


def standard_parser(mod: Any) -> Any:
    p = mod.OptionParser()
    p.define("port", default=80, help="port to listen on")
    p.define("host", default="localhost", metavar="HOST", help="host name", group="net")
    p.define("debug", type=bool, help="debug mode")
    p.define("ratio", type=float, default=0.5)
    p.define("names", multiple=True, help="some names")
    p.define("ids", type=int, multiple=True)
    p.define("when", type=datetime.datetime)
    p.define("delay", type=datetime.timedelta, default=datetime.timedelta(seconds=1))
    p.define("under_score", default="x")
    p.define("flags", type=bool, multiple=True)
    return p


def state(p: Any) -> Any:
    return sorted((k, repr(v)) for k, v in p.as_dict().items())


# --- API shape -------------------------------------------------------------


def shape(fn: Any) -> list:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize(
    "path",
    [
        "define", "parse_command_line", "parse_config_file", "print_help",
        "add_parse_callback", "OptionParser.define", "OptionParser.parse_command_line",
        "OptionParser.parse_config_file", "OptionParser.print_help", "OptionParser.items",
        "OptionParser.groups", "OptionParser.group_dict", "OptionParser.as_dict",
        "OptionParser.mockable", "OptionParser.add_parse_callback",
        "OptionParser.run_parse_callbacks", "_Option.__init__", "_Option.parse",
        "_Option.set", "_Option.value", "_Mockable.__init__",
    ],
)
def test_signatures(path: str) -> None:
    def get(mod: Any) -> Any:
        obj = mod
        for part in path.split("."):
            obj = getattr(obj, part)
        return shape(obj)

    assert get(tc_opts) == get(ref_opts)


def test_option_constants() -> None:
    for attr in ("_DATETIME_FORMATS", "_TIMEDELTA_ABBREV_DICT", "_FLOAT_PATTERN"):
        assert getattr(tc_opts._Option, attr) == getattr(ref_opts._Option, attr)
    assert issubclass(tc_opts.Error, Exception)


def test_global_instance(impl: Any) -> None:
    mod = impl.mod("options")
    assert isinstance(mod.options, mod.OptionParser)
    assert "help" in mod.options and "logging" in mod.options
    assert mod.define_logging_options is impl.mod("log").define_logging_options


# --- definitions ------------------------------------------------------------


def test_definitions_match() -> None:
    def run(mod: Any) -> Any:
        p = standard_parser(mod)
        return [
            (k, o.name, o.type, o.default, o.help, o.metavar, o.multiple, o.group_name,
             o.file_name == __file__, o.callback is None)
            for k, o in p._options.items()
        ]

    both(run)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"default": 1}, {"default": 1.5}, {"default": "s"}, {"default": True},
        {"default": None}, {"default": [1], "multiple": True}, {"multiple": True},
        {"default": datetime.date(2020, 1, 1)}, {"type": int, "default": "x"},
        {"default": b"b"}, {"group": "g"}, {"group": ""},
    ],
)
def test_type_inference(kwargs: dict) -> None:
    def run(mod: Any) -> Any:
        p = mod.OptionParser()
        p.define("opt", **kwargs)
        o = p._options["opt"]
        return (o.type, o.default, o.multiple, o.group_name == (kwargs.get("group") or __file__))

    both(run)


def test_redefine_error() -> None:
    def run(mod: Any) -> Any:
        p = mod.OptionParser()
        p.define("a_b")
        p.define("a-b")

    result = both(run)
    assert result[0] == "raised" and __file__ in result[2]


def test_redefine_help_names_empty_file() -> None:
    both(lambda mod: mod.OptionParser().define("help"))


def test_option_without_type_rejected() -> None:
    both(lambda mod: mod._Option("x"))


def test_module_define_uses_caller_file(impl: Any) -> None:
    mod = impl.mod("options")
    name = "tornado_c_test_options_global_define"
    if name not in mod.options:
        mod.define(name, default=3, help="from the test")
    option = mod.options._options[name.replace("_", "-")]
    assert option.file_name == __file__
    assert option.group_name == __file__
    assert mod.options[name] == 3


# --- attribute access -------------------------------------------------------


def test_access() -> None:
    def run(mod: Any) -> Any:
        p = standard_parser(mod)
        p.port = 81
        p["under-score"] = "y"
        out = [p.port, p["port"], p.under_score, p["under_score"], getattr(p, "under-score"),
               "under_score" in p, "under-score" in p, "nope" in p, list(p), p.items(),
               sorted(p.groups(), key=str), p.group_dict("net"),
               sorted(p.group_dict("").items(), key=str), p.group_dict("missing")]
        return repr(out)

    both(run)


@pytest.mark.parametrize("op", ["get", "set", "getitem", "setitem", "get_underscore"])
def test_unknown_attribute(op: str) -> None:
    def run(mod: Any) -> Any:
        p = mod.OptionParser()
        if op == "get":
            return p.missing
        if op == "get_underscore":
            return p.not_here
        if op == "set":
            p.missing = 1
        elif op == "getitem":
            return p["missing"]
        else:
            p["mis_sing"] = 1

    result = both(run)
    assert result[1] == "AttributeError"


@pytest.mark.parametrize(
    "name,value",
    [
        ("port", "81"), ("port", None), ("port", True), ("port", 8.0), ("names", ["a", "b"]),
        ("names", "a,b"), ("names", ["a", 1]), ("names", ["a", None]), ("names", None),
        ("ids", (1, 2)), ("debug", 1), ("debug", False), ("when", "2020-01-01"),
        ("delay", 3), ("ratio", 1), ("host", b"h"),
    ],
)
def test_set_type_checks(name: str, value: Any) -> None:
    def run(mod: Any) -> Any:
        p = standard_parser(mod)
        setattr(p, name, value)
        return repr(getattr(p, name))

    both(run)


# --- command line -------------------------------------------------------------

ARGV_CASES: List[List[str]] = [
    [],
    ["--port=90"],
    ["--port", "90"],
    ["-port=90", "---host=x"],
    ["--debug"],
    ["--debug=false", "--flags=true,0,F,no"],
    ["--debug=0"],
    ["--debug=FALSE"],
    ["--debug=f"],
    ["--debug=yes"],
    ["--port"],
    ["--port="],
    ["--port=abc"],
    ["--ratio=1e3"],
    ["--names=a,b,,c"],
    ["--names="],
    ["--ids=1,3:5,9:7"],
    ["--ids=1:"],
    ["--ids=x"],
    ["--under_score=1", "--under-score=2"],
    ["--Under-score=1"],
    ["--unknown=1"],
    ["--", "--port=1"],
    ["--port=1", "--", "rest"],
    ["--port=1", "file", "--debug"],
    ["file", "--port=1"],
    ["-"],
    ["--=x"],
    ["--host=a=b=c"],
    ["--when=2013-04-05 06:07:08"],
    ["--when=Fri Apr 05 06:07:08 2013"],
    ["--when=20130405 06:07"],
    ["--when=2013-04-05T06:07"],
    ["--when=06:07"],
    ["--when=tomorrow"],
    ["--delay=1h 2m 3s"],
    ["--delay=1.5"],
    ["--delay=-2d"],
    ["--delay=3 weeks"],
    ["--delay=5 fortnights"],
    ["--delay=abc"],
    ["--delay="],
    ["--delay=1e2ms 4us 1min 2sec 1w"],
    ["--host=\u00e9"],
]


@pytest.mark.parametrize("argv", ARGV_CASES, ids=" ".join)
def test_parse_command_line(argv: List[str]) -> None:
    def run(mod: Any) -> Any:
        p = standard_parser(mod)
        err = io.StringIO()
        with mock.patch.object(sys, "stderr", err):
            try:
                rest = p.parse_command_line(["prog"] + argv)
            except Exception as exc:
                return ("raised", type(exc).__name__, str(exc), state(p), err.getvalue())
        return (rest, state(p), err.getvalue())

    both(run)


def test_parse_command_line_defaults_to_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["prog", "--port=5", "tail"])
    both(lambda mod: (standard_parser(mod).parse_command_line(), None)[0])


def test_help_option_exits() -> None:
    def run(mod: Any) -> Any:
        p = standard_parser(mod)
        err = io.StringIO()
        with mock.patch.object(sys, "stderr", err), mock.patch.object(sys, "argv", ["app"]):
            code = capture(lambda: p.parse_command_line(["prog", "--help"]))
        return (code, err.getvalue())

    result = both(run)
    assert result[1][0] == ("exit", 0)
    assert "Usage: app [OPTIONS]" in result[1][1]


def test_help_false_does_not_exit() -> None:
    both(lambda mod: standard_parser(mod).parse_command_line(["prog", "--help=false", "x"]))


TIMEDELTA_TERMS = st.tuples(
    st.sampled_from(["1", "-2", "+3.5", ".5", "1e1", "2E-1", "7.", "0"]),
    st.sampled_from(["", " ", "  "]),
    st.sampled_from(["", "h", "m", "min", "s", "sec", "ms", "us", "d", "w", "hours", "days",
                     "H", "x", "minutes", "seconds"]),
    st.sampled_from(["", " ", "\t"]),
).map("".join)


@SETTINGS
@given(st.lists(TIMEDELTA_TERMS, max_size=4).map("".join))
def test_timedelta_parsing_random(text: str) -> None:
    def run(mod: Any) -> Any:
        option = mod._Option("d", type=datetime.timedelta)
        return option.parse(text)

    both(run)


@SETTINGS
@given(st.text(alphabet="0123456789-: TAprFiMonJan", max_size=22))
def test_datetime_parsing_random(text: str) -> None:
    both(lambda mod: mod._Option("d", type=datetime.datetime).parse(text))


@SETTINGS
@given(st.lists(st.sampled_from(["1", "2", ":", ",", "-3", "x", "10", " 4"]), max_size=8).map("".join))
def test_multiple_int_parsing_random(text: str) -> None:
    both(lambda mod: mod._Option("n", type=int, multiple=True).parse(text))


def test_custom_type_and_callbacks() -> None:
    def run(mod: Any) -> Any:
        calls: list = []
        p = mod.OptionParser()
        p.define("upper", type=lambda s: s.upper(), callback=lambda v: calls.append(("u", v)))
        p.define("many", type=str, multiple=True, callback=lambda v: calls.append(("m", v)))
        p.add_parse_callback(lambda: calls.append("parsed-1"))
        p.add_parse_callback(lambda: calls.append("parsed-2"))
        p.parse_command_line(["prog", "--upper=abc", "--many=a,b"], final=False)
        calls.append("between")
        p.parse_command_line(["prog"])
        p.upper = "direct"
        p.run_parse_callbacks()
        return calls, p.upper, p.many

    both(run)


# --- config files -------------------------------------------------------------

CONFIGS = [
    "port = 443\nhost = 'example.com'\n",
    "port = '443'\n",
    "ratio = '2.5'\nhost = 'h'\n",
    "names = ['a', 'b']\nids = [1, 2]\n",
    "names = 'a,b'\nids = '1:3,5'\n",
    "names = ('a',)\n",
    "ids = 3\n",
    "debug = True\nflags = [True, False]\n",
    "debug = 'false'\n",
    "when = '2020-01-02 03:04'\ndelay = '2h'\n",
    "when = __import__('datetime').datetime(2001, 1, 1)\n",
    "delay = 5\n",
    "under_score = 'u'\nunrelated = 1\n_private = 2\n",
    "port = None\n",
    "host = __file__\n",
    "import os\nport = len(os.sep)\n",
    "port = 1 +\n",
    "raise ValueError('in config')\n",
    "# -*- coding: utf-8 -*-\nhost = '\u00e9'\n",
    "names = ['x', None]\n",
]


@pytest.mark.parametrize("text", CONFIGS)
def test_parse_config_file(text: str, tmp_path: Any) -> None:
    path = tmp_path / "app.cfg"
    path.write_bytes(text.encode("utf-8"))

    def run(mod: Any) -> Any:
        p = standard_parser(mod)
        called: list = []
        p.add_parse_callback(lambda: called.append(1))
        p.parse_config_file(str(path))
        return state(p), called

    both(run)


def test_parse_config_file_not_final(tmp_path: Any) -> None:
    path = tmp_path / "c.cfg"
    path.write_text("port = 1\n")

    def run(mod: Any) -> Any:
        p = standard_parser(mod)
        called: list = []
        p.add_parse_callback(lambda: called.append(1))
        p.parse_config_file(str(path), final=False)
        return p.port, called

    both(run)


def test_parse_config_file_missing(tmp_path: Any) -> None:
    both(lambda mod: mod.OptionParser().parse_config_file(str(tmp_path / "absent.cfg")))


def test_config_file_file_variable(tmp_path: Any) -> None:
    path = tmp_path / "f.cfg"
    path.write_text("host = __file__\n")

    def run(mod: Any) -> Any:
        p = standard_parser(mod)
        cwd = os.getcwd()
        os.chdir(tmp_path)
        try:
            p.parse_config_file("f.cfg")
        finally:
            os.chdir(cwd)
        return p.host

    assert both(run)[1] == str(path)


# --- help -------------------------------------------------------------------


def help_text(mod: Any, parser: Any) -> str:
    out = io.StringIO()
    with mock.patch.object(sys, "argv", ["my-app.py"]):
        parser.print_help(out)
    # The logging options are grouped under each implementation's log.py.
    log_file = sys.modules[mod.__name__.replace("options", "log")].__file__
    return out.getvalue().replace(os.path.normpath(log_file), "<log.py>")


def test_print_help_standard() -> None:
    def run(mod: Any) -> Any:
        p = standard_parser(mod)
        p.define("long_help", default="d", help="word " * 40)
        p.define("long_metavar_option_name_here", metavar="SOME_VALUE", help="short")
        p.define("longer_than_thirty_characters_x", help=None)
        p.define("empty_default", default="", help="empty default")
        p.define("zero", default=0, group="net")
        p.define("nohelp")
        p.define("avery" + "long" * 5, default="x" * 60)
        # (The logging options are left out: their group is the path of each
        # implementation's log.py, which sorts differently; see the next test.)
        return help_text(mod, p)

    out = both(run)[1]
    assert out.startswith("Usage: my-app.py [OPTIONS]\n\nOptions:\n\n")


def test_print_help_global(impl: Any) -> None:
    mod = impl.mod("options")
    other = tc_opts if mod is ref_opts else ref_opts
    text = help_text(mod, mod.options)
    assert "<log.py> options:" in text
    assert text.startswith("Usage: my-app.py [OPTIONS]")
    # Same sections as the other implementation, apart from this test's own
    # options (group order depends on where each implementation lives).

    def sections(s: str) -> dict:
        parts = s.split("\n\n")
        found = {}
        for i in range(0, len(parts) - 1):
            if parts[i].endswith(" options:"):
                found[parts[i].lstrip("\n")] = parts[i + 1]
        found["head"] = s.split("\n\n<")[0].split("\n\n/")[0]
        found.pop(__file__ + " options:", None)
        return found

    assert sections(text) == sections(help_text(other, other.options))
    assert "<log.py> options:" in sections(text)


def test_print_help_defaults_to_stderr(capsys: pytest.CaptureFixture) -> None:
    outs = []
    for _n, mod in IMPLS:
        p = mod.OptionParser()
        p.define("x", default=1, help="an x", group="grp")
        with mock.patch.object(sys, "argv", ["a"]):
            p.print_help()
        captured = capsys.readouterr()
        assert captured.out == ""
        outs.append(captured.err)
    assert outs[0] == outs[1]


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.text(alphabet="abc_-XY", min_size=1, max_size=40),
            st.one_of(st.none(), st.text(alphabet="ab cdé\n\t-", max_size=120)),
            st.one_of(st.none(), st.text(alphabet="AB=|", max_size=12)),
            st.one_of(st.none(), st.integers(), st.text(alphabet="xy ", max_size=10)),
            st.sampled_from([None, "", "g1", "/a/../b", "g2"]),
        ),
        max_size=6,
        unique_by=lambda t: t[0].replace("_", "-"),
    )
)
def test_print_help_random(defs: list) -> None:
    def run(mod: Any) -> Any:
        p = mod.OptionParser()
        for name, help_, metavar, default, group in defs:
            if name.replace("_", "-") == "help":
                continue
            p.define(name, default=default, help=help_, metavar=metavar, group=group)
        return help_text(mod, p)

    both(run)


# --- mockable -----------------------------------------------------------------


def test_mockable() -> None:
    def run(mod: Any) -> Any:
        p = standard_parser(mod)
        seen = []
        with mock.patch.object(p.mockable(), "port", 12):
            seen.append(p.port)
        seen.append(p.port)
        m = p.mockable()
        m.host = "a"
        seen.append((p.host, m.host, m.port))
        del m.host
        seen.append(p.host)
        return seen

    assert both(run)[1] == [12, 80, ("a", "a", 80), "localhost"]


def test_mockable_reuse_asserts(impl: Any) -> None:
    p = impl.mod("options").OptionParser()
    p.define("a", default=1)
    m = p.mockable()
    m.a = 2
    with pytest.raises(AssertionError, match="don't reuse mockable objects"):
        m.a = 3
    assert type(m).__name__ == "_Mockable"


def test_mockable_unknown() -> None:
    def run(mod: Any) -> Any:
        m = mod.OptionParser().mockable()
        m.nothing = 1

    both(run)


def test_option_value_and_unset(impl: Any) -> None:
    mod = impl.mod("options")
    option = mod._Option("x", default=5, type=int)
    assert option._value is mod._Option.UNSET
    assert option.value() == 5
    assert option.parse("7") == 7
    option.set(None)
    assert option.value() is None
    multi = mod._Option("m", type=str, multiple=True)
    assert multi.default == [] and multi.value() == []
