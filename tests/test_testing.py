"""Differential tests of tornado_c.testing against tornado.testing.

Most tests define a small `unittest.TestCase` on the implementation's
`AsyncTestCase`, run it with a `unittest.TestResult` and compare the outcome.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import os
import socket
import subprocess
import sys
import textwrap
import traceback
import unittest
import warnings
from typing import Any, Dict, List, Tuple

import pytest

import tornado.testing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_case(case: unittest.TestCase) -> List[Tuple[str, str, str]]:
    """Run one test case; return (outcome, exception type, message) tuples."""
    result = unittest.TestResult()
    case.run(result)
    out = []
    for kind, items in (("error", result.errors), ("failure", result.failures)):
        for _, text in items:
            last = text.strip().splitlines()[-1]
            exc_type, _, message = last.partition(": ")
            out.append((kind, exc_type.rsplit(".", 1)[-1], message))
    for _, reason in result.skipped:
        out.append(("skipped", "", reason))
    if not out and result.testsRun == 1:
        out.append(("ok", "", ""))
    return out


OK = [("ok", "", "")]


# --- module-level helpers -------------------------------------------------


def test_get_async_test_timeout(impl: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASYNC_TEST_TIMEOUT", raising=False)
    default = impl.testing.get_async_test_timeout()
    assert default == 5 and type(default) is int
    monkeypatch.setenv("ASYNC_TEST_TIMEOUT", "0.25")
    assert impl.testing.get_async_test_timeout() == 0.25
    monkeypatch.setenv("ASYNC_TEST_TIMEOUT", "7")
    assert impl.testing.get_async_test_timeout() == 7.0
    monkeypatch.setenv("ASYNC_TEST_TIMEOUT", "soon")
    assert impl.testing.get_async_test_timeout() == 5


@pytest.mark.parametrize("kwargs", [{}, {"reuse_port": True}, {"address": "127.0.0.1"}])
def test_bind_unused_port(impl: Any, kwargs: Dict[str, Any]) -> None:
    sock, port = impl.testing.bind_unused_port(**kwargs)
    try:
        assert isinstance(sock, socket.socket)
        assert sock.family == socket.AF_INET
        assert sock.type == socket.SOCK_STREAM
        assert sock.getsockname() == ("127.0.0.1", port)
        assert sock.getblocking() is False
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
        reuse_port = sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) != 0
        assert reuse_port == kwargs.get("reuse_port", False)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        assert sock.get_inheritable() is False
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        client.close()
    finally:
        sock.close()


def test_signatures_match_reference() -> None:
    import tornado_c.testing

    for name in ("bind_unused_port", "get_async_test_timeout", "gen_test",
                 "setup_with_context_manager", "main"):
        ours = inspect.signature(getattr(tornado_c.testing, name))
        ref = inspect.signature(getattr(tornado.testing, name))
        assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == [
            (p.name, p.kind, p.default) for p in ref.parameters.values()
        ], name
    for cls, names in (
        ("AsyncTestCase", ["__init__", "setUp", "tearDown", "get_new_ioloop",
                           "run", "stop", "wait"]),
        ("ExpectLog", ["__init__", "filter", "__enter__", "__exit__"]),
    ):
        for name in names:
            ours = inspect.signature(getattr(getattr(tornado_c.testing, cls), name))
            ref = inspect.signature(getattr(getattr(tornado.testing, cls), name))
            assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == [
                (p.name, p.kind, p.default) for p in ref.parameters.values()
            ], (cls, name)
    assert tornado_c.testing.ExpectLog.__bases__ == (logging.Filter,)
    assert tornado_c.testing.AsyncTestCase.__bases__ == (unittest.TestCase,)


# --- AsyncTestCase --------------------------------------------------------


def test_each_test_gets_its_own_loop(impl: Any) -> None:
    seen: List[Any] = []

    class Case(impl.testing.AsyncTestCase):  # type: ignore[name-defined]
        def test_a(self) -> None:
            seen.append(self.io_loop)
            assert isinstance(self.io_loop, impl.ioloop.IOLoop)
            assert asyncio.get_event_loop() is self.io_loop.asyncio_loop
            assert impl.ioloop.IOLoop.current() is self.io_loop
            assert not self.io_loop.asyncio_loop.is_running()

    assert run_case(Case("test_a")) == OK
    assert run_case(Case("test_a")) == OK
    assert seen[0] is not seen[1]
    assert all(loop.asyncio_loop.is_closed() for loop in seen)


def test_setup_teardown_order_with_mixin(impl: Any) -> None:
    events: List[str] = []

    class Mixin(unittest.TestCase):
        def setUp(self) -> None:
            events.append("mixin setUp")
            super().setUp()

        def tearDown(self) -> None:
            super().tearDown()
            events.append("mixin tearDown")

    class Case(impl.testing.AsyncTestCase, Mixin):  # type: ignore[name-defined]
        def test(self) -> None:
            events.append("test")

    assert run_case(Case("test")) == OK
    assert events == ["mixin setUp", "test", "mixin tearDown"]


@pytest.mark.parametrize(
    "body, expected",
    [
        ("gen", ("error", "TypeError", "Generator and coroutine test methods should "
                 "be decorated with tornado.testing.gen_test")),
        ("coro", ("error", "TypeError", "Generator and coroutine test methods should "
                  "be decorated with tornado.testing.gen_test")),
        ("value", ("error", "ValueError", "Return value from test method ignored: 42")),
    ],
)
def test_undecorated_methods_fail(impl: Any, body: str, expected: Tuple[str, ...]) -> None:
    class Case(impl.testing.AsyncTestCase):  # type: ignore[name-defined]
        def test_gen(self) -> Any:
            yield

        async def test_coro(self) -> None:
            pass

        def test_value(self) -> int:
            return 42

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # coroutine never awaited
        outcome = run_case(Case("test_" + body))
        gc.collect()
    assert outcome == [expected]


def test_undecorated_generator_skipped(impl: Any) -> None:
    class Case(impl.testing.AsyncTestCase):  # type: ignore[name-defined]
        @unittest.skip("not now")
        def test_gen(self) -> Any:
            yield

    assert run_case(Case("test_gen")) == [("skipped", "", "not now")]


def test_stop_and_wait(impl: Any) -> None:
    got: List[Any] = []

    class Case(impl.testing.AsyncTestCase):  # type: ignore[name-defined]
        def test(self) -> None:
            self.io_loop.add_callback(self.stop, "positional")
            got.append(self.wait())
            self.io_loop.add_callback(lambda: self.stop(a=1, b=2))
            got.append(self.wait())
            self.io_loop.add_callback(self.stop)
            got.append(self.wait())
            # stop() before wait(): wait returns at once.
            self.stop("early")
            got.append(self.wait())
            count = [0]

            def tick() -> None:
                count[0] += 1
                self.stop(count[0])
                if count[0] < 3:
                    self.io_loop.add_callback(tick)

            self.io_loop.add_callback(tick)
            got.append(self.wait(condition=lambda: count[0] >= 3))

    assert run_case(Case("test")) == OK
    assert got == ["positional", {"a": 1, "b": 2}, None, "early", 3]


def test_wait_timeout(impl: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    class Case(impl.testing.AsyncTestCase):  # type: ignore[name-defined]
        def test_arg(self) -> None:
            self.wait(timeout=0.01)

        def test_env(self) -> None:
            monkeypatch.setenv("ASYNC_TEST_TIMEOUT", "0.02")
            self.wait()

        def test_recovers(self) -> None:
            # A timed-out wait leaves the case usable.
            try:
                self.wait(timeout=0.01)
            except self.failureException:
                pass
            self.io_loop.add_callback(self.stop, "again")
            assert self.wait() == "again"

    assert run_case(Case("test_arg")) == [
        ("failure", "AssertionError", "Async operation timed out after 0.01 seconds")
    ]
    assert run_case(Case("test_env")) == [
        ("failure", "AssertionError", "Async operation timed out after 0.02 seconds")
    ]
    assert run_case(Case("test_recovers")) == OK


def test_handle_exception_reraised(impl: Any) -> None:
    class Case(impl.testing.AsyncTestCase):  # type: ignore[name-defined]
        def test_in_wait(self) -> None:
            def fail() -> None:
                try:
                    1 / 0
                except ZeroDivisionError:
                    self._handle_exception(*sys.exc_info())

            self.io_loop.add_callback(fail)
            try:
                self.wait()
            except ZeroDivisionError:
                self.stop("caught")
            assert self.wait() == "caught"

        def test_in_teardown(self) -> None:
            try:
                raise KeyError("late")
            except KeyError:
                self._handle_exception(*sys.exc_info())

    assert run_case(Case("test_in_wait")) == OK
    assert run_case(Case("test_in_teardown")) == [("error", "KeyError", "'late'")]


def test_handle_exception_twice_logs(impl: Any, caplog: pytest.LogCaptureFixture) -> None:
    class Case(impl.testing.AsyncTestCase):  # type: ignore[name-defined]
        def test(self) -> None:
            for exc in (ValueError("one"), ValueError("two")):
                try:
                    raise exc
                except ValueError:
                    self._handle_exception(*sys.exc_info())

    with caplog.at_level(logging.ERROR, logger="tornado.application"):
        assert run_case(Case("test")) == [("error", "ValueError", "one")]
    records = [r for r in caplog.records if r.name == "tornado.application"]
    assert [r.getMessage() for r in records] == ["multiple unhandled exceptions in test"]
    assert records[0].exc_info is not None and str(records[0].exc_info[1]) == "two"


def test_exception_in_callback_is_logged_not_raised(
    impl: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Tornado 6 no longer turns callback exceptions into test failures: the
    # IOLoop logs them and the test goes on.
    class Case(impl.testing.AsyncTestCase):  # type: ignore[name-defined]
        def test(self) -> None:
            self.io_loop.add_callback(lambda: 1 / 0)
            self.io_loop.add_callback(self.stop, "after")
            assert self.wait() == "after"

    with caplog.at_level(logging.ERROR, logger="tornado.application"):
        assert run_case(Case("test")) == OK
    records = [r for r in caplog.records if r.name == "tornado.application"]
    assert [r.getMessage().split(" ")[:3] for r in records] == [["Exception", "in", "callback"]]
    assert records[0].exc_info is not None
    assert records[0].exc_info[0] is ZeroDivisionError


def test_teardown_cancels_leaked_tasks(impl: Any) -> None:
    events: List[str] = []

    class Case(impl.testing.AsyncTestCase):  # type: ignore[name-defined]
        def test_quiet(self) -> None:
            async def forever() -> None:
                self.stop()
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    events.append("cancelled")
                    raise

            self.io_loop.add_callback(forever)
            self.wait()

        def test_noisy(self) -> None:
            async def forever() -> None:
                self.stop()
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    raise KeyError("in cleanup")

            self.io_loop.add_callback(forever)
            self.wait()

    assert run_case(Case("test_quiet")) == OK
    assert events == ["cancelled"]
    assert run_case(Case("test_noisy")) == [("error", "KeyError", "'in cleanup'")]


def test_get_new_ioloop_override_warns(impl: Any) -> None:
    class Case(impl.testing.AsyncTestCase):  # type: ignore[name-defined]
        def get_new_ioloop(self) -> Any:
            return impl.ioloop.IOLoop(make_current=False)

        def test(self) -> None:
            pass

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run_case(Case("test")) == OK
    messages = [(w.category, str(w.message)) for w in caught]
    assert (DeprecationWarning, "get_new_ioloop is deprecated") in messages
    # As an error (the test run's default), setUp fails.
    assert run_case(Case("test")) == [
        ("error", "DeprecationWarning", "get_new_ioloop is deprecated")
    ]


def test_private_state(impl: Any) -> None:
    class Case(impl.testing.AsyncTestCase):  # type: ignore[name-defined]
        def test(self) -> None:
            pass

    case = Case("test")
    assert case._test_generator is None
    assert case._AsyncTestCase__stopped is False  # type: ignore[attr-defined]
    assert case._AsyncTestCase__failure is None  # type: ignore[attr-defined]


# --- gen_test -------------------------------------------------------------


def test_gen_test_forms(impl: Any) -> None:
    gen = impl.gen
    gen_test = impl.testing.gen_test
    ran: List[Any] = []

    class Case(impl.testing.AsyncTestCase):  # type: ignore[name-defined]
        @gen_test
        def test_plain(self) -> None:
            ran.append("plain")

        @gen_test
        def test_generator(self) -> Any:
            value = yield gen.moment
            ran.append(("generator", value))

        @gen_test
        async def test_native(self) -> None:
            await asyncio.sleep(0)
            ran.append(("native", impl.ioloop.IOLoop.current() is self.io_loop))

        @gen_test(timeout=3)
        async def test_with_timeout_arg(self) -> None:
            ran.append("timeout arg")

        def test_args(self) -> None:
            @gen_test
            def inner(self: Any, *args: Any, **kwargs: Any) -> Any:
                yield gen.moment
                ran.append((args, kwargs))

            inner(self, 1, 2, k="v")

    for name in ("test_plain", "test_generator", "test_native",
                 "test_with_timeout_arg", "test_args"):
        assert run_case(Case(name)) == OK, name
    assert ran == ["plain", ("generator", None), ("native", True), "timeout arg",
                   ((1, 2), {"k": "v"})]
    assert Case.test_native.__name__ == "test_native"
    assert Case.test_generator.__name__ == "test_generator"
    assert gen_test.__test__ is False


def test_gen_test_failure_propagates(impl: Any) -> None:
    class Case(impl.testing.AsyncTestCase):  # type: ignore[name-defined]
        @impl.testing.gen_test
        async def test_native(self) -> None:
            await asyncio.sleep(0)
            raise KeyError("boom")

        @impl.testing.gen_test
        def test_generator(self) -> Any:
            yield impl.gen.moment
            self.assertEqual(1, 2)

    assert run_case(Case("test_native")) == [("error", "KeyError", "'boom'")]
    assert run_case(Case("test_generator")) == [("failure", "AssertionError", "1 != 2")]


@pytest.mark.parametrize("native", [False, True])
def test_gen_test_timeout_traceback(impl: Any, native: bool) -> None:
    gen = impl.gen
    captured: List[str] = []

    class Case(impl.testing.AsyncTestCase):  # type: ignore[name-defined]
        def test(self) -> None:
            if native:

                @impl.testing.gen_test(timeout=0.05)
                async def slow(self: Any) -> None:
                    await gen.sleep(5)  # the stuck line

            else:

                @impl.testing.gen_test(timeout=0.05)
                def slow(self: Any) -> Any:
                    yield gen.sleep(5)  # the stuck line

            try:
                slow(self)
            except impl.ioloop.TimeoutError:
                captured.append(traceback.format_exc())

    assert run_case(Case("test")) == OK
    assert len(captured) == 1
    assert "Operation timed out after 0.05 seconds" in captured[0]
    if not native:
        assert "# the stuck line" in captured[0]


def test_gen_test_timeout_from_environment(impl: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNC_TEST_TIMEOUT", "0.05")

    class Case(impl.testing.AsyncTestCase):  # type: ignore[name-defined]
        # Read when the decorator is applied.
        @impl.testing.gen_test
        async def test_env(self) -> None:
            await asyncio.sleep(5)

        @impl.testing.gen_test(timeout=5)
        async def test_explicit(self) -> None:
            await asyncio.sleep(0.1)

    monkeypatch.setenv("ASYNC_TEST_TIMEOUT", "10")
    assert run_case(Case("test_env")) == [
        ("error", "TimeoutError", "Operation timed out after 0.05 seconds")
    ]
    monkeypatch.setenv("ASYNC_TEST_TIMEOUT", "0.01")
    assert run_case(Case("test_explicit")) == OK


def test_gen_test_records_generator(impl: Any) -> None:
    seen: List[Any] = []

    class Case(impl.testing.AsyncTestCase):  # type: ignore[name-defined]
        @impl.testing.gen_test
        async def test_native(self) -> None:
            seen.append(inspect.iscoroutine(self._test_generator))

        @impl.testing.gen_test
        def test_plain(self) -> None:
            pass

        def tearDown(self) -> None:
            seen.append(self._test_generator)
            super().tearDown()

    assert run_case(Case("test_native")) == OK
    assert seen[0] is True and inspect.iscoroutine(seen[1])
    assert run_case(Case("test_plain")) == OK
    assert seen[2] is None


# --- ExpectLog ------------------------------------------------------------


@pytest.fixture
def log_name(request: pytest.FixtureRequest) -> str:
    name = "h4test." + request.node.name.replace("[", ".").replace("]", "")
    logger = logging.getLogger(name)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    handler = logging.NullHandler()
    logger.addHandler(handler)
    yield name
    logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


def test_expect_log_matches_and_suppresses(impl: Any, log_name: str) -> None:
    logger = logging.getLogger(log_name)
    passed: List[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            passed.append(record.getMessage())

    handler = Collect()
    logger.addHandler(handler)
    try:
        with impl.testing.ExpectLog(log_name, "expected") as el:
            logger.warning("expected %s", "one")
            logger.warning("not expected")
            logger.error("also expected")  # re.match anchors at the start only
            logger.error("expected second")
        assert isinstance(el, impl.testing.ExpectLog)
        assert el.matched == 2 and el.logged_stack is False
        assert passed == ["not expected", "also expected"]
        assert el not in logger.filters
        # A logger object works as well as a name.
        with impl.testing.ExpectLog(logger, r"obj\d") as el2:
            logger.warning("obj1")
        assert el2.matched == 1 and el2.logger is logger
    finally:
        logger.removeHandler(handler)


def test_expect_log_required(impl: Any, log_name: str) -> None:
    with pytest.raises(Exception) as info:
        with impl.testing.ExpectLog(log_name, "never"):
            pass
    assert type(info.value) is Exception
    assert str(info.value) == "did not get expected log message"
    with impl.testing.ExpectLog(log_name, "never", required=False) as el:
        pass
    assert el.matched == 0
    # An exception leaving the block is not masked.
    with pytest.raises(KeyError):
        with impl.testing.ExpectLog(log_name, "never"):
            raise KeyError()


def test_expect_log_logged_stack(impl: Any, log_name: str) -> None:
    logger = logging.getLogger(log_name)
    with impl.testing.ExpectLog(log_name, "oops") as el:
        try:
            1 / 0
        except ZeroDivisionError:
            logger.exception("oops")
    assert el.logged_stack is True


def test_expect_log_info_without_level_warns(impl: Any, log_name: str) -> None:
    logger = logging.getLogger(log_name)
    with pytest.warns(DeprecationWarning) as rec:
        with impl.testing.ExpectLog(log_name, "info line") as el:
            logger.info("info line")
    assert [str(w.message) for w in rec] == [
        "ExpectLog matched at INFO or below without level argument"
    ]
    assert el.deprecated_level_matched == 1
    # Mixed: more matches at WARNING than below does not warn.
    with impl.testing.ExpectLog(log_name, "line") as el:
        logger.info("line")
        logger.warning("line")
    assert (el.matched, el.deprecated_level_matched) == (2, 1)
    # With a level, INFO is fine.
    with impl.testing.ExpectLog(log_name, "info line", level=logging.INFO):
        logger.info("info line")


def test_expect_log_level(
    impl: Any, log_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger(log_name)
    logger.setLevel(logging.WARNING)
    el = impl.testing.ExpectLog(log_name, "msg", level=logging.DEBUG)
    with el:
        # The logger is lowered so the expected DEBUG record is produced.
        assert logger.level == logging.DEBUG
        logger.debug("msg 1")
    assert logger.level == logging.WARNING
    assert el.orig_level == logging.WARNING and el.level == logging.DEBUG
    assert el.matched == 1

    with caplog.at_level(logging.WARNING, logger="tornado.application"):
        with impl.testing.ExpectLog(log_name, "msg", level=logging.ERROR) as el2:
            logger.warning("msg at warning")
            logger.error("msg at error")
    assert el2.matched == 1 and el2.orig_level is None
    app = [r for r in caplog.records if r.name == "tornado.application"]
    assert [r.getMessage() for r in app] == [
        "Got expected log message 'msg at warning' at unexpected level (ERROR vs WARNING)"
    ]
    assert app[0].levelno == logging.WARNING


def test_expect_log_root_logger(impl: Any) -> None:
    el = impl.testing.ExpectLog("", "x", required=False)
    assert el.logger is logging.getLogger()
    assert el.regex.pattern == "x"
    assert (el.required, el.matched, el.level, el.orig_level) == (False, 0, None, None)


# --- setup_with_context_manager -------------------------------------------


def test_setup_with_context_manager(impl: Any) -> None:
    events: List[str] = []

    class CM:
        def __enter__(self) -> str:
            events.append("enter")
            return "value"

        def __exit__(self, *args: Any) -> None:
            events.append(f"exit{args}")

    class Case(unittest.TestCase):
        def setUp(self) -> None:
            events.append(impl.testing.setup_with_context_manager(self, CM()))

        def test(self) -> None:
            events.append("test")

    assert run_case(Case("test")) == OK
    assert events == ["enter", "value", "test", "exit(None, None, None)"]


# --- main() ---------------------------------------------------------------


def _run_main(impl: Any, tmp_path: Any, args: List[str], script: str) -> Tuple[int, str]:
    (tmp_path / "h4_cases.py").write_text(textwrap.dedent("""
        import signal
        import unittest

        class Cases(unittest.TestCase):
            def test_pass(self):
                pass

            def test_sigint(self):
                self.assertIs(signal.getsignal(signal.SIGINT), signal.SIG_DFL)

            def test_fail(self):
                self.fail("failed on purpose")

        def all():
            return unittest.TestSuite([Cases("test_pass")])
        """))
    (tmp_path / "h4_script.py").write_text(script.format(mod=impl.name + ".testing"))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), ROOT])
    env.pop("TORNADO_C_ALIAS", None)
    proc = subprocess.run(
        [sys.executable, *args], cwd=str(tmp_path), env=env, timeout=60,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    return proc.returncode, proc.stdout.decode()


SCRIPT = "import h4_cases\nfrom {mod} import main\nall = h4_cases.all\nmain()\n"


def test_main_runs_named_tests(impl: Any, tmp_path: Any) -> None:
    code, out = _run_main(impl, tmp_path, ["h4_script.py", "--verbose",
                                           "h4_cases.Cases.test_pass"], SCRIPT)
    assert code == 0, out
    assert "test_pass (h4_cases.Cases" in out and "ok" in out
    code, out = _run_main(impl, tmp_path, ["h4_script.py", "h4_cases.Cases.test_fail"],
                          SCRIPT)
    assert code == 1 and "failed on purpose" in out


def test_main_default_all(impl: Any, tmp_path: Any) -> None:
    code, out = _run_main(impl, tmp_path, ["h4_script.py"], SCRIPT)
    assert code == 0, out
    assert "Ran 1 test" in out


def test_main_quiet_and_interrupt_option(impl: Any, tmp_path: Any) -> None:
    code, out = _run_main(impl, tmp_path, ["h4_script.py", "--quiet",
                                           "--exception_on_interrupt=false",
                                           "h4_cases.Cases.test_sigint"], SCRIPT)
    assert code == 0, out
    assert "test_sigint" not in out
    code, out = _run_main(impl, tmp_path, ["h4_script.py", "h4_cases.Cases.test_sigint"],
                          SCRIPT)
    assert code == 1, out


def test_main_module_needs_tests(impl: Any, tmp_path: Any) -> None:
    code, out = _run_main(impl, tmp_path, ["-m", impl.name + ".testing"], SCRIPT)
    assert code == 1
    assert out.strip().splitlines()[-1] == "No tests specified"
    code, out = _run_main(impl, tmp_path, ["-m", impl.name + ".testing",
                                           "h4_cases.Cases.test_pass"], SCRIPT)
    assert code == 0, out


def test_main_help_lists_options(impl: Any, tmp_path: Any) -> None:
    code, out = _run_main(impl, tmp_path, ["h4_script.py", "--help"], SCRIPT)
    assert code == 0
    assert impl.name + "/testing.py options:" in out
    for name in ("--exception-on-interrupt", "--verbose", "--quiet", "--failfast",
                 "--catch", "--buffer"):
        assert name in out


# --- AsyncHTTPTestCase / AsyncHTTPSTestCase (owned by H8) ---------------------


def test_http_signatures_match_reference() -> None:
    import tornado_c.testing

    for cls, names in (
        ("AsyncHTTPTestCase", ["setUp", "tearDown", "get_http_client", "get_http_server",
                               "get_app", "fetch", "get_httpserver_options",
                               "get_http_port", "get_protocol", "get_url"]),
        ("AsyncHTTPSTestCase", ["get_http_client", "get_httpserver_options",
                                "get_ssl_options", "default_ssl_options", "get_protocol"]),
    ):
        for name in names:
            ours = inspect.signature(getattr(getattr(tornado_c.testing, cls), name))
            ref = inspect.signature(getattr(getattr(tornado.testing, cls), name))
            assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == [
                (p.name, p.kind, p.default) for p in ref.parameters.values()
            ], (cls, name)
    assert tornado_c.testing.AsyncHTTPSTestCase.__bases__ == (
        tornado_c.testing.AsyncHTTPTestCase,
    )


def _http_case(impl: Any, base_name: str, body: Any, record: Dict[str, Any]) -> Any:
    web = impl.web

    class Hello(web.RequestHandler):
        def get(self) -> None:
            self.write("hello " + self.request.protocol)

    class Case(getattr(impl.testing, base_name)):  # type: ignore[misc]
        def get_app(self) -> Any:
            return web.Application([("/hello", Hello)])

        def test_it(self) -> None:
            body(self, record)

        def tearDown(self) -> None:
            server, client = self.http_server, self.http_client
            record["port"] = self.get_http_port()
            super().tearDown()
            record["client_closed"] = client._closed
            record["server_attr_gone"] = not hasattr(self, "http_server")
            record["app_attr_gone"] = not hasattr(self, "_app")
            record["server_sockets_closed"] = all(
                sock.fileno() == -1 for sock in server._sockets.values()
            )

    return Case("test_it")


def test_http_test_case(impl: Any) -> None:
    httpclient = impl.httpclient

    def body(self: Any, record: Dict[str, Any]) -> None:
        record["url"] = self.get_url("/hello").replace(str(self.get_http_port()), "PORT")
        record["protocol"] = self.get_protocol()
        record["options"] = self.get_httpserver_options()
        response = self.fetch("/hello")
        record["hello"] = (response.code, response.body)
        record["missing"] = self.fetch("/missing").code
        try:
            self.fetch("/missing", raise_error=True)
        except httpclient.HTTPClientError as e:
            record["raised"] = e.code
        record["absolute"] = self.fetch(self.get_url("/hello").upper().replace("/HELLO", "/hello")).code
        record["post"] = self.fetch("/hello", method="POST", body=b"").code
        record["shared_client"] = self.http_client is httpclient.AsyncHTTPClient()

    record: Dict[str, Any] = {}
    assert run_case(_http_case(impl, "AsyncHTTPTestCase", body, record)) == OK
    port = record.pop("port")
    assert record == {
        "url": "http://127.0.0.1:PORT/hello",
        "protocol": "http",
        "options": {},
        "hello": (200, b"hello http"),
        "missing": 404,
        "raised": 404,
        "absolute": 200,
        "post": 405,
        "shared_client": True,
        "client_closed": True,
        "server_attr_gone": True,
        "app_attr_gone": True,
        "server_sockets_closed": True,
    }
    # The server stopped listening in tearDown.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_https_test_case(impl: Any) -> None:
    def body(self: Any, record: Dict[str, Any]) -> None:
        record["url"] = self.get_url("/x").replace(str(self.get_http_port()), "PORT")
        record["options"] = sorted(self.get_httpserver_options()["ssl_options"])
        response = self.fetch("/hello")
        record["hello"] = (response.code, response.body)
        record["forced_client"] = self.http_client is not impl.httpclient.AsyncHTTPClient()
        record["validate_cert"] = self.http_client.defaults["validate_cert"]

    record: Dict[str, Any] = {}
    assert run_case(_http_case(impl, "AsyncHTTPSTestCase", body, record)) == OK
    record.pop("port")
    assert record == {
        "url": "https://127.0.0.1:PORT/x",
        "options": ["certfile", "keyfile"],
        "hello": (200, b"hello https"),
        "forced_client": True,
        "validate_cert": False,
        "client_closed": True,
        "server_attr_gone": True,
        "app_attr_gone": True,
        "server_sockets_closed": True,
    }
    options = impl.testing.AsyncHTTPSTestCase.default_ssl_options()
    assert all(os.path.isfile(path) for path in options.values())


# setUp fails after binding the port, so (in both) the socket and the loop are
# only released by the garbage collector.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_http_test_case_needs_get_app(impl: Any) -> None:
    class Case(impl.testing.AsyncHTTPTestCase):  # type: ignore[misc]
        def test_it(self) -> None:
            pass

    case = Case("test_it")
    outcome = run_case(case)
    assert [o[:2] for o in outcome] == [("error", "NotImplementedError")]
    case.http_client.close()
    case.io_loop.close(all_fds=True)
    asyncio.set_event_loop(None)
    del case
    gc.collect()
