"""The drop-in alias: ``import tornado.X`` yields ``tornado_c.X``.

A meta path finder answers for ``tornado`` and ``tornado.<module>``.  It never
creates a second copy of a module: the alias name and the real name share one
module object in ``sys.modules``, so ``tornado.web.RequestHandler is
tornado_c.web.RequestHandler``.

For the conformance runner only, ``TORNADO_C_REFERENCE_DIR`` names a directory
holding a pure-Python Tornado install; ``tornado.test`` (Tornado's own test
package) is then imported from there while every other ``tornado.*`` name still
resolves to tornado_c.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType
from typing import Any, Optional, Sequence

_ALIAS = "tornado"
_TARGET = "tornado_c"


class _AliasLoader(importlib.abc.Loader):
    """Loads an alias by importing the real tornado_c module it names.

    It also answers the code-loading questions ``runpy`` asks (``python -m
    tornado.autoreload``) by passing them to the real module's loader.
    """

    def __init__(self, real_name: str, real_loader: Optional[importlib.abc.Loader]) -> None:
        self.real_name = real_name
        self.real_loader = real_loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.real_name)
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The real module was executed by its own import; nothing to do.
        return None

    def _real(self, attr: str) -> Any:
        method = getattr(self.real_loader, attr, None)
        if method is None:
            raise ImportError(f"the loader of {self.real_name} has no {attr}()")
        return method

    def get_code(self, fullname: str) -> Any:
        return self._real("get_code")(self.real_name)

    def get_source(self, fullname: str) -> Optional[str]:
        return self._real("get_source")(self.real_name)

    def is_package(self, fullname: str) -> bool:
        return bool(self._real("is_package")(self.real_name))

    def get_filename(self, fullname: str) -> str:
        return self._real("get_filename")(self.real_name)


class AliasFinder(importlib.abc.MetaPathFinder):
    """Maps ``tornado[.x]`` onto ``tornado_c[.x]`` (see the module docstring)."""

    def __init__(self, reference_dir: Optional[str] = None) -> None:
        self.reference_dir = reference_dir

    def find_spec(
        self,
        fullname: str,
        path: Optional[Sequence[str]] = None,
        target: Optional[ModuleType] = None,
    ) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname != _ALIAS and not fullname.startswith(_ALIAS + "."):
            return None
        if self.reference_dir is not None and (
            fullname == _ALIAS + ".test" or fullname.startswith(_ALIAS + ".test.")
        ):
            if fullname == _ALIAS + ".test":
                search = [os.path.join(self.reference_dir, _ALIAS)]
            else:
                search = list(path) if path else []
            return importlib.machinery.PathFinder.find_spec(fullname, search)
        real_name = _TARGET + fullname[len(_ALIAS):]
        try:
            real_spec = importlib.util.find_spec(real_name)
        except ModuleNotFoundError:
            return None
        if real_spec is None:
            return None
        spec = importlib.machinery.ModuleSpec(
            fullname,
            _AliasLoader(real_name, real_spec.loader),
            origin=real_spec.origin,
            is_package=real_spec.submodule_search_locations is not None,
        )
        spec.has_location = real_spec.has_location
        if real_spec.submodule_search_locations is not None:
            spec.submodule_search_locations = list(real_spec.submodule_search_locations)
        return spec


def install_alias(reference_dir: Optional[str] = None) -> None:
    """Put the alias finder first on ``sys.meta_path`` (idempotent)."""
    for finder in sys.meta_path:
        if isinstance(finder, AliasFinder):
            if reference_dir is not None:
                finder.reference_dir = reference_dir
            return
    sys.meta_path.insert(0, AliasFinder(reference_dir))
    # Modules of tornado_c that are already imported get their alias names now,
    # so ``tornado.ioloop`` and ``tornado_c.ioloop`` are one object from here on.
    for name, module in list(sys.modules.items()):
        if module is None:
            continue
        if name == _TARGET or name.startswith(_TARGET + "."):
            sys.modules.setdefault(_ALIAS + name[len(_TARGET):], module)


def alias_installed() -> bool:
    return any(isinstance(f, AliasFinder) for f in sys.meta_path)
