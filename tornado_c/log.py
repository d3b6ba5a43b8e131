"""Logging for tornado_c: the three Tornado loggers and a pretty formatter.

Three loggers carry Tornado's output:

* ``tornado.access``: one line per completed HTTP request.
* ``tornado.application``: errors from application code, such as uncaught
  exceptions in callbacks.
* ``tornado.general``: everything else the framework itself reports.

`LogFormatter` gives the compact, optionally colored format Tornado uses,
and `enable_pretty_logging` installs it on the root logger according to the
``--logging`` family of options from `tornado_c.options`.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from typing import Any, Dict, Optional, cast

from tornado_c.escape import _unicode

basestring_type = str
unicode_type = str

def _optional(module_name: str) -> Any:
    """The named module, or None where it is not installed (curses is
    missing on Windows; colorama is an optional extra)."""
    import importlib

    try:
        return importlib.import_module(module_name)
    except ImportError:
        return None


colorama = _optional("colorama")
curses = _optional("curses")

access_log = logging.getLogger("tornado.access")
app_log = logging.getLogger("tornado.application")
gen_log = logging.getLogger("tornado.general")


def _stderr_supports_color() -> bool:
    """Whether ``sys.stderr`` is a terminal that understands colors."""
    try:
        isatty = getattr(sys.stderr, "isatty", None)
        if isatty is None or not isatty():
            return False
        if curses:
            curses.setupterm()
            return curses.tigetnum("colors") > 0
        if colorama:
            wrapped = getattr(colorama.initialise, "wrapped_stderr", object())
            return sys.stderr is wrapped
    except Exception:
        # Any failure to query the terminal just means "no color".
        pass
    return False


def _safe_unicode(s: Any) -> str:
    """Decode ``s`` as UTF-8 text, or fall back to its repr."""
    try:
        return _unicode(s)  # type: ignore[return-value]
    except UnicodeDecodeError:
        return repr(s)


class LogFormatter(logging.Formatter):
    """The log formatter Tornado uses.

    * Colored by level when ``color`` is true and stderr is a color
      terminal (through curses, or colorama on Windows).
    * Each record begins with a compact ``[L yymmdd hh:mm:ss module:line]``
      prefix; tracebacks and later lines of a message are indented.
    * Messages that are not valid UTF-8 are shown by their repr instead of
      breaking the logging call.

    ``fmt`` is a ``%``-style format over the record's attributes plus
    ``color`` and ``end_color``; ``colors`` maps a level number to a
    terminal color code (0-7, as for curses ``setaf``).  ``style`` is
    accepted for compatibility and ignored.
    """

    DEFAULT_FORMAT = "%(color)s[%(levelname)1.1s %(asctime)s %(module)s:%(lineno)d]%(end_color)s %(message)s"  # noqa: E501
    DEFAULT_DATE_FORMAT = "%y%m%d %H:%M:%S"
    DEFAULT_COLORS = {
        logging.DEBUG: 4,  # blue
        logging.INFO: 2,  # green
        logging.WARNING: 3,  # yellow
        logging.ERROR: 1,  # red
        logging.CRITICAL: 5,  # magenta
    }

    def __init__(
        self,
        fmt: str = DEFAULT_FORMAT,
        datefmt: str = DEFAULT_DATE_FORMAT,
        style: str = "%",
        color: bool = True,
        colors: Dict[int, int] = DEFAULT_COLORS,
    ) -> None:
        logging.Formatter.__init__(self, datefmt=datefmt)
        self._fmt = fmt
        self._colors: Dict[int, str] = {}
        self._normal = ""
        if color and _stderr_supports_color():
            self._colors, self._normal = self._terminal_codes(colors)

    @staticmethod
    def _terminal_codes(colors: Dict[int, int]) -> "tuple[Dict[int, str], str]":
        if curses is not None:
            setaf = curses.tigetstr("setaf") or curses.tigetstr("setf") or b""
            codes = {
                level: str(curses.tparm(setaf, number), "ascii")
                for level, number in colors.items()
            }
            return codes, str(curses.tigetstr("sgr0"), "ascii")
        codes = {level: "\033[2;3%dm" % number for level, number in colors.items()}
        return codes, "\033[0m"

    def format(self, record: Any) -> str:
        try:
            text = record.getMessage()
            assert isinstance(text, basestring_type)
            record.message = _safe_unicode(text)
        except Exception as e:
            record.message = "Bad message (%r): %r" % (e, record.__dict__)

        record.asctime = self.formatTime(record, cast(str, self.datefmt))
        color = self._colors.get(record.levelno)
        if color is None:
            record.color = record.end_color = ""
        else:
            record.color = color
            record.end_color = self._normal

        result = self._fmt % record.__dict__

        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            tail = [_safe_unicode(line) for line in record.exc_text.split("\n")]
            result = "\n".join([result.rstrip()] + tail)
        # Indent continuation lines so every record starts in column 0.
        return result.replace("\n", "\n    ")


def enable_pretty_logging(
    options: Any = None, logger: Optional[logging.Logger] = None
) -> None:
    """Configure logging (the root logger by default) from ``options``.

    Uses the global `tornado_c.options.options` when ``options`` is None.
    Does nothing if ``options.logging`` is None or ``"none"``; otherwise
    sets the level, adds a rotating file handler when ``log_file_prefix`` is
    set and a colored stderr handler when ``log_to_stderr`` asks for one (or,
    when it is unset, when the logger has no handlers yet).
    """
    if options is None:
        import tornado_c.options

        options = tornado_c.options.options
    level_name = options.logging
    if level_name is None or level_name.lower() == "none":
        return
    if logger is None:
        logger = logging.getLogger()
    logger.setLevel(getattr(logging, level_name.upper()))

    if options.log_file_prefix:
        logger.addHandler(_file_handler(options))

    to_stderr = options.log_to_stderr
    if to_stderr or (to_stderr is None and not logger.handlers):
        stream_handler = logging.StreamHandler()
        stream_handler.setFormatter(LogFormatter())
        logger.addHandler(stream_handler)


# The logging options: (name, type, default, metavar, help).  The help texts
# are user-visible ``--help`` output and match Tornado's word for word.
_LOGGING_OPTIONS = (
    ("logging", None, "info", "debug|info|warning|error|none",
     "Set the Python log level. If 'none', tornado won't touch the logging "
     "configuration."),
    ("log_to_stderr", bool, None, None,
     "Send log output to stderr (colorized if possible). By default use stderr "
     "if --log_file_prefix is not set and no other logging is configured."),
    ("log_file_prefix", str, None, "PATH",
     "Path prefix for log files. Note that if you are running multiple tornado "
     "processes, log_file_prefix must be different for each of them (e.g. "
     "include the port number)"),
    ("log_file_max_size", int, 100 * 1000 * 1000, None,
     "max size of log files before rollover"),
    ("log_file_num_backups", int, 10, None, "number of log files to keep"),
    ("log_rotate_when", str, "midnight", None,
     "specify the type of TimedRotatingFileHandler interval other "
     "options:('S', 'M', 'H', 'D', 'W0'-'W6')"),
    ("log_rotate_interval", int, 1, None, "The interval value of timed rotating"),
    ("log_rotate_mode", str, "size", None, "The mode of rotating files(time or size)"),
)


def _file_handler(options: Any) -> logging.Handler:
    """The rotating file handler ``--log_file_prefix`` asks for: by size
    or by time, as ``--log_rotate_mode`` says."""
    rotation = options.log_rotate_mode
    common = dict(backupCount=options.log_file_num_backups, encoding="utf-8")
    handler: logging.Handler
    if rotation == "time":
        handler = logging.handlers.TimedRotatingFileHandler(
            options.log_file_prefix, when=options.log_rotate_when,
            interval=options.log_rotate_interval, **common)
    elif rotation == "size":
        handler = logging.handlers.RotatingFileHandler(
            options.log_file_prefix, mode="a", maxBytes=options.log_file_max_size,
            **common)
    else:
        raise ValueError(
            'The value of log_rotate_mode option should be "size" or "time", '
            'not "%s".' % rotation
        )
    handler.setFormatter(LogFormatter(color=False))
    return handler


def define_logging_options(options: Any = None) -> None:
    """Define the logging command-line options (``--logging``,
    ``--log_file_prefix`` and friends) on ``options`` — the global
    `tornado_c.options.options` unless given — and arrange for
    `enable_pretty_logging` to apply them once the options are parsed.
    """
    if options is None:
        from tornado_c import options as options_module

        options = options_module.options
    for name, kind, default, metavar, text in _LOGGING_OPTIONS:
        extra: Dict[str, Any] = {}
        if kind is not None:
            extra["type"] = kind
        if metavar is not None:
            extra["metavar"] = metavar
        options.define(name, default=default, help=text, **extra)

    def _apply() -> None:
        enable_pretty_logging(options)

    options.add_parse_callback(_apply)
