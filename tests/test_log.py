"""Differential tests for tornado_c.log against tornado.log.

Records are built identically for both implementations (same timestamps,
same exception objects) so formatted output can be compared exactly.
"""

from __future__ import annotations

import curses
import inspect
import logging
import logging.handlers
import os
import sys
import tempfile
from typing import Any, Callable, Iterator, List, Optional

import pytest

import tornado.log as ref_log
import tornado_c.log as tc_log

IMPLS = [("tornado", ref_log), ("tornado_c", tc_log)]


def make_record(
    msg: Any,
    args: Any = (),
    level: int = logging.ERROR,
    exc_info: Any = None,
    lineno: int = 42,
    pathname: str = "/srv/app/handlers.py",
) -> logging.LogRecord:
    record = logging.LogRecord(
        "test.logger", level, pathname, lineno, msg, args, exc_info, func="fn"
    )
    # Freeze everything time- and process-dependent.
    record.created = 1700000000.25
    record.msecs = 250.0
    record.relativeCreated = 12.5
    record.thread = 1
    record.threadName = "T"
    record.process = 2
    record.processName = "P"
    if hasattr(record, "taskName"):
        record.taskName = None
    return record


def format_both(
    make: Callable[[], logging.LogRecord],
    formatter_kwargs: Optional[dict] = None,
    tweak: Optional[Callable[[logging.Formatter], None]] = None,
) -> str:
    outputs = []
    for _name, mod in IMPLS:
        formatter = mod.LogFormatter(**(formatter_kwargs or {}))
        if tweak is not None:
            tweak(formatter)
        try:
            outputs.append(("ok", formatter.format(make())))
        except Exception as exc:  # noqa: BLE001 - compared
            outputs.append(("raised", repr(exc)))
    assert outputs[0] == outputs[1]
    return outputs[1][1]


@pytest.fixture(autouse=True)
def utc_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # Output must not depend on the machine's time zone.
    monkeypatch.setattr(logging.Formatter, "converter", staticmethod(__import__("time").gmtime))


def test_logger_names(impl: Any) -> None:
    log = impl.mod("log")
    assert log.access_log is logging.getLogger("tornado.access")
    assert log.app_log is logging.getLogger("tornado.application")
    assert log.gen_log is logging.getLogger("tornado.general")


def test_shared_loggers() -> None:
    assert tc_log.access_log is ref_log.access_log
    assert tc_log.app_log is ref_log.app_log
    assert tc_log.gen_log is ref_log.gen_log


@pytest.mark.parametrize(
    "name", ["LogFormatter.__init__", "LogFormatter.format", "enable_pretty_logging",
             "define_logging_options"]
)
def test_signatures(name: str) -> None:
    def get(mod: Any) -> Any:
        obj = mod
        for part in name.split("."):
            obj = getattr(obj, part)
        return [(p.name, p.kind, p.default) for p in inspect.signature(obj).parameters.values()]

    assert get(tc_log) == get(ref_log)


def test_class_constants() -> None:
    for attr in ("DEFAULT_FORMAT", "DEFAULT_DATE_FORMAT", "DEFAULT_COLORS"):
        assert getattr(tc_log.LogFormatter, attr) == getattr(ref_log.LogFormatter, attr)
    assert issubclass(tc_log.LogFormatter, logging.Formatter)


MESSAGES = [
    ("plain", ()),
    ("with %s and %d", ("args", 3)),
    (b"\xe9", ()),
    (b"caf\xc3\xa9", ()),
    ("\u00e9 unicode \u4e2d", ()),
    ("bytes arg %s", (b"\xe9",)),
    ("bytes arg %r", (b"\xe9",)),
    ("multi\nline\nmessage", ()),
    ("trailing newline\n", ()),
    ("bad args %d", ("x",)),
    ("too few %s %s", ("x",)),
    ({"a": 1}, ()),
    (42, ()),
    (None, ()),
]


@pytest.mark.parametrize("msg,args", MESSAGES)
@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR,
                                   logging.CRITICAL, 5, 55])
def test_format_messages(msg: Any, args: Any, level: int) -> None:
    format_both(lambda: make_record(msg, args, level=level), {"color": False})


def test_bad_message_mentions_record() -> None:
    out = format_both(lambda: make_record("%d", ("x",)), {"color": False})
    assert "Bad message" in out


def _exc_info(exc: BaseException) -> Any:
    try:
        raise exc
    except BaseException:
        return sys.exc_info()


EXCEPTIONS = [
    ValueError("simple"),
    ValueError("multi\nline"),
    ValueError(b"\xe9"),
    ValueError("\u00e9\u4e2d"),
    KeyError("k"),
    Exception(),
]


@pytest.mark.parametrize("exc", EXCEPTIONS, ids=repr)
def test_format_exceptions(exc: BaseException) -> None:
    info = _exc_info(exc)
    out = format_both(lambda: make_record("failed: %s", ("x",), exc_info=info), {"color": False})
    assert "\n    Traceback" in out


def test_format_precomputed_exc_text() -> None:
    def make() -> logging.LogRecord:
        record = make_record("msg")
        record.exc_text = "line one\nline two\n"
        return record

    format_both(make, {"color": False})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"color": False},
        {"color": False, "fmt": "%(levelname)s|%(message)s|%(color)s|%(end_color)s"},
        {"color": False, "datefmt": "%Y-%m-%dT%H:%M:%S"},
        {"color": False, "fmt": "{message} %(asctime)s %(message)s", "style": "{"},
        {"color": False, "fmt": "%(name)s %(funcName)s %(module)s:%(lineno)d %(message)s"},
    ],
)
def test_format_options(kwargs: dict) -> None:
    format_both(lambda: make_record("hello\nworld"), kwargs)


def test_format_with_private_colors() -> None:
    def tweak(formatter: Any) -> None:
        formatter._colors = {logging.ERROR: "\u0001"}
        formatter._normal = "\u0002"

    for level in (logging.ERROR, logging.INFO):
        out = format_both(lambda: make_record("m", level=level), {"color": False}, tweak)
        assert ("\u0001" in out) == (level == logging.ERROR)


def test_no_color_when_not_a_tty() -> None:
    for _name, mod in IMPLS:
        formatter = mod.LogFormatter()
        assert formatter._colors == {}
        assert formatter._normal == ""


@pytest.fixture
def color_terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with tempfile.TemporaryFile() as f:
        curses.setupterm("xterm-256color", f.fileno())
        for _name, mod in IMPLS:
            monkeypatch.setattr(mod, "_stderr_supports_color", lambda: True)
        yield


@pytest.mark.parametrize("colors", [None, {logging.INFO: 6, 25: 7}])
def test_curses_colors(color_terminal: None, colors: Optional[dict]) -> None:
    kwargs = {} if colors is None else {"colors": colors}
    formatters = [mod.LogFormatter(**kwargs) for _n, mod in IMPLS]
    assert formatters[0]._colors == formatters[1]._colors
    assert formatters[0]._normal == formatters[1]._normal
    assert formatters[1]._colors
    for level in (logging.DEBUG, logging.INFO, 25, logging.WARNING, logging.ERROR):
        format_both(lambda: make_record("colored", level=level), kwargs)


def test_colorama_colors(color_terminal: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for _name, mod in IMPLS:
        monkeypatch.setattr(mod, "curses", None)
    formatters = [mod.LogFormatter() for _n, mod in IMPLS]
    assert formatters[0]._colors == formatters[1]._colors
    assert formatters[0]._normal == formatters[1]._normal == "\033[0m"
    format_both(lambda: make_record("x", level=logging.WARNING))


def test_color_false_ignores_terminal(color_terminal: None) -> None:
    for _name, mod in IMPLS:
        assert mod.LogFormatter(color=False)._colors == {}


@pytest.mark.parametrize("value", [b"\xe9", b"ok", "ok", 3, None])
def test_safe_unicode(value: Any) -> None:
    def run(mod: Any) -> Any:
        try:
            return mod._safe_unicode(value)
        except Exception as exc:  # noqa: BLE001
            return repr(exc)

    assert run(tc_log) == run(ref_log)


def test_stderr_supports_color_not_tty(impl: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeStream:
        def isatty(self) -> bool:
            return False

    monkeypatch.setattr(sys, "stderr", FakeStream())
    assert impl.mod("log")._stderr_supports_color() is False
    monkeypatch.setattr(sys, "stderr", object())
    assert impl.mod("log")._stderr_supports_color() is False


# --- define_logging_options / enable_pretty_logging -------------------------


def option_table(parser: Any) -> List[tuple]:
    return [
        (key, o.name, o.type, o.default, o.help, o.metavar, o.multiple)
        for key, o in parser._options.items()
    ]


def test_define_logging_options_same_options() -> None:
    tables = []
    for name, mod in IMPLS:
        options_mod = __import__(f"{name}.options", fromlist=["OptionParser"])
        parser = options_mod.OptionParser()
        mod.define_logging_options(parser)
        assert len(parser._parse_callbacks) == 1
        tables.append(option_table(parser))
    assert tables[0] == tables[1]


def test_global_options_have_logging(impl: Any) -> None:
    options = impl.mod("options").options
    for name in ("logging", "log_to_stderr", "log_file_prefix", "log_rotate_mode"):
        assert name in options
    assert options._options["logging"].file_name == impl.mod("log").__file__


@pytest.fixture
def parser_and_logger(impl: Any) -> Iterator[tuple]:
    parser = impl.mod("options").OptionParser()
    impl.mod("log").define_logging_options(parser)
    logger = logging.Logger("tornado_c.test_log.pretty")
    yield impl.mod("log"), parser, logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def handler_summary(logger: logging.Logger) -> List[tuple]:
    out = []
    for h in logger.handlers:
        row: tuple = (type(h).__name__, type(h.formatter).__name__)
        if isinstance(h, logging.handlers.RotatingFileHandler):
            row += (h.maxBytes, h.backupCount, h.mode, h.encoding)
        if isinstance(h, logging.handlers.TimedRotatingFileHandler):
            row += (h.when, h.interval, h.backupCount, h.encoding)
        if h.formatter is not None:
            row += (getattr(h.formatter, "_normal", None), h.formatter._fmt)
        out.append(row)
    return out


SCENARIOS = [
    {},
    {"logging": "none"},
    {"logging": "NONE"},
    {"logging": None},
    {"logging": "debug"},
    {"logging": "WARNING", "log_to_stderr": False},
    {"log_to_stderr": True},
    {"log_file_prefix": "{tmp}/size.log", "log_file_max_size": 1000, "log_file_num_backups": 3},
    {"log_file_prefix": "{tmp}/size.log", "log_to_stderr": True},
    {"log_file_prefix": "{tmp}/time.log", "log_rotate_mode": "time", "log_rotate_when": "S",
     "log_rotate_interval": 7},
    {"log_file_prefix": "{tmp}/time.log", "log_rotate_mode": "time"},
    {"log_file_prefix": "{tmp}/bad.log", "log_rotate_mode": "wrong"},
]


def run_scenario(impl_name: str, scenario: dict, tmp: str) -> Any:
    options_mod = __import__(f"{impl_name}.options", fromlist=["OptionParser"])
    log_mod = __import__(f"{impl_name}.log", fromlist=["LogFormatter"])
    parser = options_mod.OptionParser()
    log_mod.define_logging_options(parser)
    for key, value in scenario.items():
        if isinstance(value, str):
            value = value.replace("{tmp}", tmp)
        setattr(parser, key, value)
    logger = logging.Logger("tornado_c.test_log.scenario", level=logging.NOTSET)
    try:
        try:
            log_mod.enable_pretty_logging(parser, logger)
        except Exception as exc:  # noqa: BLE001
            return ("raised", repr(exc), handler_summary(logger))
        if scenario.get("log_file_prefix") and not scenario.get("log_rotate_mode") == "wrong":
            logger.error("written %s", "\u00e9")
        return ("ok", logger.level, handler_summary(logger))
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_enable_pretty_logging(scenario: dict, tmp_path: Any) -> None:
    results = []
    for name, _mod in IMPLS:
        tmp = tmp_path / name
        tmp.mkdir()
        results.append(run_scenario(name, scenario, str(tmp)))
        written = sorted(os.listdir(tmp))
        contents = [(tmp / f).read_bytes() for f in written]
        results.append((written, [c.split(b"]", 1)[-1] for c in contents]))
    assert results[0] == results[2]
    assert results[1] == results[3]


def test_log_file_line_format(parser_and_logger: tuple, tmp_path: Any) -> None:
    log_mod, parser, logger = parser_and_logger
    parser.log_file_prefix = str(tmp_path / "app.log")
    log_mod.enable_pretty_logging(parser, logger)
    logger.warning("caf\u00e9 %d", 1)
    data = (tmp_path / "app.log").read_bytes()
    assert data.startswith(b"[W ")
    assert data.endswith(b" test_log:" + str(sys._getframe().f_lineno - 3).encode() +
                         b"] caf\xc3\xa9 1\n")


def test_enable_pretty_logging_defaults_to_global_options(
    impl: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = impl.mod("options").options
    monkeypatch.setattr(options._options["logging"], "_value", "none")
    root = logging.getLogger()
    before = list(root.handlers), root.level
    impl.mod("log").enable_pretty_logging()
    assert (list(root.handlers), root.level) == before


def test_parse_callback_enables_logging(impl: Any) -> None:
    parser = impl.mod("options").OptionParser()
    impl.mod("log").define_logging_options(parser)
    root = logging.getLogger()
    level = root.level
    handlers = list(root.handlers)
    try:
        parser.parse_command_line(["prog", "--logging=error", "--log-to-stderr=false"])
        assert root.level == logging.ERROR
        assert root.handlers == handlers
    finally:
        root.setLevel(level)
