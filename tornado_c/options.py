"""Command-line and config-file options that any module can define.

The counterpart of ``tornado.options``.  Modules declare the options they
use with `define` at import time; the application's entry point then calls
`parse_command_line` and/or `parse_config_file`, after which every option is
available as an attribute of the global `options` object::

    from tornado_c.options import define, options, parse_command_line

    define("port", default=8888, help="port to listen on")
    define("debug", default=False, type=bool)

    parse_command_line()
    app.listen(options.port)

Names are normalised so ``--my-flag`` and ``--my_flag`` (and
``options.my_flag``) name the same option.  ``--help`` prints every option,
grouped by the file that defined it.  The logging options of
`tornado_c.log.define_logging_options` are defined on the global instance,
and pretty logging is enabled once parsing finishes (unless
``--logging=none``).

`OptionParser` instances other than the global one are independent sets of
options, useful in tests and libraries.
"""

from __future__ import annotations

import datetime
import numbers
import os
import re
import sys
import textwrap
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Set,
    TextIO,
    Tuple,
)

from tornado_c.escape import _unicode, native_str
from tornado_c.log import define_logging_options

basestring_type = str



class Error(Exception):
    """Exception raised by errors in the options module."""

    pass


def _caller_file() -> str:
    """The file that called `OptionParser.define` (through the module-level
    `define` if that was used); "" when it is this module itself."""
    this_file = _caller_file.__code__.co_filename
    frame = sys._getframe(2)  # _caller_file <- OptionParser.define <- caller
    code = frame.f_code
    if code.co_filename == this_file and code.co_name == "define" and frame.f_back:
        frame = frame.f_back
    file_name = frame.f_code.co_filename
    return "" if file_name == this_file else file_name


def exec_in(
    code: Any, glob: Dict[str, Any], loc: Optional[Mapping[str, Any]] = None
) -> None:
    """Execute ``code`` (source text or a code object) in the given namespaces."""
    if isinstance(code, str):
        code = compile(code, "<string>", "exec", dont_inherit=True)
    exec(code, glob, loc)


class OptionParser:
    """A set of options: a dictionary with attribute-style access.

    Normally used through the module-level functions and the global
    `options` instance, which delegate to one `OptionParser`.
    """

    def __init__(self) -> None:
        # Attribute assignment on a parser sets option values, so the
        # parser's own state goes in through object.__setattr__.
        object.__setattr__(self, "_options", {})
        object.__setattr__(self, "_parse_callbacks", [])
        self.define("help", type=bool, callback=self._help_callback,
                    help="show this help information")

    def _normalize_name(self, name: str) -> str:
        return name.replace("_", "-")

    def _find(self, name: str) -> Optional["_Option"]:
        option = self._options.get(self._normalize_name(name))
        return option if isinstance(option, _Option) else None

    def __getattr__(self, name: str) -> Any:
        option = self._find(name)
        if option is None:
            raise AttributeError("Unrecognized option %r" % self._normalize_name(name))
        return option.value()

    def __setattr__(self, name: str, value: Any) -> None:
        option = self._find(name)
        if option is None:
            raise AttributeError("Unrecognized option %r" % self._normalize_name(name))
        option.set(value)

    def __iter__(self) -> Iterator:
        return (option.name for option in self._options.values())

    def __contains__(self, name: str) -> bool:
        return self._normalize_name(name) in self._options

    def __getitem__(self, name: str) -> Any:
        return self.__getattr__(name)

    def __setitem__(self, name: str, value: Any) -> None:
        return self.__setattr__(name, value)

    def items(self) -> Iterable[Tuple[str, Any]]:
        """``(name, value)`` pairs for every option.

        .. versionadded:: 3.1
        """
        return [(option.name, option.value()) for option in self._options.values()]

    def groups(self) -> Set[str]:
        """The set of option groups (by default, the defining files' names).

        .. versionadded:: 3.1
        """
        return {option.group_name for option in self._options.values()}

    def group_dict(self, group: str) -> Dict[str, Any]:
        """Names and values of the options in ``group`` (all options when
        ``group`` is empty).

        Handy for passing a group of options as keyword arguments, e.g.
        ``Application(handlers, **options.group_dict("application"))``.

        .. versionadded:: 3.1
        """
        return {
            option.name: option.value()
            for option in self._options.values()
            if not group or option.group_name == group
        }

    def as_dict(self) -> Dict[str, Any]:
        """All option names and values as a dictionary.

        .. versionadded:: 3.1
        """
        return {option.name: option.value() for option in self._options.values()}

    def define(
        self,
        name: str,
        default: Any = None,
        type: Optional[type] = None,
        help: Optional[str] = None,
        metavar: Optional[str] = None,
        multiple: bool = False,
        group: Optional[str] = None,
        callback: Optional[Callable[[Any], None]] = None,
    ) -> None:
        """Define a new option.

        ``type`` (any callable turning a string into a value; `str`, `int`,
        `float`, `bool`, `datetime.datetime` and `datetime.timedelta` get
        dedicated parsers) defaults to the type of ``default``, or `str`.
        With ``multiple`` the value is a list parsed from a comma-separated
        argument (integers also accept ``lo:hi`` ranges).  ``help`` and
        ``metavar`` appear in `print_help`; ``group`` sets the help section
        (the defining file by default).  ``callback`` is called with the new
        value whenever the option is set or parsed.

        Defining a name twice raises `Error`.  Command-line names are
        normalised, so ``foo_bar`` and ``foo-bar`` are the same option.
        """
        key = self._normalize_name(name)
        existing = self._options.get(key)
        if existing is not None:
            raise Error("Option %r already defined in %s" % (key, existing.file_name))
        where = _caller_file()
        if type is None:
            # Inferred from a single default; str for lists and no default.
            inferred = multiple or default is None
            type = str if inferred else default.__class__
        self._options[key] = _Option(
            name, default, type, help, metavar, multiple,
            file_name=where, group_name=group or where, callback=callback,
        )

    def parse_command_line(
        self, args: Optional[List[str]] = None, final: bool = True
    ) -> List[str]:
        """Parse ``--name=value`` arguments (``sys.argv`` by default).

        ``args[0]`` is the program name and is skipped.  Parsing stops at
        the first argument that does not start with ``-``, or after ``--``;
        the remaining arguments are returned.  A `bool` option given without
        a value is set to True.

        When ``final`` is true (the default) the parse callbacks run
        afterwards; pass ``final=False`` when another parse step follows.
        """
        if args is None:
            args = sys.argv
        rest: List[str] = []
        position = 1
        while position < len(args):
            arg = args[position]
            if not arg.startswith("-"):
                rest = args[position:]
                break
            if arg == "--":
                rest = args[position + 1 :]
                break
            name, has_value, value = arg.lstrip("-").partition("=")
            name = self._normalize_name(name)
            option = self._options.get(name)
            if option is None:
                self.print_help()
                raise Error("Unrecognized command line option: %r" % name)
            if not has_value:
                if option.type != bool:
                    raise Error("Option %r requires a value" % name)
                value = "true"
            option.parse(value)
            position += 1
        if final:
            self.run_parse_callbacks()
        return rest

    def parse_config_file(self, path: str, final: bool = True) -> None:
        """Set options from a Python file.

        The file is executed and each global whose (normalised) name is a
        defined option sets it; other globals are ignored.  Values may be of
        the option's type (a list for ``multiple`` options) or strings,
        which are parsed as on the command line.  ``__file__`` is set to the
        config file's absolute path while it runs.

        When ``final`` is true (the default) the parse callbacks run
        afterwards.
        """
        namespace: Dict[str, Any] = {"__file__": os.path.abspath(path)}
        with open(path, "rb") as f:
            source = f.read()
        exec_in(native_str(source), namespace, namespace)
        for key, value in namespace.items():
            option = self._options.get(self._normalize_name(key))
            if option is None:
                continue
            if option.multiple and not isinstance(value, (list, str)):
                raise Error(
                    "Option %r is required to be a list of %s "
                    "or a comma-separated string" % (option.name, option.type.__name__)
                )
            if type(value) is str and (option.multiple or option.type is not str):
                option.parse(value)
            else:
                option.set(value)
        if final:
            self.run_parse_callbacks()

    def print_help(self, file: Optional[TextIO] = None) -> None:
        """Print every option and its help text (to stderr by default)."""
        out = sys.stderr if file is None else file
        print("Usage: %s [OPTIONS]" % sys.argv[0], file=out)
        print("\nOptions:\n", file=out)
        groups: Dict[str, List[_Option]] = {}
        for option in self._options.values():
            groups.setdefault(option.group_name, []).append(option)
        for group_name in sorted(groups):
            if group_name:
                print("\n%s options:\n" % os.path.normpath(group_name), file=out)
            for option in sorted(groups[group_name], key=lambda o: o.name):
                self._print_option(option, out)
        print(file=out)

    def _print_option(self, option: "_Option", out: TextIO) -> None:
        # Names are shown with dashes, however they were defined.
        label = self._normalize_name(option.name)
        if option.metavar:
            label += "=" + option.metavar
        text = option.help or ""
        if option.default is not None and option.default != "":
            text += " (default %s)" % option.default
        lines = textwrap.wrap(text, 44)
        if not lines or len(label) > 30:
            lines.insert(0, "")
        print("  --%-30s %s" % (label, lines[0]), file=out)
        for line in lines[1:]:
            print("%-34s %s" % (" ", line), file=out)

    def _help_callback(self, value: bool) -> None:
        if value:
            self.print_help()
            sys.exit(0)

    def add_parse_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (with no arguments) when parsing finishes."""
        self._parse_callbacks.append(callback)

    def run_parse_callbacks(self) -> None:
        for callback in self._parse_callbacks:
            callback()

    def mockable(self) -> "_Mockable":
        """A wrapper for use with `mock.patch.object`.

        ``mock.patch`` replaces attributes with ``setattr``/``delattr``,
        which `OptionParser` does not support directly; patch the wrapper::

            with mock.patch.object(options.mockable(), "name", value):
                assert options.name == value
        """
        return _Mockable(self)


class _Mockable:
    """`mock.patch` compatible wrapper for `OptionParser`.

    Deleting an attribute restores the value it had before it was set
    through the wrapper.  Use a fresh wrapper for each patch.
    """

    def __init__(self, options: OptionParser) -> None:
        object.__setattr__(self, "_options", options)
        object.__setattr__(self, "_originals", {})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._options, name)

    def __setattr__(self, name: str, value: Any) -> None:
        saved = self._originals
        assert name not in saved, "don't reuse mockable objects"
        saved[name] = getattr(self._options, name)
        setattr(self._options, name, value)

    def __delattr__(self, name: str) -> None:
        # mock.patch undoes a patch by deleting the attribute.
        original = self._originals.pop(name)
        setattr(self._options, name, original)


class _Option:
    # Marks an option never set or parsed (its value is then the default).
    UNSET = object()

    def __init__(
        self,
        name: str,
        default: Any = None,
        type: Optional[type] = None,
        help: Optional[str] = None,
        metavar: Optional[str] = None,
        multiple: bool = False,
        file_name: Optional[str] = None,
        group_name: Optional[str] = None,
        callback: Optional[Callable[[Any], None]] = None,
    ) -> None:
        if type is None:
            raise ValueError("type must not be None")
        self.name = name
        self.type = type
        self.help = help
        self.metavar = metavar
        self.multiple = multiple
        self.file_name = file_name
        self.group_name = group_name
        self.callback = callback
        self.default = [] if (multiple and default is None) else default
        self._value: Any = _Option.UNSET

    def value(self) -> Any:
        current = self._value
        return self.default if current is _Option.UNSET else current

    def _parser(self) -> Callable[[str], Any]:
        # Types with their own command-line syntax; any other type is
        # called on the text.
        if self.type is datetime.datetime:
            return self._parse_datetime
        if self.type is datetime.timedelta:
            return self._parse_timedelta
        if self.type is bool:
            return self._parse_bool
        if self.type is basestring_type:
            return self._parse_string
        return self.type

    def parse(self, value: str) -> Any:
        convert = self._parser()
        if not self.multiple:
            self._value = convert(value)
        else:
            items: List[Any] = []
            self._value = items
            integral = issubclass(self.type, numbers.Integral)
            for piece in value.split(","):
                if integral:
                    # "lo:hi" is an inclusive range of integers.
                    low_text, _, high_text = piece.partition(":")
                    low = convert(low_text)
                    high = convert(high_text) if high_text else low
                    items.extend(range(low, high + 1))
                else:
                    items.append(convert(piece))
        if self.callback is not None:
            self.callback(self._value)
        return self.value()

    def set(self, value: Any) -> None:
        type_name = self.type.__name__
        if self.multiple:
            if not isinstance(value, list) or any(
                item is not None and not isinstance(item, self.type) for item in value
            ):
                raise Error(
                    "Option %r is required to be a list of %s" % (self.name, type_name)
                )
        elif value is not None and not isinstance(value, self.type):
            raise Error(
                "Option %r is required to be a %s (%s given)"
                % (self.name, type_name, type(value))
            )
        self._value = value
        if self.callback is not None:
            self.callback(self._value)

    # Formats accepted for datetime options, tried in this order: the
    # ctime() form, then dates with times (dashed and compact), dates
    # alone, times alone.
    _DATETIME_FORMATS = (
        ["%a %b %d %H:%M:%S %Y"]
        + ["%Y-%m-%d " + clock for clock in ("%H:%M:%S", "%H:%M")]
        + ["%Y-%m-%dT%H:%M"]
        + ["%Y%m%d " + clock for clock in ("%H:%M:%S", "%H:%M")]
        + ["%Y-%m-%d", "%Y%m%d", "%H:%M:%S", "%H:%M"]
    )

    def _parse_datetime(self, value: str) -> datetime.datetime:
        for layout in self._DATETIME_FORMATS:
            try:
                parsed = datetime.datetime.strptime(value, layout)
            except ValueError:
                parsed = None
            if parsed is not None:
                return parsed
        raise Error("Unrecognized date/time format: %r" % value)

    # Unit abbreviations for timedelta options; full names (any keyword of
    # datetime.timedelta) are accepted too.
    _TIMEDELTA_ABBREV_DICT = dict(
        h="hours", m="minutes", min="minutes", s="seconds", sec="seconds",
        ms="milliseconds", us="microseconds", d="days", w="weeks",
    )

    _FLOAT_PATTERN = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"

    # One "<number> <unit>" term; a value is a sequence of them.
    _TIMEDELTA_PATTERN = re.compile(
        r"\s*(" + _FLOAT_PATTERN + r")\s*(\w*)\s*", re.IGNORECASE
    )

    def _parse_timedelta(self, value: str) -> datetime.timedelta:
        total = datetime.timedelta()
        pos = 0
        while pos < len(value):
            term = self._TIMEDELTA_PATTERN.match(value, pos)
            if term is None:
                raise Exception()
            unit = term.group(2) or "seconds"
            unit = self._TIMEDELTA_ABBREV_DICT.get(unit, unit)
            total += datetime.timedelta(**{unit: float(term.group(1))})
            pos = term.end()
        return total

    def _parse_bool(self, value: str) -> bool:
        return value.lower() not in ("false", "0", "f")

    def _parse_string(self, value: str) -> str:
        return _unicode(value)  # type: ignore[return-value]


options = OptionParser()
"""Global options object.

All defined options are available as attributes on this object.
"""


def define(
    name: str,
    default: Any = None,
    type: Optional[type] = None,
    help: Optional[str] = None,
    metavar: Optional[str] = None,
    multiple: bool = False,
    group: Optional[str] = None,
    callback: Optional[Callable[[Any], None]] = None,
) -> None:
    """Define an option in the global namespace.

    See `OptionParser.define`.
    """
    return options.define(name, default, type, help, metavar, multiple, group, callback)


def parse_command_line(args: Optional[List[str]] = None, final: bool = True) -> List[str]:
    """Parse global options from the command line.

    See `OptionParser.parse_command_line`.
    """
    return options.parse_command_line(args, final=final)


def parse_config_file(path: str, final: bool = True) -> None:
    """Parse global options from a config file.

    See `OptionParser.parse_config_file`.
    """
    return options.parse_config_file(path, final=final)


def print_help(file: Optional[TextIO] = None) -> None:
    """Print all the command line options to stderr (or another file).

    See `OptionParser.print_help`.
    """
    return options.print_help(file)


def add_parse_callback(callback: Callable[[], None]) -> None:
    """Add a parse callback, to be invoked when option parsing is done.

    See `OptionParser.add_parse_callback`.
    """
    options.add_parse_callback(callback)


# The logging options are available on the global instance by default.
define_logging_options(options)
