"""Future helpers (the ``tornado.concurrent`` API).

``Future`` here is simply `asyncio.Future`.  Functions in this module and in
`tornado_c.gen` also take `concurrent.futures.Future` objects (as produced by
thread pools), and paper over the differences between the two kinds:
cancellation-aware setters, callbacks that fire at once on finished futures,
and copying an outcome from one kind of future to the other.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import types
import typing
from concurrent import futures
from typing import Any, Callable, Optional, Tuple, Union

from tornado_c.log import app_log

_T = typing.TypeVar("_T")


class ReturnValueIgnoredError(Exception):
    # Kept only so old imports keep working; nothing raises it any more.
    pass


Future = asyncio.Future

FUTURES = (futures.Future, Future)


def is_future(x: Any) -> bool:
    """True when ``x`` is an asyncio or a `concurrent.futures` future."""
    return isinstance(x, FUTURES)


class DummyExecutor(futures.Executor):
    """Executor without workers: ``submit`` calls the function on the spot
    and hands back a future that is already resolved."""

    def submit(  # type: ignore[override]
        self, fn: Callable[..., _T], *args: Any, **kwargs: Any
    ) -> "futures.Future[_T]":
        done: "futures.Future[_T]" = futures.Future()
        try:
            outcome = fn(*args, **kwargs)
        except Exception:
            future_set_exc_info(done, sys.exc_info())
        else:
            future_set_result_unless_cancelled(done, outcome)
        return done

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


dummy_executor = DummyExecutor()


def _executor_method(fn: Callable, attr: str) -> Callable[..., Future]:
    # Wrap ``fn`` so that calls are submitted to ``getattr(self, attr)`` and
    # the caller receives an asyncio future tracking the pool's future.
    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Future:
        pool = getattr(self, attr)
        outer: Future = Future()
        chain_future(pool.submit(fn, self, *args, **kwargs), outer)
        return outer

    return wrapper


def run_on_executor(*args: Any, **kwargs: Any) -> Callable:
    """Decorator for methods that should run on an executor.

    Calling the decorated method submits it to ``self.executor`` (or to the
    attribute named by ``executor=``, as in ``@run_on_executor(executor="_pool")``)
    and returns an awaitable `.Future` resolved on the current `.IOLoop`.

    In new code, prefer calling ``IOLoop.run_in_executor`` where the work is
    started.

    .. versionchanged:: 5.1
       The result is an awaitable `.Future`, no longer a
       `concurrent.futures.Future`.

    .. versionchanged:: 6.0
       The ``callback`` argument is gone.
    """
    if args:
        if kwargs:
            raise ValueError("cannot combine positional and keyword args")
        if len(args) > 1:
            # (sic) the count goes in as a second argument, as in Tornado.
            raise ValueError("expected 1 argument, got %d", len(args))
        return _executor_method(args[0], "executor")
    attr = kwargs.get("executor", "executor")
    return lambda fn: _executor_method(fn, attr)


_NO_RESULT = object()


def _copy_outcome(src: Any, dst: Any) -> None:
    # Transfer the (finished) outcome of ``src`` onto ``dst`` if it is still open.
    if dst.done():
        return
    legacy = getattr(src, "exc_info", None)
    info = legacy() if legacy is not None else None
    if info is not None:
        future_set_exc_info(dst, info)
        return
    err = src.exception()
    if err is None:
        dst.set_result(src.result())
    else:
        dst.set_exception(err)


def chain_future(
    a: Union["Future[_T]", "futures.Future[_T]"],
    b: Union["Future[_T]", "futures.Future[_T]"],
) -> None:
    """Propagate the outcome of ``a`` to ``b`` once ``a`` finishes.

    If ``b`` has been resolved or cancelled in the meantime it is left
    alone.  Both arguments may be of either future kind.
    """
    relay = functools.partial(_copy_outcome, dst=b)
    if not isinstance(a, Future):
        # Thread-pool futures complete on foreign threads; route the copy
        # through the IOLoop so it happens on the loop's thread.
        from tornado_c.ioloop import IOLoop

        IOLoop.current().add_future(a, relay)
        return
    future_add_done_callback(a, relay)


def future_set_result_unless_cancelled(
    future: "Union[futures.Future[_T], Future[_T]]", value: _T
) -> None:
    """Resolve ``future`` with ``value``; a cancelled future is left as is.

    (Plain ``set_result`` on a cancelled `asyncio.Future` raises
    ``asyncio.InvalidStateError``.)

    .. versionadded:: 5.0
    """
    if future.cancelled():
        return
    future.set_result(value)


def future_set_exception_unless_cancelled(
    future: "Union[futures.Future[_T], Future[_T]]", exc: BaseException
) -> None:
    """Fail ``future`` with ``exc``; if it was cancelled, log ``exc`` instead.

    The log record goes to ``tornado.application``.  Callers that do not want
    it should test ``future.cancelled()`` first.

    .. versionadded:: 6.0
    """
    if future.cancelled():
        app_log.error("Exception after Future was cancelled", exc_info=exc)
        return
    future.set_exception(exc)


def future_set_exc_info(
    future: "Union[futures.Future[_T], Future[_T]]",
    exc_info: Tuple[
        Optional[type], Optional[BaseException], Optional[types.TracebackType]
    ],
) -> None:
    """Fail ``future`` with the exception held in an ``exc_info`` triple.

    Cancelled futures are treated as in `future_set_exception_unless_cancelled`.

    .. versionadded:: 5.0
    """
    _, value, _ = exc_info
    if value is None:
        raise Exception("future_set_exc_info called with no exception")
    future_set_exception_unless_cancelled(future, value)


@typing.overload
def future_add_done_callback(
    future: "futures.Future[_T]", callback: Callable[["futures.Future[_T]"], None]
) -> None:
    pass


@typing.overload  # noqa: F811
def future_add_done_callback(
    future: "Future[_T]", callback: Callable[["Future[_T]"], None]
) -> None:
    pass


def future_add_done_callback(  # noqa: F811
    future: "Union[futures.Future[_T], Future[_T]]", callback: Callable[..., None]
) -> None:
    """Arrange for ``callback(future)`` to run when ``future`` completes.

    Differs from ``Future.add_done_callback`` in that an already finished
    future has ``callback`` invoked synchronously, before returning.

    .. versionadded:: 5.0
    """
    if not future.done():
        future.add_done_callback(callback)
        return
    callback(future)
