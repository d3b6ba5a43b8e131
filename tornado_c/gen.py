"""Coroutines written as generators, plus helpers for all coroutines (``tornado.gen``).

``async def`` is the way to write coroutines today.  This module still runs
generators decorated with ``@gen.coroutine``, and offers utilities that work
with native coroutines as well: `multi` to wait on a collection of
awaitables, `with_timeout`, `sleep`, `WaitIterator` to consume results as
they arrive, and `convert_yielded`.

Inside a ``@gen.coroutine`` generator, ``yield`` accepts a `.Future` or any
other awaitable, ``None`` or `moment` (give the IOLoop one turn), and lists
or dicts of such objects, which are awaited all together as with `multi`.
The coroutine's value is whatever the generator returns (``raise
gen.Return(value)`` is the legacy spelling)::

    @gen.coroutine
    def total_size(client, urls):
        responses = yield [client.fetch(u) for u in urls]
        return sum(len(r.body) for r in responses)
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import concurrent.futures
import contextvars
import datetime
import functools
import sys
import types
import typing
from collections.abc import Generator
from functools import singledispatch
from inspect import isawaitable
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    Union,
    overload,
)

from tornado_c.concurrent import (
    Future,
    chain_future,
    future_add_done_callback,
    future_set_exc_info,
    future_set_result_unless_cancelled,
    is_future,
)
from tornado_c.ioloop import IOLoop
from tornado_c.log import app_log
from tornado_c.util import TimeoutError

if typing.TYPE_CHECKING:
    from typing import Deque

_T = typing.TypeVar("_T")

# What a coroutine generator may hand to ``yield``.
_Yieldable = Union[
    None,
    Awaitable,
    List[Awaitable],
    Dict[Any, Awaitable],
    concurrent.futures.Future,
]


class KeyReuseError(Exception):
    pass


class UnknownKeyError(Exception):
    pass


class LeakedCallbackError(Exception):
    pass


class BadYieldError(Exception):
    pass


class ReturnValueIgnoredError(Exception):
    pass


_ABSENT = object()


def _value_from_stopiteration(e: Union[StopIteration, "Return"]) -> Any:
    # The coroutine's return value, carried by StopIteration or Return.
    found = getattr(e, "value", _ABSENT)
    if found is not _ABSENT:
        return found
    carried = getattr(e, "args", ())
    return carried[0] if carried else None


def _create_future() -> Future:
    fresh: Future = Future()
    if fresh._source_traceback is not None:  # type: ignore[attr-defined]
        _trim_source_traceback(fresh)
    return fresh


def _trim_source_traceback(future: Future) -> None:
    # asyncio debug mode records where a future was made; cut off the frames
    # that belong to this module so the record ends in user code.
    frames = future._source_traceback  # type: ignore[attr-defined]
    here = __file__
    while frames and frames[-1][0] == here:
        frames.pop()


def _fake_ctx_run(f: Callable[..., _T], *args: Any, **kw: Any) -> _T:
    return f(*args, **kw)


_GeneratorType = types.GeneratorType
_copy_context = contextvars.copy_context


def _resolved(value: Any) -> Future:
    # (A future this fresh cannot have been cancelled.)
    done = _create_future()
    done.set_result(value)
    return done


def _failed(error: BaseException) -> Future:
    # Built outside the frame that caught ``error``, so the stored traceback
    # cannot lead back to the future (no reference cycle).
    done = _create_future()
    future_set_exc_info(done, (type(error), error, error.__traceback__))
    return done


def _launch(ctx_run: Callable, gen: Generator) -> Future:
    # Take the generator's first step right here: one that finishes without
    # ever suspending needs no Runner.
    try:
        first = ctx_run(next, gen)
    except (Return, StopIteration) as stop:
        return _resolved(_value_from_stopiteration(stop))
    except Exception as error:
        return _failed(error)
    # From here on user code runs below this frame, and a traceback made
    # there can reach this frame (via f_back).  So nothing that may end up
    # holding such a traceback (the yielded object, the result future) is
    # left in a local when this frame finishes: the future travels in a
    # list that is emptied on the way out.
    slot = [_create_future()]
    runner = Runner(ctx_run, gen, slot[0], first)
    first = None
    if not runner.finished:
        # While suspended, the generator and its Runner are owned by the
        # result future (through a no-op done callback), i.e. kept alive
        # exactly as long as someone holds that future.  Runner._finish
        # removes the callback.
        slot[0].add_done_callback(runner._keep_alive)
    runner = None  # type: ignore[assignment]
    return slot.pop()


@overload
def coroutine(
    func: Callable[..., "Generator[Any, Any, _T]"],
) -> Callable[..., "Future[_T]"]: ...


@overload
def coroutine(func: Callable[..., _T]) -> Callable[..., "Future[_T]"]: ...


def coroutine(
    func: Union[Callable[..., "Generator[Any, Any, _T]"], Callable[..., _T]],
) -> Callable[..., "Future[_T]"]:
    """Turn a generator function into a coroutine returning a `.Future`.

    Every value the generator yields goes through `convert_yielded` and is
    waited on; the outcome is sent (or thrown) back into the generator.  When
    the decorated function is an ordinary function, its return value or
    exception simply ends up in the returned future.

    The caller never sees an exception directly: it is stored on the future,
    so the future must be awaited, yielded or passed to
    `.IOLoop.add_future` for errors to surface.  Each call runs in a copy of
    the caller's `contextvars` context.

    Prefer ``async def`` for new code.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> "Future[_T]":
        ctx_run = _copy_context().run
        try:
            produced = ctx_run(func, *args, **kwargs)
        except (Return, StopIteration) as stop:
            return _resolved(_value_from_stopiteration(stop))
        except Exception as error:
            return _failed(error)
        if type(produced) is _GeneratorType or isinstance(produced, Generator):
            return _launch(ctx_run, produced)
        return _resolved(produced)

    wrapper.__wrapped__ = func  # type: ignore[attr-defined]
    wrapper.__tornado_coroutine__ = True  # type: ignore[attr-defined]
    return wrapper


def is_coroutine_function(func: Any) -> bool:
    """True if ``func`` was produced by the `coroutine` decorator.

    .. versionadded:: 4.5
    """
    return getattr(func, "__tornado_coroutine__", False)


class Return(Exception):
    """Legacy way for a `coroutine` generator to produce its value.

    ``raise gen.Return(x)`` does what ``return x`` does in a generator;
    plain ``return`` is preferred now.
    """

    def __init__(self, value: Any = None) -> None:
        super().__init__()
        self.value = value
        # Mirror the value in args, where StopIteration-aware code
        # (e.g. Cython) expects it.
        self.args = (value,)


class WaitIterator:
    """Iterate over futures in the order in which they complete.

    Futures are passed either positionally or as keyword arguments.  Each
    call to `next` gives a future for whichever input completes next; once
    it resolves, `current_future` is the input that completed and
    `current_index` its position or keyword.  An input that fails makes only
    the corresponding step fail::

        waiter = gen.WaitIterator(left=fetch(a), right=fetch(b))
        async for value in waiter:
            handle(waiter.current_index, value)

    In a ``@gen.coroutine``, loop with ``while not waiter.done()`` and
    ``value = yield waiter.next()``.

    .. versionadded:: 4.1

    .. versionchanged:: 4.3
       ``async for`` support.
    """

    _unfinished: Dict[Future, Union[int, str]] = {}

    def __init__(self, *args: Future, **kwargs: Future) -> None:
        if args and kwargs:
            raise ValueError("You must provide args or kwargs, not both")
        labelled: List[Tuple[Union[int, str], Future]] = (
            list(kwargs.items()) if kwargs else list(enumerate(args))
        )
        self._unfinished = {fut: label for label, fut in labelled}
        self._finished: "Deque[Future]" = collections.deque()
        self.current_index: Optional[Union[str, int]] = None
        self.current_future: Optional[Future] = None
        self._running_future: Optional[Future] = None
        # Registered only once all state exists: inputs that are already
        # done report back immediately.
        for _, fut in labelled:
            future_add_done_callback(fut, self._done_callback)

    def done(self) -> bool:
        """True once every input has been delivered by `next`."""
        exhausted = not self._finished and not self._unfinished
        if exhausted:
            # Don't keep the last input alive after iteration ends.
            self.current_future = None
            self.current_index = None
        return exhausted

    def next(self) -> Future:
        """A `.Future` for the next input to complete.

        Await (or yield) it before asking for another one.
        """
        waiting = self._running_future = Future()
        if not self._finished:
            return waiting
        return self._return_result(self._finished.popleft())

    def _done_callback(self, done: Future) -> None:
        waiting = self._running_future
        if waiting is None or waiting.done():
            self._finished.append(done)
            return
        self._return_result(done)

    def _return_result(self, done: Future) -> Future:
        """Route ``done``'s outcome into the outstanding `next` future and
        remember which input it came from."""
        target = self._running_future
        if target is None:
            raise Exception("no future is running")
        self._running_future = None
        chain_future(done, target)
        self.current_future = done
        self.current_index = self._unfinished.pop(done)
        return target

    def __aiter__(self) -> typing.AsyncIterator:
        return self

    def __anext__(self) -> Future:
        if not self.done():
            return self.next()
        raise builtins.StopAsyncIteration()


def multi(
    children: Union[Sequence[_Yieldable], Mapping[Any, _Yieldable]],
    quiet_exceptions: "Union[Type[Exception], Tuple[Type[Exception], ...]]" = (),
) -> "Union[Future[List], Future[Dict]]":
    """Await a list or dict of asynchronous operations together.

    The entries of ``children`` may be anything `convert_yielded` accepts.
    The future returned resolves to a list of their results in the same
    order, or, for a dict, to a dict with the same keys.  Yielding a list or
    dict from a `coroutine` does the same thing implicitly; native
    coroutines write ``await multi(...)``.

    The first failure among the children becomes the failure of the
    combined future.  Further failures are logged, except those that are
    instances of ``quiet_exceptions``.

    .. versionchanged:: 4.2
       Extra failures are logged; ``quiet_exceptions`` was added.

    .. versionchanged:: 4.3
       Supersedes ``Multi`` and ``multi_future`` and takes any yieldable.
    """
    return multi_future(children, quiet_exceptions=quiet_exceptions)


Multi = multi


def _gather_results(
    combined: Future,
    children: List[Any],
    keys: Optional[List],
    quiet: "Union[Type[Exception], Tuple[Type[Exception], ...]]",
) -> None:
    # Every child is done: build the combined outcome.
    values = []
    for child in children:
        try:
            values.append(child.result())
        except Exception as error:
            if not combined.done():
                future_set_exc_info(combined, sys.exc_info())
            elif not isinstance(error, quiet):
                app_log.error("Multiple exceptions in yield list", exc_info=True)
    if combined.done():
        return
    payload: Any = values if keys is None else dict(zip(keys, values))
    future_set_result_unless_cancelled(combined, payload)


def multi_future(
    children: Union[Sequence[_Yieldable], Mapping[Any, _Yieldable]],
    quiet_exceptions: "Union[Type[Exception], Tuple[Type[Exception], ...]]" = (),
) -> "Union[Future[List], Future[Dict]]":
    """Older name for the machinery behind `multi`.

    .. versionchanged:: 4.2
       Extra failures are logged; ``quiet_exceptions`` was added.

    .. deprecated:: 4.3
       Call `multi` instead.
    """
    keys: Optional[List] = None
    source: typing.Iterable = children
    if isinstance(children, dict):
        keys = list(children)
        source = children.values()
    converted = [convert_yielded(item) for item in source]
    assert all(is_future(c) or isinstance(c, _NullFuture) for c in converted)

    combined = _create_future()
    if not converted:
        future_set_result_unless_cancelled(combined, [] if keys is None else {})
        return combined

    outstanding = set(converted)

    def on_child_done(child: Future) -> None:
        outstanding.remove(child)
        if not outstanding:
            _gather_results(combined, converted, keys, quiet_exceptions)

    # dict.fromkeys: each distinct child once, in the order given.
    for child in dict.fromkeys(converted):
        future_add_done_callback(child, on_child_done)
    return combined


def maybe_future(x: Any) -> Future:
    """Pass futures through; wrap any other value in a resolved future.

    .. deprecated:: 4.3
       Decorate the function with `coroutine` or use `convert_yielded`.
    """
    if not is_future(x):
        return _resolved(x)
    return x


def _report_late_failure(
    quiet: "Union[Type[Exception], Tuple[Type[Exception], ...]]", future: Future
) -> None:
    # with_timeout already gave up on ``future``; still say if it failed.
    try:
        future.result()
    except asyncio.CancelledError:
        return
    except Exception as error:
        if isinstance(error, quiet):
            return
        app_log.error("Exception in Future %r after timeout", future, exc_info=True)


def with_timeout(
    timeout: Union[float, datetime.timedelta],
    future: _Yieldable,
    quiet_exceptions: "Union[Type[Exception], Tuple[Type[Exception], ...]]" = (),
) -> Future:
    """Give ``future`` a deadline.

    Returns a new future that follows ``future``, but fails with
    `tornado.util.TimeoutError` (an alias of ``asyncio.TimeoutError``) if
    ``timeout`` passes first.  ``timeout`` is either an `.IOLoop.time`
    value or a `datetime.timedelta` from now.  The original operation keeps
    going after a timeout; should it fail afterwards, the error is logged
    unless it is a ``quiet_exceptions`` instance or a cancellation.

    ``future`` can be any yieldable object.

    .. versionchanged:: 4.4
       Any yieldable is accepted.

    .. versionchanged:: 6.0
       ``tornado.util.TimeoutError`` became ``asyncio.TimeoutError``.
    """
    # The input is left running on purpose: it may have other consumers.
    source = convert_yielded(future)
    guarded = _create_future()
    chain_future(source, guarded)
    io_loop = IOLoop.current()

    def expire() -> None:
        if not guarded.done():
            guarded.set_exception(TimeoutError("Timeout"))
        future_add_done_callback(
            source, functools.partial(_report_late_failure, quiet_exceptions)
        )

    handle = io_loop.add_timeout(timeout, expire)

    def disarm(_: Any) -> None:
        io_loop.remove_timeout(handle)

    if isinstance(source, Future):
        future_add_done_callback(source, disarm)
    else:
        # A concurrent.futures.Future finishes on another thread; have the
        # IOLoop call back on its own thread.
        io_loop.add_future(source, disarm)
    return guarded


def sleep(duration: float) -> "Future[None]":
    """A `.Future` that resolves to ``None`` after ``duration`` seconds.

    Yield or await it to pause a coroutine without stopping the IOLoop
    (unlike ``time.sleep``).

    .. versionadded:: 4.1
    """
    alarm = _create_future()
    IOLoop.current().call_later(
        duration, functools.partial(future_set_result_unless_cancelled, alarm, None)
    )
    return alarm


class _NullFuture:
    """Stand-in for a future that has already resolved to ``None``.

    Serves as the Runner's "nothing pending" marker (`_null_future`) and as
    `moment`.  It needs no event loop, which is why it is not a `.Future`.
    """

    def result(self) -> None:
        return None

    def done(self) -> bool:
        return True


# The Runner's "not waiting on anything" marker.
_null_future = typing.cast(Future, _NullFuture())

moment = typing.cast(Future, _NullFuture())
moment.__doc__ = """A special object to yield when a coroutine wants the IOLoop to
run once before it continues.

Handy in coroutines that yield many futures which are mostly done already,
so other work still gets a turn.  ``yield None`` (or just ``yield``) has the
same meaning; native coroutines use ``await asyncio.sleep(0)``.

.. versionadded:: 4.0

.. deprecated:: 4.5
   ``yield None`` means the same as ``yield gen.moment``.
"""


def _convert_for_runner(yielded: Any) -> Any:
    # convert_yielded, except that an unsupported object gives a failed
    # future: the error then reaches the generator like any other failure.
    try:
        return convert_yielded(yielded)
    except BadYieldError as error:
        return _failed(error)


class Runner:
    """Steps a coroutine generator forward, feeding it the outcome of each
    future it yields, until it finishes.

    Created by `coroutine`; the generator's outcome is stored in
    ``result_future``.
    """

    def __init__(
        self,
        ctx_run: Callable,
        gen: "Generator[_Yieldable, Any, _T]",
        result_future: "Future[_T]",
        first_yielded: _Yieldable,
    ) -> None:
        self.ctx_run = ctx_run
        self.gen = gen
        self.result_future: Optional[Future] = result_future
        self.future: Optional[Future] = _null_future
        self.running = False
        self.finished = False
        self.io_loop = IOLoop.current()
        # When ctx_run is Context.run, keep the Context itself: done
        # callbacks can be registered to run in it with no wrapper.
        owner = getattr(ctx_run, "__self__", None)
        self._ctx = owner if type(owner) is contextvars.Context else None
        ready = ctx_run(self.handle_yield, first_yielded)
        del gen, result_future, first_yielded
        if ready:
            ctx_run(self.run)

    def _keep_alive(self, future: Future) -> None:
        # No work: being a callback of the result future is the point.
        pass

    def _finish(self) -> Future:
        # Detach from the result future (so the no-op callback is never
        # scheduled) and return it for the final outcome.
        target = self.result_future
        assert target is not None
        self.finished = True
        self.result_future = None
        self.future = _null_future
        target.remove_done_callback(self._keep_alive)
        return target

    def run(self) -> None:
        """Resume the generator as long as what it waits for is ready."""
        if self.running or self.finished:
            return
        self.running = True
        try:
            self._advance()
        finally:
            self.running = False

    def _advance(self) -> None:
        gen = self.gen
        pending = self.future
        while True:
            if pending is None:
                raise Exception("No pending future")
            if not pending.done():
                return
            self.future = None
            # Read the outcome first and deliver it afterwards, outside the
            # handler: an exception thrown into the generator must not get
            # this frame's handling as its __context__.
            failure: Optional[Exception] = None
            try:
                value = pending.result()
            except Exception as error:
                value, failure = None, error
            # The failure's traceback includes this frame: let go of the
            # future that holds it.
            pending = None
            try:
                if failure is None:
                    yielded = gen.send(value)
                else:
                    try:
                        yielded = gen.throw(failure)
                    finally:
                        failure = None
            except (StopIteration, Return) as stop:
                future_set_result_unless_cancelled(
                    self._finish(), _value_from_stopiteration(stop)
                )
                return
            except Exception:
                future_set_exc_info(self._finish(), sys.exc_info())
                return
            value = None
            ready = self.handle_yield(yielded)
            yielded = None
            if not ready:
                return
            pending = self.future

    def handle_yield(self, yielded: _Yieldable) -> bool:
        """Make ``yielded`` the thing being waited on.

        Returns True when it is already complete, so the caller should keep
        stepping; False when run() will be called back later.
        """
        target: Any
        if type(yielded) in _PLAIN_FUTURE_TYPES and len(_converters) == 1:
            # convert_yielded would hand this object back unchanged (no
            # custom converter is registered), so skip the dispatch.
            target = yielded
        else:
            target = _convert_for_runner(yielded)
        self.future = target
        if target is moment:
            self.io_loop.add_callback(self.ctx_run, self.run)
            return False
        if target is None:
            raise Exception("no pending future")
        if target.done():
            return True
        if self._ctx is not None and isinstance(target, Future):
            # Resume straight from the future's done callback, executed in
            # the coroutine's own context.
            target.add_done_callback(self._wakeup, context=self._ctx)
        else:
            self.io_loop.add_future(target, self._resume)
        return False

    def _resume(self, future: Any) -> None:
        # IOLoop.add_future callback for futures of other kinds.
        del future
        self.ctx_run(self.run)

    def _wakeup(self, future: Any) -> None:
        # Done callback (already in the coroutine's context).  Failures are
        # logged as the IOLoop would log a failing callback.
        del future
        try:
            self.run()
        except asyncio.CancelledError:
            pass
        except Exception:
            app_log.error("Exception in callback %r", self.run, exc_info=True)

    def handle_exception(
        self, typ: Type[Exception], value: Exception, tb: types.TracebackType
    ) -> bool:
        if self.running or self.finished:
            return False
        injected: Future = Future()
        future_set_exc_info(injected, (typ, value, tb))
        self.future = injected
        self.ctx_run(self.run)
        return True


def _wrap_awaitable(awaitable: Awaitable) -> Future:
    io_loop = IOLoop.current()
    if type(awaitable) is types.CoroutineType:
        # What ensure_future does with a coroutine, on the same loop.
        task = io_loop.asyncio_loop.create_task(awaitable)  # type: ignore[attr-defined]
    else:
        # ensure_future takes any awaitable, where create_task wants a coroutine.
        task = asyncio.ensure_future(awaitable)
    # The IOLoop holds running tasks strongly (see IOLoop._pending_tasks).
    io_loop._register_task(task)
    task.add_done_callback(io_loop._unregister_task)
    return task


def convert_yielded(yielded: _Yieldable) -> Future:
    """Turn any object a coroutine may yield into a `.Future`.

    ``None`` maps to `moment`, lists and dicts are passed to `multi`, futures
    come back as they are and other awaitables are wrapped (a native
    coroutine becomes a task).  Any other object raises `BadYieldError`.

    Being a `functools.singledispatch` function, it can be taught new types
    with ``convert_yielded.register``.

    .. versionadded:: 4.1
    """
    if yielded is None:
        return moment
    if isinstance(yielded, _NullFuture):
        # moment and _null_future stand for themselves.
        return typing.cast(Future, yielded)
    if isinstance(yielded, (list, dict)):
        return multi(yielded)  # type: ignore[return-value]
    if is_future(yielded):
        return typing.cast(Future, yielded)
    if not isawaitable(yielded):
        raise BadYieldError(f"yielded unknown object {yielded!r}")
    return _wrap_awaitable(yielded)  # type: ignore[arg-type]


_convert_dispatch = singledispatch(convert_yielded)

# Used by Runner.handle_yield to skip convert_yielded: the types it returns
# untouched by default, and its registry, whose size shows whether anyone
# registered a converter of their own.
_PLAIN_FUTURE_TYPES = frozenset({Future, asyncio.Task})
_converters = _convert_dispatch.registry


def convert_yielded(yielded: _Yieldable) -> Future:  # type: ignore[no-redef]  # noqa: F811
    # The singledispatch function, with the most common case -- a native
    # coroutine, while nobody has registered a converter -- taken first.
    if type(yielded) is types.CoroutineType and len(_converters) == 1:
        return _wrap_awaitable(yielded)
    return _convert_dispatch(yielded)


# register, dispatch and registry come along with the wrapper's __dict__.
functools.update_wrapper(convert_yielded, _convert_dispatch)
