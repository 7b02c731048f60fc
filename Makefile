# sems_lite — `make run` starts the box, `make test` proves it. See README.md.
PYTHON  ?= python3
VENV    ?= .venv
PROFILE ?= embedded
CONFIG  ?= etc/sems_lite.yaml
RUN_ARGS ?=
# Worker processes behind the SIP address: 1 on the embedded profile, one per CPU (0) on
# the server profile.
WORKERS ?= $(if $(filter server,$(PROFILE)),0,1)
PYTEST_ARGS ?=
PY := $(VENV)/bin/python

# System tools the interop tests talk to (Debian/Ubuntu package names).
TEST_PACKAGES := sip-tester baresip sox
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint format test-tools check-config native native-check bench bench-full bench-tools bench-footprint fuzz soak cross cross-all cross-test cross-wheel package clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	SEMS_LITE_PROFILE=$(PROFILE) $(PY) -m pip install -q -e .
	@touch $@

$(VENV)/.test-installed: $(VENV)/.installed
	SEMS_LITE_PROFILE=$(PROFILE) $(PY) -m pip install -q -e '.[test]'
	@touch $@

run: $(VENV)/.installed
	$(VENV)/bin/sems-lite run --config $(CONFIG) --workers $(WORKERS) $(RUN_ARGS)

check-config: $(VENV)/.installed
	$(VENV)/bin/sems-lite check-config $(CONFIG)

test-tools:
	@missing=""; \
	command -v sipp >/dev/null || missing="$$missing sip-tester"; \
	command -v baresip >/dev/null || missing="$$missing baresip"; \
	command -v sox >/dev/null || missing="$$missing sox"; \
	if [ -n "$$missing" ]; then \
	  echo "installing test tools:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

test: $(VENV)/.test-installed test-tools
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.test-installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The C kernels: (re)build the cffi extension in place; run the plain-C unit tests.
native: $(VENV)/.installed
	SEMS_LITE_PROFILE=$(PROFILE) $(PY) -m pip install -q -e .

native-check:
	$(MAKE) -C native check OPT=$(if $(filter server,$(PROFILE)),-O3,-Os)

# Cross builds for OpenWRT boards (boards/*.board): kernels as a .so + static C tests run
# under qemu-user, dependencies checked. BOARD=ath79-mips_24kc etc.; CC= overrides zig.
BOARD ?= x86-64
cross: $(VENV)/.installed
	VENV=$(VENV) sh boards/install-toolchain.sh
	$(MAKE) -f boards/cross.mk BOARD=$(BOARD) VENV=$(VENV) PROFILE=$(PROFILE) cross

cross-all: $(VENV)/.installed
	VENV=$(VENV) sh boards/install-toolchain.sh
	$(MAKE) -f boards/cross.mk VENV=$(VENV) PROFILE=$(PROFILE) cross-all

# The whole box under qemu-user on a board with a Debian target Python (armhf, arm64,
# mipsel): a sysroot is assembled under build/, then sipp calls echo and announcement.
cross-test: $(VENV)/.test-installed test-tools
	VENV=$(VENV) sh boards/install-toolchain.sh
	$(MAKE) -f boards/cross.mk BOARD=$(BOARD) VENV=$(VENV) PROFILE=$(PROFILE) cross-test

# The same with the cffi extension cross-built by crossenv (API mode) instead of the .so.
cross-wheel: $(VENV)/.test-installed test-tools
	VENV=$(VENV) sh boards/install-toolchain.sh
	$(MAKE) -f boards/cross.mk BOARD=$(BOARD) VENV=$(VENV) PROFILE=$(PROFILE) cross-wheel

# An OpenWRT .ipk for a board (byte-compiled for the router's Python 3.11): build/<board>/
package: $(VENV)/.installed
	VENV=$(VENV) sh boards/install-toolchain.sh
	$(MAKE) -f boards/cross.mk BOARD=$(BOARD) VENV=$(VENV) PROFILE=$(PROFILE) cross
	$(PY) boards/package.py $(BOARD) $(if $(PACKAGE_PYTHON),--python $(PACKAGE_PYTHON))

# Benchmarks (not tests): kernel cost per frame, RTP send-time jitter. See bench/README.md.
# Sizes per board, kernel instruction counts (callgrind), RSS / start-up / modules on x86.
bench-footprint: $(VENV)/.installed
	command -v valgrind >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq valgrind; }
	$(PY) bench/footprint.py --all

# sipp-driven benchmarks (echo, announcement, conference, call rate; see bench/README.md):
# `make bench` is the short matrix (about 4 min), `make bench-full` the whole one, native
# and pure-Python fallback (about 40 min). Packet timing needs tcpdump (and root).
bench-tools: test-tools
	@command -v tcpdump >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq tcpdump; }

bench: $(VENV)/.installed bench-tools
	$(PY) bench/kernels.py
	$(PY) bench/sipp_bench.py

bench-full: $(VENV)/.installed bench-tools
	$(PY) bench/sipp_bench.py --matrix full
	$(PY) bench/sipp_bench.py --matrix full --impl fallback

# A 10-minute soak: thousands of short calls, then nothing may be left over (bounded).
soak: $(VENV)/.test-installed test-tools
	SEMS_LITE_SOAK_SECONDS=600 $(PY) -m pytest -s -m interop tests/interop/test_soak.py

# Coverage-guided fuzzing of the SIP and RTP/RTCP/SDP parsers (bounded). See fuzz/README.md.
FUZZ_SECONDS ?= 60
fuzz: $(VENV)/.test-installed
	$(PY) -m pip install -q atheris || echo "atheris unavailable: the targets fall back to a mutation loop"
	$(PY) fuzz/fuzz_sip.py -max_total_time=$(FUZZ_SECONDS) fuzz/corpus/sip
	$(PY) fuzz/fuzz_rtp.py -max_total_time=$(FUZZ_SECONDS) fuzz/corpus/rtp

clean:
	$(MAKE) -C native clean
	rm -rf fuzz/work fuzz/crashes build
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -prune -exec rm -rf {} +
