"""Runs one module of Tornado's own test suite against tornado_c.

Invoked by run.py in a fresh interpreter per module, with the alias already in
place (site/sitecustomize.py).  Sets up warnings and logging the way Tornado's
``runtests`` does, runs the module with unittest and prints one JSON line of
counts as its last line of output.
"""

import json
import logging
import sys
import traceback
import unittest
import warnings


def configure_warnings() -> None:
    warnings.filterwarnings("error")
    warnings.filterwarnings("ignore", category=ImportWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
    for package in (r"tornado\..*", r"tornado_c\..*"):
        warnings.filterwarnings("error", category=DeprecationWarning, module=package)
        warnings.filterwarnings(
            "error", category=PendingDeprecationWarning, module=package
        )


class CountingResult(unittest.TextTestResult):
    pass


def main() -> int:
    name = sys.argv[1]
    verbose = "-v" in sys.argv[2:]
    configure_warnings()
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("tornado.access").setLevel(logging.CRITICAL)
    counts = {"module": name, "passed": 0, "failed": 0, "errors": 0, "skipped": 0,
              "import_error": None}
    try:
        suite = unittest.defaultTestLoader.loadTestsFromName(name)
    except BaseException as exc:  # a module that cannot even be imported
        traceback.print_exc()
        counts["import_error"] = f"{type(exc).__name__}: {exc}"
        print(json.dumps(counts))
        return 1
    runner = unittest.TextTestRunner(
        stream=sys.stderr, verbosity=2 if verbose else 1, resultclass=CountingResult
    )
    result = runner.run(suite)
    # Count tests, not outcomes: a test with failing subTests reports several
    # failures.  A loader error (a failing import inside the module) counts
    # as an erroring test.
    def ids(pairs: list) -> set:
        return {getattr(t, "test_case", t).id() for t, _ in pairs}

    failed = ids(result.failures) | {t.id() for t in result.unexpectedSuccesses}
    errored = ids(result.errors) - failed
    skipped = ids(result.skipped) - failed - errored
    counts["failed"] = len(failed)
    counts["errors"] = len(errored)
    counts["skipped"] = len(skipped)
    counts["passed"] = max(0, result.testsRun - len(failed) - len(errored) - len(skipped))
    sys.stdout.flush()
    print(json.dumps(counts))
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
