"""``python -m tornado_c``: run an unchanged Tornado application on tornado_c.

Usage::

    python -m tornado_c script.py [args ...]
    python -m tornado_c -m package.module [args ...]
    python -m tornado_c --version

The script or module runs as ``__main__`` with ``import tornado`` (and every
``tornado.<module>``) resolving to tornado_c and asyncio using the native
event loop, exactly as if it had called `tornado_c.install()` first.
"""

from __future__ import annotations

import os
import runpy
import sys
from typing import List, Optional

USAGE = """\
usage: python -m tornado_c [--version] (-m module | script.py) [args ...]

Runs a Tornado application unchanged on tornado_c: `import tornado` and every
`tornado.<module>` resolve to tornado_c, and asyncio uses the native loop.
"""


def version_text() -> str:
    import tornado_c

    lines = [
        f"tornado_c {tornado_c.__version__}",
        f"Tornado API {tornado_c.version}",
    ]
    try:
        from tornado_c import _core
    except ImportError as exc:  # the extension is not built
        lines.append(f"native core: not available ({exc})")
    else:
        versions = _core.versions()
        lines.append(f"libuv {versions['libuv']}")
        lines.append(f"llhttp {versions['llhttp']}")
        if versions.get("debug_build"):
            lines.append("debug build")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0 if args else 2
    if args[0] == "--version":
        print(version_text())
        return 0

    import tornado_c

    tornado_c.install()
    if args[0] == "-m":
        if len(args) < 2:
            sys.stderr.write("python -m tornado_c: -m needs a module name\n")
            return 2
        module = args[1]
        sys.argv = [module, *args[2:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    script = args[0]
    if script.startswith("-"):
        sys.stderr.write(f"python -m tornado_c: unknown option {script}\n{USAGE}")
        return 2
    sys.argv = [script, *args[1:]]
    # As `python script.py` would: the script's directory comes first on the
    # module search path, and __file__ is the absolute path (runpy sets
    # sys.argv[0] to it too, where the interpreter keeps it as typed).
    path = os.path.abspath(script)
    if not getattr(sys.flags, "safe_path", False):
        # (-m put the working directory there; -P / PYTHONSAFEPATH keeps
        # both out, and then sys.path[0] is not ours to replace.)
        sys.path[0] = os.path.dirname(path)
    runpy.run_path(path, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
