"""Build of tornado_c's one extension, tornado_c._core.

Sources: csrc/*.c plus llhttp's C sources from a registry package (Debian's
node-llhttp installs llhttp.h under /usr/share/include/llhttp and api.c,
http.c, llhttp.c under /usr/share/llhttp; LLHTTP_DIR may name another llhttp
release tree holding include/llhttp.h and src/*.c).  libuv is found through
pkg-config (Debian's libuv1-dev).

Switches (environment): TORNADO_C_DEBUG=1 builds with assertions, -O0 -g and
the debug counters; TORNADO_C_SANITIZE=1 adds AddressSanitizer and
UndefinedBehaviorSanitizer.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def fail(message: str) -> None:
    sys.stderr.write(f"\ntornado_c build: {message}\n\n")
    sys.exit(1)


def pkg_config(*args: str) -> list[str]:
    if shutil.which("pkg-config") is None:
        fail("pkg-config is missing: install it (Debian: apt-get install pkg-config).")
    try:
        out = subprocess.check_output(["pkg-config", *args], stderr=subprocess.DEVNULL)
    except subprocess.CalledProcessError:
        fail("libuv or zlib was not found by pkg-config: install them "
             "(Debian: apt-get install libuv1-dev zlib1g-dev).")
    return out.decode().split()


def llhttp_sources() -> tuple[list[str], list[str]]:
    """Return (C sources, include dirs) of llhttp."""
    candidates = []
    env_dir = os.environ.get("LLHTTP_DIR")
    if env_dir:
        candidates.append((os.path.join(env_dir, "src"), os.path.join(env_dir, "include")))
        candidates.append((env_dir, env_dir))
    else:
        candidates.append(("/usr/share/llhttp", "/usr/share/include/llhttp"))
    for src_dir, inc_dir in candidates:
        sources = [os.path.join(src_dir, name) for name in ("api.c", "http.c", "llhttp.c")]
        if all(os.path.isfile(s) for s in sources) and os.path.isfile(
            os.path.join(inc_dir, "llhttp.h")
        ):
            return stage_llhttp(sources, inc_dir)
    where = env_dir or "/usr/share/llhttp"
    fail(f"llhttp's C sources were not found under {where}: install them "
         "(Debian: apt-get install node-llhttp) or set LLHTTP_DIR to an llhttp "
         "release tree (include/llhttp.h, src/api.c, src/http.c, src/llhttp.c).")
    raise AssertionError("unreachable")


def stage_llhttp(sources: list[str], inc_dir: str) -> tuple[list[str], list[str]]:
    """Copy llhttp's sources into build/llhttp (git-ignored) at build time.

    setuptools rejects absolute source paths in some build modes (editable
    installs); the copy keeps every path relative.  Nothing is committed.
    """
    stage = os.path.join("build", "llhttp")
    os.makedirs(os.path.join(HERE, stage), exist_ok=True)
    staged = []
    for path in [*sources, os.path.join(inc_dir, "llhttp.h")]:
        target = os.path.join(stage, os.path.basename(path))
        target_abs = os.path.join(HERE, target)
        with open(path, "rb") as src:
            data = src.read()
        if not os.path.exists(target_abs) or open(target_abs, "rb").read() != data:
            with open(target_abs, "wb") as dst:
                dst.write(data)
        if path.endswith(".c"):
            staged.append(target)
    return staged, [stage]


def extension() -> Extension:
    cflags = pkg_config("--cflags", "libuv", "zlib")
    libs = pkg_config("--libs", "libuv", "zlib")
    ll_sources, ll_include = llhttp_sources()
    # setuptools wants source paths relative to this directory.
    # The extension's own sources are listed relative to this directory, as
    # setuptools requires; llhttp's live outside the tree and stay absolute.
    sources = sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, "csrc", "*.c")))
    # A function with no declaration is an error, not a warning: a private
    # CPython API gone from a newer version's headers would otherwise build
    # into a module that fails to import (undefined symbol).
    compile_args = ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter",
                    "-Wno-missing-field-initializers", "-Werror=implicit-function-declaration",
                    "-fvisibility=hidden"]
    link_args: list[str] = []
    # llhttp's strict build: the loose one skips the CRLF after chunk data
    # unchecked and takes obs-fold and bare LF (DESIGN.md decision 4).
    macros: list[tuple[str, str | None]] = [("LLHTTP_STRICT_MODE", "1")]
    if os.environ.get("TORNADO_C_DEBUG") == "1":
        compile_args += ["-O0", "-g3", "-UNDEBUG"]
        macros.append(("TORNADO_C_DEBUG", "1"))
    else:
        compile_args += ["-O2"]
    if os.environ.get("TORNADO_C_SANITIZE") == "1":
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]
        compile_args += san
        link_args += san
    include_dirs = ["csrc", *ll_include]
    include_dirs += [f[2:] for f in cflags if f.startswith("-I")]
    return Extension(
        "tornado_c._core",
        sources=sources + ll_sources,
        include_dirs=include_dirs,
        define_macros=macros,
        libraries=[f[2:] for f in libs if f.startswith("-l")],
        library_dirs=[f[2:] for f in libs if f.startswith("-L")],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )


setup(ext_modules=[extension()])
