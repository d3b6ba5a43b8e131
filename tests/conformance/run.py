"""Runs Tornado's own test suite against tornado_c through the alias.

Usage: python tests/conformance/run.py [--reference DIR] [--markdown FILE]
                                       [--timeout S] [-v] [module ...]

Each module of ``tornado.test`` (from the pure-Python Tornado installed in the
reference directory; never copied into this repository) runs in its own
interpreter, so a crash or hang in one module is counted against that module
only.  Prints passed / failed / errors / skipped per module and a total line.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_REFERENCE = os.path.join(ROOT, ".reference")


def discover(reference: str) -> list[str]:
    test_dir = os.path.join(reference, "tornado", "test")
    names = sorted(
        f[:-3] for f in os.listdir(test_dir) if f.endswith("_test.py")
    )
    return names


def run_one(name: str, reference: str, timeout: float, verbose: bool,
            baseline: bool = False) -> dict:
    """Run one module: on tornado_c through the alias, or (baseline) on the
    pure-Python Tornado it came with, for comparison."""
    env = dict(os.environ)
    if baseline:
        env["TORNADO_C_ALIAS"] = "0"
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (reference, env.get("PYTHONPATH")) if p)
    else:
        env["TORNADO_C_ALIAS"] = "1"
        env["TORNADO_C_REFERENCE_DIR"] = reference
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (os.path.join(HERE, "site"), ROOT, env.get("PYTHONPATH")) if p
        )
    cmd = [sys.executable, os.path.join(HERE, "run_module.py"), "tornado.test." + name]
    if verbose:
        cmd.append("-v")
    start = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            timeout=timeout, cwd=ROOT,
        )
    except subprocess.TimeoutExpired as exc:
        return {"module": name, "passed": 0, "failed": 0, "errors": 0, "skipped": 0,
                "note": f"timed out after {timeout:.0f}s",
                "log": (exc.stderr or b"").decode(errors="replace")}
    elapsed = time.monotonic() - start
    out = proc.stdout.decode(errors="replace").strip().splitlines()
    log = proc.stderr.decode(errors="replace")
    counts = None
    if out:
        try:
            counts = json.loads(out[-1])
        except ValueError:
            counts = None
    if counts is None:
        return {"module": name, "passed": 0, "failed": 0, "errors": 0, "skipped": 0,
                "note": f"crashed (exit status {proc.returncode})", "log": log}
    counts["module"] = name
    if counts.get("import_error"):
        counts["note"] = "import failed: " + counts["import_error"]
    counts["seconds"] = round(elapsed, 1)
    counts["log"] = log
    return counts


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("modules", nargs="*")
    parser.add_argument("--reference", default=DEFAULT_REFERENCE)
    parser.add_argument("--markdown")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--show-log", action="store_true",
                        help="print each failing module's test output")
    parser.add_argument("-v", action="store_true", dest="verbose")
    parser.add_argument("--baseline", action="store_true",
                        help="also run each module on pure-Python Tornado itself")
    args = parser.parse_args()
    reference = os.path.abspath(args.reference)
    if not os.path.isdir(os.path.join(reference, "tornado", "test")):
        print(f"no Tornado test suite under {reference}; run `make conformance`",
              file=sys.stderr)
        return 2
    modules = [m.replace("tornado.test.", "") for m in args.modules] or discover(reference)
    rows = []
    for name in modules:
        row = run_one(name, reference, args.timeout, args.verbose)
        if args.baseline:
            row["baseline"] = run_one(name, reference, args.timeout, False, baseline=True)
        rows.append(row)
        note = row.get("note", "")
        base = ""
        if "baseline" in row:
            b = row["baseline"]
            base = (f"  | Tornado: passed {b['passed']:4} failed {b['failed']:3} "
                    f"errors {b['errors']:3} skipped {b['skipped']:3}")
        print(f"{name:28} passed {row['passed']:4}  failed {row['failed']:4}  "
              f"errors {row['errors']:4}  skipped {row['skipped']:4}{base}  {note}", flush=True)
        if (args.show_log or args.verbose) and (row["failed"] or row["errors"] or note):
            print(row.get("log", ""))
    total = {k: sum(r[k] for r in rows) for k in ("passed", "failed", "errors", "skipped")}
    print(f"TOTAL{'':23} passed {total['passed']:4}  failed {total['failed']:4}  "
          f"errors {total['errors']:4}  skipped {total['skipped']:4}  "
          f"modules {len(rows)}")
    if args.markdown:
        write_markdown(args.markdown, rows, total, reference)
    return 0


def tornado_version(reference: str) -> str:
    for entry in os.listdir(reference):
        if entry.startswith("tornado-") and entry.endswith(".dist-info"):
            return entry[len("tornado-"):-len(".dist-info")]
    return "unknown"


def git_commit() -> str:
    try:
        return subprocess.check_output(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, stderr=subprocess.DEVNULL
        ).decode().strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_markdown(path: str, rows: list, total: dict, reference: str) -> None:
    with_base = all("baseline" in r for r in rows)
    lines = [
        "# Conformance: Tornado's own test suite on tornado_c",
        "",
        f"Produced by `make conformance` on {datetime.date.today().isoformat()} at "
        f"commit `{git_commit()}`, against Tornado {tornado_version(reference)}'s "
        "`tornado.test` package (installed from PyPI into `.reference/`, not part of "
        "this repository), every `tornado.*` import aliased to `tornado_c.*`, on the "
        "native event loop.",
        "",
        "A module that cannot be imported (it needs a tornado_c module that does not "
        "exist yet) counts as zero tests, with the reason in the note column.",
        "",
        "The Tornado columns run the same modules on the pure-Python Tornado they came with "
        "(same machine, same runner), for comparison." if with_base else "",
        "",
        ("| module | passed | failed | errors | skipped | Tornado: passed / failed / errors / skipped | note |"
         if with_base else "| module | passed | failed | errors | skipped | note |"),
        "|---|---:|---:|---:|---:|---|---|" if with_base else "|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        note = r.get("note", "").replace("|", "\\|")
        base = ""
        if with_base:
            b = r["baseline"]
            base = f" {b['passed']} / {b['failed']} / {b['errors']} / {b['skipped']} |"
        lines.append(f"| {r['module']} | {r['passed']} | {r['failed']} | "
                     f"{r['errors']} | {r['skipped']} |{base} {note} |")
    base_total = ""
    if with_base:
        bt = {k: sum(r["baseline"][k] for r in rows) for k in ("passed", "failed", "errors", "skipped")}
        base_total = f" {bt['passed']} / {bt['failed']} / {bt['errors']} / {bt['skipped']} |"
    lines.append(f"| **total** | **{total['passed']}** | **{total['failed']}** | "
                 f"**{total['errors']}** | **{total['skipped']}** |{base_total} {len(rows)} modules |")
    lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
