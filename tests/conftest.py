"""Shared fixtures.

Differential tests take the ``impl`` fixture and run once against pure-Python
Tornado (the reference, installed from PyPI) and once against tornado_c.
Loop tests take ``loop_kind`` and run on asyncio's default loop and on the
native loop.  No test in this process installs the ``tornado`` alias: tests of
the alias run in a subprocess, so ``import tornado`` here is always the
reference.
"""

from __future__ import annotations

import asyncio
import importlib
import types
from typing import Any, Callable, Iterator

import pytest


class Impl:
    """One implementation of Tornado's API: ``impl.mod("gen")`` imports its
    ``gen`` module; ``impl.name`` is ``"tornado"`` or ``"tornado_c"``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def mod(self, module: str) -> types.ModuleType:
        return importlib.import_module(f"{self.name}.{module}")

    def __getattr__(self, module: str) -> types.ModuleType:
        if module.startswith("_"):
            raise AttributeError(module)
        return self.mod(module)

    def __repr__(self) -> str:
        return self.name


@pytest.fixture(params=["tornado", "tornado_c"])
def impl(request: pytest.FixtureRequest) -> Impl:
    return Impl(request.param)


def _native_loop_factory() -> asyncio.AbstractEventLoop:
    import tornado_c

    return tornado_c.new_event_loop()


LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "native": _native_loop_factory,
}


@pytest.fixture(params=["asyncio", "native"])
def loop_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def loop_factory(loop_kind: str) -> Callable[[], asyncio.AbstractEventLoop]:
    return LOOP_FACTORIES[loop_kind]


@pytest.fixture
def loop(loop_factory: Callable[[], asyncio.AbstractEventLoop]) -> Iterator[Any]:
    """A fresh event loop of each kind, set as current and closed afterwards."""
    lp = loop_factory()
    asyncio.set_event_loop(lp)
    try:
        yield lp
    finally:
        if not lp.is_closed():
            lp.run_until_complete(lp.shutdown_asyncgens())
            lp.close()
        asyncio.set_event_loop(None)


def _native_counters() -> Any:
    try:
        from tornado_c import _core
    except ImportError:
        return None
    if not _core.versions().get("debug_build"):
        return None
    return _core


@pytest.fixture(autouse=True)
def _uv_handles_balance() -> Iterator[None]:
    """In a debug build (TORNADO_C_DEBUG=1, as `make asan` builds), every test
    must leave as many libuv loops and handles open as it found."""
    core = _native_counters()
    if core is None:
        yield
        return
    import gc

    gc.collect()
    before = core._debug_counters()
    yield
    gc.collect()
    after = core._debug_counters()
    assert after == before, f"libuv loops/handles leaked by this test: {before} -> {after}"
