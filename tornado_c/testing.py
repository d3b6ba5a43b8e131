"""Helpers for unit-testing asynchronous code (Tornado's ``tornado.testing``).

* `AsyncTestCase`: a `unittest.TestCase` giving every test its own `.IOLoop`;
  coroutine tests are marked with `gen_test`.
* `AsyncHTTPTestCase` / `AsyncHTTPSTestCase`: the same plus a running
  `.HTTPServer` (plain or TLS) for the application under test, an
  `.AsyncHTTPClient` and a blocking `~AsyncHTTPTestCase.fetch` shortcut.
* `ExpectLog`: swallow log output a test provokes on purpose, and fail when a
  required message never shows up.
* Odds and ends: `bind_unused_port`, `get_async_test_timeout`,
  `setup_with_context_manager`, and `main()` (``unittest.main`` combined with
  Tornado's command-line options and logging setup).
"""

from __future__ import annotations

# Test machinery.
import asyncio
import signal
import sys
import unittest
import warnings

# Helpers.
import functools
import inspect
import re
import logging
import os
import socket
from collections.abc import Generator
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Coroutine,
    Dict,
    List,
    Optional,
    Tuple,
    Type,
    Union,
    overload,
)

from tornado_c import gen, netutil
from tornado_c.httpclient import AsyncHTTPClient, HTTPResponse
from tornado_c.httpserver import HTTPServer
from tornado_c.ioloop import IOLoop, TimeoutError
from tornado_c.log import app_log
from tornado_c.platform.asyncio import AsyncIOMainLoop
from tornado_c.util import basestring_type, raise_exc_info

if TYPE_CHECKING:
    from tornado_c.web import Application

    _ExcInfoTuple = Tuple[
        Optional[Type[BaseException]], Optional[BaseException], Optional[TracebackType]
    ]

# IOLoops of this type wrap a loop the test does not own: tearDown leaves
# them open.
_NON_OWNED_IOLOOPS = AsyncIOMainLoop

# Used when ASYNC_TEST_TIMEOUT is unset or not a number.
_FALLBACK_TIMEOUT = 5


def bind_unused_port(
    reuse_port: bool = False, address: str = "127.0.0.1"
) -> Tuple[socket.socket, int]:
    """Listen on a free, OS-chosen port; return ``(socket, port)``.

    ``address`` is used literally (IPv4 only; the default ``127.0.0.1``
    avoids looking up ``localhost``).  ``reuse_port`` sets ``SO_REUSEPORT``.
    """
    listeners = netutil.bind_sockets(
        0, address, family=socket.AF_INET, reuse_port=reuse_port
    )
    chosen = listeners[0]
    return chosen, chosen.getsockname()[1]


def get_async_test_timeout() -> float:
    """The default timeout, in seconds, for `AsyncTestCase.wait` and `gen_test`.

    Taken from the ``ASYNC_TEST_TIMEOUT`` environment variable when it holds
    a number; 5 otherwise.
    """
    setting = os.environ.get("ASYNC_TEST_TIMEOUT")
    if setting is None:
        return _FALLBACK_TIMEOUT
    try:
        return float(setting)
    except ValueError:
        return _FALLBACK_TIMEOUT


def _early_asyncio_deprecations() -> bool:
    # CPython 3.10.0-3.10.8 and 3.11.0-3.11.1 warned about "no current event
    # loop" in places where later releases (rightly) do not.
    version = sys.version_info
    return (3, 10, 0) <= version < (3, 10, 9) or (3, 11, 0) <= version <= (3, 11, 1)


def _settle_leftover_tasks(io_loop: IOLoop) -> None:
    # Cancel what a test left behind and let it unwind now, while the loop
    # still exists (otherwise asyncio later complains that a pending task
    # was destroyed).  Errors other than the cancellation itself surface.
    aio_loop = io_loop.asyncio_loop  # type: ignore[attr-defined]
    leftovers = [task for task in asyncio.all_tasks(aio_loop) if not task.done()]
    if not leftovers:
        return
    for task in leftovers:
        task.cancel()
    finished, unfinished = io_loop.run_sync(lambda: asyncio.wait(leftovers))
    assert not unfinished
    for task in finished:
        if not task.cancelled():
            task.result()


def _forget_sigchld_loop() -> None:
    # Subprocess remembers which loop handles SIGCHLD; the next test brings
    # a different loop.  Skip it if the process module was never loaded.
    process_mod = sys.modules.get("tornado_c.process")
    if process_mod is not None:
        process_mod.Subprocess.uninitialize()


def _is_generator_or_coroutine(obj: Any) -> bool:
    return inspect.iscoroutine(obj) or isinstance(obj, Generator)


class AsyncTestCase(unittest.TestCase):
    """A `unittest.TestCase` for code that runs on an `.IOLoop`.

    Each test gets a new `.IOLoop` in ``self.io_loop`` (also set as the
    current asyncio event loop), closed in `tearDown`.  Tests that are
    coroutines must be decorated with `gen_test`; an undecorated coroutine or
    generator test method fails with `TypeError`.

    Example::

        class MyTestCase(AsyncTestCase):
            @gen_test
            async def test_sleep(self):
                await asyncio.sleep(0.01)

    The older (deprecated) style calls `wait`, which runs the loop until
    something calls `stop`.  Subclasses that override `setUp` or `tearDown`
    must call ``super()``.
    """

    def __init__(self, methodName: str = "runTest") -> None:
        super().__init__(methodName)
        # State of the stop()/wait() handshake.
        self.__running = False
        self.__stopped = False
        self.__stop_args: Any = None
        self.__timeout: Optional[object] = None
        # First unhandled exception, raised again by wait() or tearDown.
        self.__failure: Optional[_ExcInfoTuple] = None
        # The generator or coroutine of the running @gen_test method.
        self._test_generator: Optional[Union[Generator, Coroutine]] = None

    def setUp(self) -> None:
        if _early_asyncio_deprecations():
            setup_with_context_manager(self, warnings.catch_warnings())
            warnings.filterwarnings(
                "ignore", "There is no current event loop", DeprecationWarning, r"tornado(_c)?\..*"
            )
        super().setUp()
        overridden = type(self).get_new_ioloop is not AsyncTestCase.get_new_ioloop
        if overridden:
            warnings.warn("get_new_ioloop is deprecated", DeprecationWarning)
        loop = self.get_new_ioloop()
        self.io_loop = loop
        asyncio.set_event_loop(loop.asyncio_loop)  # type: ignore[attr-defined]

    def tearDown(self) -> None:
        _settle_leftover_tasks(self.io_loop)
        _forget_sigchld_loop()
        asyncio.set_event_loop(None)
        loop = self.io_loop
        if isinstance(loop, _NON_OWNED_IOLOOPS):
            pass  # somebody else's loop: leave it open
        else:
            # all_fds: whatever the loop still watches is closed too, so
            # repeated runs in one process do not pile up descriptors.
            loop.close(all_fds=True)
        super().tearDown()
        # A failure recorded outside wait() is reported at the latest here.
        self.__rethrow()

    def get_new_ioloop(self) -> IOLoop:
        """Create the loop the test runs on (a fresh `.IOLoop`).

        .. deprecated:: 6.3
           Do not override this; the hook is scheduled for removal in 7.0.
        """
        return IOLoop(make_current=False)

    def _handle_exception(
        self, typ: Type[Exception], value: Exception, tb: TracebackType
    ) -> bool:
        # Only the first failure is kept (for wait()/tearDown to raise);
        # anything after it can merely be logged.
        exc_info = (typ, value, tb)
        if self.__failure is not None:
            app_log.error("multiple unhandled exceptions in test", exc_info=exc_info)
        else:
            self.__failure = exc_info
        self.stop()
        return True

    def __rethrow(self) -> None:
        if self.__failure is None:
            return
        recorded = self.__failure
        self.__failure = None
        raise_exc_info(recorded)

    def run(
        self, result: Optional[unittest.TestResult] = None
    ) -> Optional[unittest.TestResult]:
        returned = super().run(result)
        # Something that slipped past the test and tearDown must not vanish.
        self.__rethrow()
        return returned

    def _callTestMethod(self, method: Callable) -> None:
        # A generator or coroutine returned here means the test body never
        # actually ran; any other non-None result is also rejected.
        outcome = method()
        if _is_generator_or_coroutine(outcome):
            raise TypeError(
                "Generator and coroutine test methods should be"
                " decorated with tornado.testing.gen_test"
            )
        if outcome is not None:
            raise ValueError("Return value from test method ignored: %r" % outcome)

    def stop(self, _arg: Any = None, **kwargs: Any) -> None:
        """Stop the `.IOLoop`, making one pending (or the next) `wait` return.

        A single positional argument, or the keyword arguments, become the
        return value of that `wait`.

        .. deprecated:: 5.1
           Use `gen_test` instead of `stop` and `wait`.
        """
        if kwargs:
            assert _arg is None
            self.__stop_args = kwargs
        else:
            self.__stop_args = _arg
        self.__stopped = True
        if self.__running:
            self.__running = False
            self.io_loop.stop()

    def __on_wait_timeout(self, seconds: float) -> None:
        problem = self.failureException(
            "Async operation timed out after %s seconds" % seconds
        )
        self.__failure = (type(problem), problem, problem.__traceback__)
        self.stop()

    def wait(
        self,
        condition: Optional[Callable[..., bool]] = None,
        timeout: Optional[float] = None,
    ) -> Any:
        """Run the `.IOLoop` until `stop` is called, and return what it got.

        Fails the test (``self.failureException``) after ``timeout`` seconds,
        by default `get_async_test_timeout`.  With a ``condition``, the loop
        is restarted after each `stop` until ``condition()`` is true.

        .. deprecated:: 5.1
           Use `gen_test` instead of `stop` and `wait`.
        """
        limit = get_async_test_timeout() if timeout is None else timeout
        if not self.__stopped:
            loop = self.io_loop
            if limit:
                self.__timeout = loop.add_timeout(
                    loop.time() + limit,
                    functools.partial(self.__on_wait_timeout, limit),
                )
            satisfied = False
            while not satisfied:
                self.__running = True
                loop.start()
                satisfied = (
                    self.__failure is not None or condition is None or bool(condition())
                )
            armed, self.__timeout = self.__timeout, None
            if armed is not None:
                loop.remove_timeout(armed)
        assert self.__stopped
        self.__stopped = False
        self.__rethrow()
        handed_over = self.__stop_args
        self.__stop_args = None
        return handed_over


class AsyncHTTPTestCase(AsyncTestCase):
    """An `AsyncTestCase` with an HTTP server for the application under test.

    Implement `get_app` to return the `tornado_c.web.Application` (or any
    other `.HTTPServer` request callback).  Each test gets the server on a
    fresh port and an ``self.http_client``; the blocking `fetch` helper is
    the usual way to make requests::

        class HomePageTest(AsyncHTTPTestCase):
            def get_app(self):
                return make_app()

            def test_root(self):
                resp = self.fetch("/")
                self.assertEqual(resp.code, 200)

    Tests that need more than one request in flight (or other asynchronous
    work) can be written as `gen_test` coroutines instead.
    """

    def setUp(self) -> None:
        super().setUp()
        listener, self.__port = bind_unused_port()
        # The hooks run in this order: client, application, server.
        self.http_client = self.get_http_client()
        self._app = self.get_app()
        self.http_server = self.get_http_server()
        self.http_server.add_sockets([listener])

    def get_http_client(self) -> AsyncHTTPClient:
        return AsyncHTTPClient()

    def get_http_server(self) -> HTTPServer:
        options = self.get_httpserver_options()
        return HTTPServer(self._app, **options)

    def get_app(self) -> "Application":
        """Return the application to serve; subclasses must implement it."""
        raise NotImplementedError()

    def fetch(
        self, path: str, raise_error: bool = False, **kwargs: Any
    ) -> HTTPResponse:
        """Fetch ``path`` from the test server, blocking until done.

        ``path`` is normally relative to the server (see `get_url`); a full
        ``http://`` or ``https://`` URL is used unchanged.  Keyword
        arguments are passed on to `.AsyncHTTPClient.fetch` (``method``,
        ``body``, ``headers``...).

        Unlike `.AsyncHTTPClient.fetch`, ``raise_error`` defaults to False,
        since tests commonly want to inspect error responses; pass True to
        get `tornado_c.httpclient.HTTPError` for non-2xx codes instead.
        """
        absolute = path.lower().startswith(("http://", "https://"))
        url = path if absolute else self.get_url(path)
        request = functools.partial(
            self.http_client.fetch, url, raise_error=raise_error, **kwargs
        )
        return self.io_loop.run_sync(request, timeout=get_async_test_timeout())

    def get_httpserver_options(self) -> Dict[str, Any]:
        """Extra keyword arguments for the `.HTTPServer` (none by default)."""
        return {}

    def get_http_port(self) -> int:
        """The port the test server listens on (different for each test)."""
        return self.__port

    def get_protocol(self) -> str:
        return "http"

    def get_url(self, path: str) -> str:
        """The full URL of ``path`` on the test server."""
        return "%s://127.0.0.1:%d%s" % (self.get_protocol(), self.get_http_port(), path)

    def tearDown(self) -> None:
        # Order matters: stop accepting, let the open connections unwind on
        # the still-running loop, close the client, and only then let
        # AsyncTestCase close the loop.
        server = self.http_server
        server.stop()
        self.io_loop.run_sync(
            server.close_all_connections, timeout=get_async_test_timeout()
        )
        self.http_client.close()
        del self.http_server, self._app
        super().tearDown()


class AsyncHTTPSTestCase(AsyncHTTPTestCase):
    """`AsyncHTTPTestCase` over TLS.

    The server uses `get_ssl_options` (a bundled self-signed certificate by
    default) and the client skips certificate verification.
    """

    def get_http_client(self) -> AsyncHTTPClient:
        return AsyncHTTPClient(force_instance=True, defaults=dict(validate_cert=False))

    def get_httpserver_options(self) -> Dict[str, Any]:
        return {"ssl_options": self.get_ssl_options()}

    def get_ssl_options(self) -> Dict[str, Any]:
        """TLS settings for the test server; override to change them."""
        return AsyncHTTPSTestCase.default_ssl_options()

    @staticmethod
    def default_ssl_options() -> Dict[str, Any]:
        # A self-signed certificate for "foo.example.com", shipped with the
        # package for tests only.
        here = os.path.dirname(__file__)
        return {
            kind: os.path.join(here, "testing_data", filename)
            for kind, filename in (("certfile", "test.crt"), ("keyfile", "test.key"))
        }

    def get_protocol(self) -> str:
        return "https"


_TestFunc = Callable[..., Union[Generator, "Coroutine[Any, Any, Any]"]]


@overload
def gen_test(*, timeout: Optional[float] = None) -> Callable[[_TestFunc], Callable[..., None]]:
    pass


@overload
def gen_test(func: _TestFunc) -> Callable[..., None]:
    pass


def gen_test(
    func: Optional[_TestFunc] = None,
    timeout: Optional[float] = None,
) -> Union[Callable[..., None], Callable[[_TestFunc], Callable[..., None]]]:
    """Run a coroutine or generator test method of an `AsyncTestCase`.

    ``@gen_test`` runs the method to completion on ``self.io_loop`` with
    `.IOLoop.run_sync`; ``@gen_test(timeout=10)`` sets the time limit
    (default: `get_async_test_timeout`, i.e. ``ASYNC_TEST_TIMEOUT`` or 5
    seconds).  On timeout, the `.TimeoutError` is thrown into the test
    coroutine so that its traceback shows where the test was waiting.

    Not to be combined with `AsyncTestCase.stop` / `AsyncTestCase.wait`.
    """
    limit = get_async_test_timeout() if timeout is None else timeout

    def decorate(test_fn: _TestFunc) -> Callable[..., None]:
        # ``remember`` records the generator/coroutine on the test case (so
        # a timeout can be thrown into it); ``run_test`` drives it on the
        # test's loop, via gen.coroutine unless it is a native coroutine.
        @functools.wraps(test_fn)
        def remember(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            produced = test_fn(self, *args, **kwargs)
            self._test_generator = (
                produced if _is_generator_or_coroutine(produced) else None
            )
            return produced

        entry: Callable[..., Any] = (
            remember if inspect.iscoroutinefunction(test_fn) else gen.coroutine(remember)
        )

        @functools.wraps(entry)
        def run_test(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            job = functools.partial(entry, self, *args, **kwargs)
            try:
                return self.io_loop.run_sync(job, timeout=limit)
            except TimeoutError as exc:
                # The TimeoutError's traceback only shows the loop.  Throwing
                # it into the suspended test makes the report point at the
                # line the test was blocked on.  A native coroutine that was
                # cancelled reports cr_running false and is left alone.
                suspended = self._test_generator
                if suspended is not None and getattr(suspended, "cr_running", True):
                    suspended.throw(exc)
                # Reached when the test swallowed the throw (or there was
                # nothing to throw into).
                raise

        return run_test

    return decorate if func is None else decorate(func)


# Keep test collectors (nose, pytest) from taking gen_test for a test.
gen_test.__test__ = False  # type: ignore[attr-defined]


class ExpectLog(logging.Filter):
    """Context manager that swallows expected log records.

    Records of ``logger`` whose message matches ``regex`` (from the start)
    are dropped; others pass.  ``logged_stack`` becomes true if any record
    carried exception information.  Not thread safe::

        with ExpectLog("tornado.application", "Uncaught exception"):
            ...
    """

    def __init__(
        self,
        logger: Union[logging.Logger, basestring_type],
        regex: str,
        required: bool = True,
        level: Optional[int] = None,
    ) -> None:
        """Watch ``logger`` (a `logging.Logger` or a name; ``""`` is the root
        logger) for messages matching ``regex``.

        With ``required``, leaving the block without a match raises an
        exception.  With ``level``, only records of exactly that level match,
        and the logger is lowered to that level for the duration if needed.

        .. deprecated:: 6.3
           Matching INFO or lower records without ``level`` warns; Tornado
           7.0 matches only WARNING and above by default.
        """
        self.logger = (
            logging.getLogger(logger) if isinstance(logger, basestring_type) else logger
        )
        self.regex = re.compile(regex)
        self.required = required
        self.level = level
        # Logger level to restore on exit, if __enter__ had to lower it.
        self.orig_level: Optional[int] = None
        self.logged_stack = False
        # Records swallowed, and how many of those were below WARNING while
        # no explicit level was given (deprecated usage).
        self.matched = 0
        self.deprecated_level_matched = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            self.logged_stack = True
        text = record.getMessage()
        if self.regex.match(text) is None:
            return True  # not ours: let it through
        if self.level is None:
            if record.levelno < logging.WARNING:
                # Warning from inside a logging call would be lost or
                # misattributed; __exit__ does it instead.
                self.deprecated_level_matched += 1
        elif record.levelno != self.level:
            app_log.warning(
                "Got expected log message %r at unexpected level (%s vs %s)"
                % (text, logging.getLevelName(self.level), record.levelname)
            )
            return True
        self.matched += 1
        return False

    def __enter__(self) -> "ExpectLog":
        target = self.logger
        wanted = self.level
        needs_lowering = wanted is not None and target.getEffectiveLevel() > wanted
        if needs_lowering:
            self.orig_level = target.level
            target.setLevel(wanted)  # type: ignore[arg-type]
        target.addFilter(self)
        return self

    def __exit__(
        self,
        typ: Optional[Type[BaseException]],
        value: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        target = self.logger
        target.removeFilter(self)
        if self.orig_level is not None:
            target.setLevel(self.orig_level)
        if typ is not None or not self.required:
            # An exception is already propagating, or nothing was demanded.
            return
        if self.matched == 0:
            raise Exception("did not get expected log message")
        if self.deprecated_level_matched >= self.matched:
            warnings.warn(
                "ExpectLog matched at INFO or below without level argument",
                DeprecationWarning,
            )


def setup_with_context_manager(testcase: unittest.TestCase, cm: Any) -> Any:
    """Enter ``cm`` now and exit it in ``testcase``'s cleanup; return what
    entering it returned.  For use in ``setUp``::

        def setUp(self):
            setup_with_context_manager(self, warnings.catch_warnings())
            warnings.filterwarnings("ignore", category=DeprecationWarning)
    """
    entered = cm.__enter__()
    testcase.addCleanup(cm.__exit__, None, None, None)
    return entered


# unittest.main() keyword set by each boolean switch of main(); later
# entries win (--quiet beats --verbose).
_UNITTEST_SWITCHES = (
    ("verbose", "verbosity", 2),
    ("quiet", "verbosity", 0),
    ("failfast", "failfast", True),
    ("catch", "catchbreak", True),
    ("buffer", "buffer", True),
)


_INTERRUPT_HELP = (
    # User-visible --help text: the same words as Tornado's.
    "If true (default), ctrl-c raises a KeyboardInterrupt exception.  This "
    "prints a stack trace but cannot interrupt certain operations.  If false, "
    "the process is more reliably killed, but does not print a stack trace."
)


def main(**kwargs: Any) -> None:
    """Run tests like `unittest.main`, with Tornado's options and logging.

    ``python -m tornado.testing tornado.test.web_test`` runs the named tests;
    a script calling ``main()`` with no test named runs the suite returned by
    its module's ``all()`` function.  Keyword arguments go to
    `unittest.main` (e.g. ``main(verbosity=2)``).

    Besides Tornado's usual options (logging among them) it accepts
    ``--exception_on_interrupt`` (default true; false restores the default
    SIGINT handler so Ctrl-C kills the process without a traceback) and
    unittest's ``--verbose``, ``--quiet``, ``--failfast``, ``--catch`` and
    ``--buffer``.
    """
    from tornado_c.options import define, options, parse_command_line

    define("exception_on_interrupt", default=True, type=bool, help=_INTERRUPT_HELP)
    for switch, _, _ in _UNITTEST_SWITCHES:
        define(switch, type=bool)

    leftover: List[str] = parse_command_line(sys.argv)
    argv = [sys.argv[0], *leftover]

    if not options.exception_on_interrupt:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    for switch, keyword, setting in _UNITTEST_SWITCHES:
        if getattr(options, switch) is not None:
            kwargs[keyword] = setting

    if not leftover:
        if __name__ == "__main__":
            # ``python -m tornado_c.testing`` with nothing to run.
            print("No tests specified", file=sys.stderr)
            sys.exit(1)
        # A script's main(): run the suite its module's all() returns.
        unittest.main(defaultTest="all", argv=argv, **kwargs)
    else:
        # Dotted test names: module=None makes unittest import them itself.
        unittest.main(module=None, argv=argv, **kwargs)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
