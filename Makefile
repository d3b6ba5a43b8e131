# tornado_c — the commands README.md documents.
#
#   make run          install what is missing, build, serve examples/app.py
#   make test         install what is missing, build, run every test
#   make test-pythons the same under each CPython 3.10-3.13 installed
#   make conformance  run Tornado's own test suite against tornado_c
#   make bench        benchmarks (side by side with asyncio / pure Tornado)
#   make fuzz         differential fuzz of the HTTP server against pure Tornado
#   make asan         the test suite on an ASan+UBSan build of the extension
#   make debug        build with assertions and debug counters

PYTHON ?= python3
PIP := $(PYTHON) -m pip
APT_PACKAGES := pkg-config libuv1-dev node-llhttp zlib1g-dev wrk
TORNADO_REFERENCE := tornado==6.5.2
CSRC := $(wildcard csrc/*.c csrc/*.h)
EXT_SUFFIX := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
EXT := tornado_c/_core$(EXT_SUFFIX)
PYTEST_ARGS ?=

.PHONY: all deps sysdeps pydeps build run test test-pythons conformance bench fuzz asan debug lint clean

all: build

# --- set-up ------------------------------------------------------------------

sysdeps:
	@missing=""; for p in $(APT_PACKAGES); do \
	    dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "installing system packages:$$missing"; \
	    SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

pydeps:
	@$(PYTHON) -c 'import pytest, hypothesis, tornado, setuptools, wheel, pycurl, mypy; assert tornado.version == "6.5.2"' 2>/dev/null || \
	    $(PIP) install -q --disable-pip-version-check "pytest>=7" hypothesis "$(TORNADO_REFERENCE)" setuptools wheel pycurl mypy

deps: sysdeps pydeps

# The extension is built in place (so the checkout is importable) and the
# package is installed in editable mode once, so `import tornado_c` works from
# anywhere.
# Built into build/lib-inplace, then renamed into place: overwriting a loaded
# .so in place corrupts processes that have it mapped (a test run in flight).
$(EXT): $(CSRC) setup.py
	@rm -rf build/lib-inplace
	$(PYTHON) setup.py -q build_ext --build-lib build/lib-inplace --force 2>&1 | grep -vE "^(copying|running|creating)|BetaConfiguration|_BetaConfiguration|warnings.warn|FutureWarning|bdist_wheel" || true
	@test -f build/lib-inplace/$(EXT) || { echo "build failed"; exit 1; }
	cp build/lib-inplace/$(EXT) $(EXT).tmp && mv -f $(EXT).tmp $(EXT)

build: deps $(EXT)
	@(cd / && $(PYTHON) -c 'import tornado_c, os, sys; sys.exit(0 if os.path.dirname(tornado_c.__file__) == "$(CURDIR)/tornado_c" else 1)') 2>/dev/null || \
	    $(PIP) install -q --disable-pip-version-check --no-build-isolation -e .

# --- the two README commands ------------------------------------------------------

run: build
	$(PYTHON) examples/app.py

# The raw C programs: the benchmarks' ceilings (a libuv+llhttp HTTP server,
# also the client benchmark's target; a libuv+llhttp HTTP client; a libuv TCP
# echo server) and a C round-trip load generator (bench_tcp.py --load c).
# Their smoke tests run in `make test`.
RAW_SERVER := benchmarks/raw_server/hello_server
RAW_CLIENT := benchmarks/raw_server/hello_client
RAW_ECHO := benchmarks/raw_server/echo_server
RAW_LOAD := benchmarks/raw_server/echo_load
RAW := $(RAW_SERVER) $(RAW_CLIENT) $(RAW_ECHO) $(RAW_LOAD)

test: build $(RAW)
	$(PYTHON) -m pytest -q $(PYTEST_ARGS) tests

# The test suite under each CPython of TEST_PYTHONS found (on PATH, or
# installed by pyenv), each in a venv of its own under build/ (the extension
# is built per version, beside the others); a version not found is skipped
# with a line saying so.  Not part of `make test` (it takes each version's
# full run).
TEST_PYTHONS ?= 3.10 3.11 3.12 3.13
test-pythons: $(RAW)
	@for v in $(TEST_PYTHONS); do \
	    py=$$(python$$v -c 'import sys; print(sys.executable)' 2>/dev/null); \
	    if [ -z "$$py" ] && command -v pyenv >/dev/null; then \
	        for d in "$$(pyenv root)"/versions/$$v.*; do \
	            [ -x "$$d/bin/python$$v" ] && py="$$d/bin/python$$v"; done; \
	    fi; \
	    if [ -z "$$py" ]; then echo "== CPython $$v: not found, skipped"; continue; fi; \
	    echo "== CPython $$v ($$py)"; \
	    [ -x build/venv-$$v/bin/python ] || "$$py" -m venv build/venv-$$v || exit 1; \
	    $(MAKE) --no-print-directory test PYTHON=build/venv-$$v/bin/python || exit 1; \
	done

# --- conformance, benchmarks, sanitizers ---------------------------------------

.reference/tornado/test/__init__.py:
	$(PIP) install -q --disable-pip-version-check --no-deps --target .reference "$(TORNADO_REFERENCE)"

conformance: build .reference/tornado/test/__init__.py
	$(PYTHON) tests/conformance/run.py --baseline --markdown docs/conformance.md $(MODULES)

# The raw C libuv+llhttp server (the benchmark ceiling); llhttp's sources are
# the ones setup.py staged into build/llhttp.
$(RAW_SERVER): benchmarks/raw_server/hello_server.c $(EXT)
	$(CC) -O2 -o $@ $< build/llhttp/*.c -Ibuild/llhttp $$(pkg-config --cflags --libs libuv)

$(RAW_CLIENT): benchmarks/raw_server/hello_client.c $(EXT)
	$(CC) -O2 -o $@ $< build/llhttp/*.c -Ibuild/llhttp $$(pkg-config --cflags --libs libuv)

# The raw C TCP echo server (the TCP benchmark's ceiling) and load generator.
$(RAW_ECHO): benchmarks/raw_server/echo_server.c
	$(CC) -O2 -o $@ $< $$(pkg-config --cflags --libs libuv)

$(RAW_LOAD): benchmarks/raw_server/echo_load.c
	$(CC) -O2 -o $@ $< $$(pkg-config --cflags --libs libuv)

bench: build $(RAW)
	$(PYTHON) benchmarks/bench_loop.py --out-dir benchmarks/results

# Differential fuzz of the HTTP server (WebSocket sessions too) and of the HTTP
# client against pure-Python Tornado (loopback, bounded; several minutes).  FUZZ_ROUNDS per
# seed and mode (the client's rounds are slower: a third as many).
FUZZ_ROUNDS ?= 300
fuzz: build
	for mode in plain gz xh nka ws; do for seed in 1 2; do \
	  $(PYTHON) tests/fuzz/http_server_diff.py --mode $$mode --seed $$seed -n $(FUZZ_ROUNDS) || exit 1; \
	done; done
	for ka in "" --keep-alive; do for seed in 1 2; do \
	  $(PYTHON) tests/fuzz/http_client_diff.py $$ka --seed $$seed -n $$(( $(FUZZ_ROUNDS) / 3 )) || exit 1; \
	done; done

# ASan+UBSan: the instrumented extension is built into build/asan (next to a
# copy of the Python package) and run inside the ordinary interpreter binary
# with the sanitizer runtime preloaded.  PYTHONSAFEPATH keeps `-m pytest` from
# putting the checkout first on sys.path, where its in-place (uninstrumented)
# build would be imported instead.
ASAN_LIB = $(shell gcc -print-file-name=libasan.so)
UBSAN_LIB = $(shell gcc -print-file-name=libubsan.so)
REAL_PYTHON = $(shell $(PYTHON) -c 'import sys; print(sys.executable)')
asan: deps
	rm -rf build/asan && mkdir -p build/asan
	TORNADO_C_SANITIZE=1 TORNADO_C_DEBUG=1 $(PYTHON) setup.py -q build_ext \
	    --build-lib build/asan --build-temp build/asan-tmp --force 2>&1 | grep -E "error|warning:" || true
	cp -r tornado_c/*.py tornado_c/*.pyi tornado_c/platform tornado_c/py.typed tornado_c/testing_data build/asan/tornado_c/
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:halt_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LD_PRELOAD="$(ASAN_LIB) $(UBSAN_LIB)" PYTHONMALLOC=malloc PYTHONPATH=build/asan PYTHONSAFEPATH=1 \
	    $(REAL_PYTHON) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests

debug: deps
	TORNADO_C_DEBUG=1 $(PYTHON) setup.py -q build_ext --inplace --force

lint:
	$(PYTHON) -m ruff check tornado_c tests benchmarks || true
	$(PYTHON) -m mypy tornado_c

clean:
	rm -rf build .reference tornado_c/*.so tornado_c.egg-info
