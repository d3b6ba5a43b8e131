"""Asynchronous queues for coroutines (``tornado.queues``).

`Queue`, `PriorityQueue` and `LifoQueue` resemble the standard library's
`asyncio` queues, but `put` and `get` take Tornado-style timeouts (a deadline
in `.IOLoop.time` terms, or a `datetime.timedelta` relative to now) and return
futures.

These classes are not thread-safe.  To put into a queue from another thread,
use `.IOLoop.add_callback`.
"""

from __future__ import annotations

import collections
import datetime
import heapq
from typing import Any, Awaitable, Deque, Generic, List, Optional, Tuple, TypeVar, Union

from tornado_c import gen, ioloop
from tornado_c.concurrent import Future, future_set_result_unless_cancelled
from tornado_c.locks import Event

__all__ = ["Queue", "PriorityQueue", "LifoQueue", "QueueFull", "QueueEmpty"]

_T = TypeVar("_T")


class QueueEmpty(Exception):
    """Raised by `.Queue.get_nowait` when the queue has no items."""

    pass


class QueueFull(Exception):
    """Raised by `.Queue.put_nowait` when a queue is at its maximum size."""

    pass


def _set_timeout(
    future: Future[Any], timeout: Union[None, float, datetime.timedelta]
) -> None:
    # A falsy timeout (None, 0, an empty timedelta) means "wait forever".
    if not timeout:
        return
    io_loop = ioloop.IOLoop.current()

    def expire() -> None:
        if future.done():
            return
        future.set_exception(gen.TimeoutError())

    timer = io_loop.add_timeout(timeout, expire)
    # Whatever settles the future first, the timer is no longer wanted.
    future.add_done_callback(lambda _f: io_loop.remove_timeout(timer))


def _drop_settled(waiters: Deque[Any], future_of: Any) -> None:
    # Waiters that timed out (or were cancelled) are left in place when they
    # expire; discard the ones that have reached the front of the line.
    while waiters:
        if not future_of(waiters[0]).done():
            break
        waiters.popleft()


class _QueueIterator(Generic[_T]):
    """What ``async for item in queue`` iterates with: it never ends."""

    def __init__(self, q: "Queue[_T]") -> None:
        self.q = q

    def __anext__(self) -> Awaitable[_T]:
        return self.q.get()


class Queue(Generic[_T]):
    """Coordinate producer and consumer coroutines.

    If ``maxsize`` is 0 (the default) the queue size is unbounded.
    ``async for item in queue`` gets items until the loop is broken out of;
    each item should be acknowledged with `task_done` so that `join` can
    tell when all work is finished.
    """

    # The container; its type depends on the subclass (see ``_init``).
    _queue: Any = None

    def __init__(self, maxsize: int = 0) -> None:
        self._maxsize = self._validated_maxsize(maxsize)
        self._init()
        # Consumers blocked in get(), oldest first.
        self._getters: Deque[Future[_T]] = collections.deque()
        # Producers blocked in put(), with the item each one is holding.
        self._putters: Deque[Tuple[_T, Future[None]]] = collections.deque()
        # Items put but not yet acknowledged through task_done(); join()
        # waits on the event, which is set whenever that count is zero.
        self._finished = Event()
        self._unfinished_tasks = 0
        self._finished.set()

    @staticmethod
    def _validated_maxsize(maxsize: Any) -> Any:
        if maxsize is None:
            raise TypeError("maxsize can't be None")
        elif maxsize < 0:
            raise ValueError("maxsize can't be negative")
        return maxsize

    @property
    def maxsize(self) -> int:
        """The capacity given to the constructor (0: no limit)."""
        return self._maxsize

    def qsize(self) -> int:
        """How many items are stored right now."""
        return len(self._queue)

    def empty(self) -> bool:
        """True when no items are stored."""
        return not self._queue

    def full(self) -> bool:
        """True when a bounded queue holds ``maxsize`` items or more."""
        limit = self.maxsize
        return limit > 0 and self.qsize() >= limit

    def put(
        self, item: _T, timeout: Optional[Union[float, datetime.timedelta]] = None
    ) -> "Future[None]":
        """Add ``item``, waiting for a free slot if the queue is full.

        The returned future resolves once the item is in the queue, or fails
        with `tornado.util.TimeoutError` at ``timeout``: a deadline on the
        `.IOLoop.time` scale, or a `datetime.timedelta` from now.
        """
        slot: Future[None] = Future()
        try:
            self.put_nowait(item)
        except QueueFull:
            # No room: park the producer (and its item) until a get frees one.
            self._putters.append((item, slot))
            _set_timeout(slot, timeout)
        else:
            slot.set_result(None)
        return slot

    def put_nowait(self, item: _T) -> None:
        """Add ``item`` at once, or raise `QueueFull` if there is no room."""
        self._consume_expired()
        if not self._getters:
            if self.full():
                raise QueueFull
            self.__put_internal(item)
            return
        # A consumer is already waiting, which means nothing is stored:
        # route the item through the container straight to that consumer.
        assert self.empty(), "queue non-empty, why are getters waiting?"
        consumer = self._getters.popleft()
        self.__put_internal(item)
        future_set_result_unless_cancelled(consumer, self._get())

    def get(
        self, timeout: Optional[Union[float, datetime.timedelta]] = None
    ) -> Awaitable[_T]:
        """Take the next item, waiting for one if the queue is empty.

        The returned awaitable resolves to the item, or fails with
        `tornado.util.TimeoutError` at ``timeout``: a deadline on the
        `.IOLoop.time` scale, or a `datetime.timedelta` from now.
        """
        result: Future[_T] = Future()
        try:
            item = self.get_nowait()
        except QueueEmpty:
            self._getters.append(result)
            _set_timeout(result, timeout)
        else:
            result.set_result(item)
        return result

    def get_nowait(self) -> _T:
        """Take the next item at once, or raise `QueueEmpty` if there is none."""
        self._consume_expired()
        if self._putters:
            # Producers are blocked only while the queue is full; admit the
            # oldest one's item before taking from the front.
            assert self.full(), "queue not full, why are putters waiting?"
            held, producer = self._putters.popleft()
            self.__put_internal(held)
            future_set_result_unless_cancelled(producer, None)
        elif not self.qsize():
            raise QueueEmpty
        return self._get()

    def task_done(self) -> None:
        """Mark one item taken from the queue as processed.

        A consumer calls this once per item it got.  When every item put has
        been marked, waiters in `join` resume.  Calling it more often than
        items were put raises `ValueError`.
        """
        outstanding = self._unfinished_tasks
        if outstanding <= 0:
            raise ValueError("task_done() called too many times")
        outstanding -= 1
        self._unfinished_tasks = outstanding
        if not outstanding:
            self._finished.set()

    def join(
        self, timeout: Optional[Union[float, datetime.timedelta]] = None
    ) -> Awaitable[None]:
        """Wait until every item put has been marked with `task_done`.

        The awaitable fails with `tornado.util.TimeoutError` at ``timeout``.
        """
        return self._finished.wait(timeout)

    def __aiter__(self) -> _QueueIterator[_T]:
        return _QueueIterator(self)

    # Storage hooks: subclasses change the ordering by overriding these.
    def _init(self) -> None:
        """Create the empty container (FIFO here)."""
        self._queue = collections.deque()

    def _put(self, item: _T) -> None:
        """Store ``item`` at the back."""
        self._queue.append(item)

    def _get(self) -> _T:
        """Remove and return the front item."""
        return self._queue.popleft()

    def __put_internal(self, item: _T) -> None:
        # Every stored item is one more task that join() has to wait for.
        self._finished.clear()
        self._unfinished_tasks += 1
        self._put(item)

    def _consume_expired(self) -> None:
        _drop_settled(self._putters, lambda entry: entry[1])
        _drop_settled(self._getters, lambda waiter: waiter)

    def __repr__(self) -> str:
        return "<%s at %s %s>" % (type(self).__name__, hex(id(self)), self._format())

    def __str__(self) -> str:
        return "<%s %s>" % (type(self).__name__, self._format())

    def _format(self) -> str:
        fields = ["maxsize=%r" % (self.maxsize,)]
        stored = getattr(self, "_queue", None)
        if stored:
            fields.append("queue=%r" % (stored,))
        for label, waiting in (("getters", self._getters), ("putters", self._putters)):
            if waiting:
                fields.append("%s[%d]" % (label, len(waiting)))
        if self._unfinished_tasks:
            fields.append("tasks=%s" % (self._unfinished_tasks,))
        return " ".join(fields)


class PriorityQueue(Queue):
    """A `.Queue` whose `~.Queue.get` returns the smallest item first.

    Items are usually ``(priority, data)`` tuples.
    """

    def _init(self) -> None:
        self._queue: List[Any] = []

    def _put(self, item: _T) -> None:
        heapq.heappush(self._queue, item)

    def _get(self) -> _T:  # type: ignore[type-var]
        return heapq.heappop(self._queue)


class LifoQueue(Queue):
    """A `.Queue` whose `~.Queue.get` returns the newest item first."""

    def _init(self) -> None:
        """A plain list used as a stack."""
        self._queue: List[Any] = []

    def _put(self, item: _T) -> None:
        self._queue.append(item)

    def _get(self) -> _T:  # type: ignore[type-var]
        return self._queue.pop()
