"""The public surface of every tornado_c module against Tornado's.

For each module Tornado ships (but its tests), every public name the module
defines itself is there in tornado_c too; classes have the same bases in the
same order and the same public attributes, inherited ones included; callables
take the same parameters (names, kinds and defaults; annotations are not
compared, since tornado_c's are strings); plain constants have the same
values.  Per-module tests check behaviour; this one keeps a renamed
parameter or a missing class attribute from slipping through between them.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from typing import Any, Iterator, List, Tuple

import pytest

import tornado

_MODULES = sorted(
    m.name for m in pkgutil.iter_modules(tornado.__path__)
    if not m.name.startswith("_") and m.name != "test"
)
_CONSTANTS = (int, str, bytes, float, bool, tuple, frozenset, list, dict, set, type(None))
# A difference docs/compatibility.md lists: LOCALE_NAMES' display names
# (generated from CLDR; its codes are Tornado's, checked in test_locale.py).
_DOCUMENTED = {("locale", "LOCALE_NAMES")}


def _pair(name: str) -> Tuple[Any, Any]:
    try:
        theirs = importlib.import_module("tornado." + name)
    except ImportError as e:  # an optional dependency Tornado's module needs
        pytest.skip(f"tornado.{name} does not import here: {e}")
    return theirs, importlib.import_module("tornado_c." + name)


def _own_names(module: Any) -> Iterator[Tuple[str, Any]]:
    # Public names the module defines (not ones it imports), and constants.
    for name in dir(module):
        if name.startswith("_"):
            continue
        value = getattr(module, name)
        if inspect.ismodule(value):
            continue
        if getattr(value, "__module__", None) == module.__name__ or isinstance(value, _CONSTANTS):
            yield name, value


def _default(value: Any) -> str:
    # Sentinel objects print their address and module; compare their kind.
    text = re.sub(r" at 0x[0-9a-f]+", "", repr(value))
    return text.replace("tornado_c.", "tornado.")


def _signature(fn: Any) -> Any:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without one
        return None


def _same_call(theirs: Any, ours: Any) -> bool:
    a, b = _signature(theirs), _signature(ours)
    if a is None:
        return True  # nothing to compare with

    def shape(signature: Any) -> Any:
        return [(p.name, p.kind, None if p.default is p.empty else _default(p.default))
                for p in signature.parameters.values()]

    return b is not None and shape(a) == shape(b)


@pytest.mark.parametrize("module", _MODULES)
def test_module_surface(module: str) -> None:
    theirs, ours = _pair(module)
    problems: List[str] = []
    for name, value in _own_names(theirs):
        if not hasattr(ours, name):
            problems.append(f"{name}: missing")
            continue
        mine = getattr(ours, name)
        if isinstance(value, _CONSTANTS) and not callable(value):
            if value != mine and (module, name) not in _DOCUMENTED:
                problems.append(f"{name}: {value!r} != {mine!r}")
            continue
        if not inspect.isclass(value):
            if callable(value) and not _same_call(value, mine):
                problems.append(f"{name}{_signature(mine)}: Tornado has {_signature(value)}")
            continue
        bases = [c.__name__ for c in value.__mro__]
        if bases != [c.__name__ for c in mine.__mro__]:
            problems.append(f"{name}: bases {[c.__name__ for c in mine.__mro__]}, Tornado {bases}")
        for attr in dir(value):
            if attr.startswith("_") and attr != "__init__":
                continue
            if not hasattr(mine, attr):
                problems.append(f"{name}.{attr}: missing")
                continue
            theirs_attr, ours_attr = getattr(value, attr), getattr(mine, attr)
            if callable(theirs_attr) and not inspect.isclass(theirs_attr):
                if not _same_call(theirs_attr, ours_attr):
                    problems.append(f"{name}.{attr}{_signature(ours_attr)}: Tornado has "
                                    f"{_signature(theirs_attr)}")
            elif isinstance(theirs_attr, _CONSTANTS) and theirs_attr != ours_attr:
                problems.append(f"{name}.{attr}: {theirs_attr!r} != {ours_attr!r}")
    assert problems == []
