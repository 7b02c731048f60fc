# Cross-builds of the C kernels, one board at a time (see boards/README.md).
#   make -f boards/cross.mk BOARD=ath79-mips_24kc cross   build, run the C tests, check the .so
#   make -f boards/cross.mk cross-all                      every boards/*.board, then a size table
#   ... CC=mips-openwrt-linux-musl-gcc                     an OpenWRT SDK compiler instead of zig
#   ... PROFILE=server                                     -O3 instead of -Os
#   make -f boards/cross.mk BOARD=x86-64 show              the board's keys as make reads them
#   make -f boards/cross.mk BOARD=ipq40xx-arm_cortex-a7 cross-test
#       the whole box under qemu-user: Debian's Python for the board (boards/sysroot.sh),
#       sems_lite on the board's .so, real sipp calls to echo and announcement
#   make -f boards/cross.mk BOARD=ipq40xx-arm_cortex-a7 cross-wheel
#       a wheel with the cffi API-mode extension built by crossenv (boards/crossenv-wheel.sh),
#       then the same box test with that wheel installed (`--version` says native)
# Output: build/<board>/libsems_kernels.so with sems_kernels.h beside it (the cdef that
# sems_lite.native needs to dlopen it) and build/<board>/test_kernels (static).
# Tools: boards/install-toolchain.sh installs zig (PyPI ziglang), qemu-user-static, readelf.

HERE    := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
ROOT    := $(patsubst %/,%,$(dir $(HERE)))
BOARDS  := $(sort $(basename $(notdir $(wildcard $(HERE)/*.board))))

VENV    ?= .venv
PY      ?= $(if $(filter /%,$(VENV)),$(VENV),$(ROOT)/$(VENV))/bin/python
PROFILE ?= embedded
OPT     := $(if $(filter server,$(PROFILE)),-O3,-Os)
CFLAGS_WARN := -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
CFLAGS_SIZE := -ffunction-sections -fdata-sections -fno-unwind-tables -fno-asynchronous-unwind-tables
SRCS    := $(sort $(wildcard $(ROOT)/native/*.c))
HDR     := $(ROOT)/native/sems_kernels.h
TESTSRC := $(ROOT)/native/tests/test_kernels.c

# zig builds each target's libc once; keep its caches in build/ so later runs reuse them
export ZIG_GLOBAL_CACHE_DIR ?= $(ROOT)/build/zig-cache
export ZIG_LOCAL_CACHE_DIR ?= $(ROOT)/build/zig-cache

.PHONY: cross cross-all cross-test cross-wheel so tests run-tests check size list show clean-board
.DEFAULT_GOAL := cross

list:
	@printf '%s\n' $(BOARDS)

# Each board in its own make, so one failing board does not hide the others.
cross-all:
	@failed=""; \
	for b in $(BOARDS); do \
	  $(MAKE) --no-print-directory -f $(HERE)/cross.mk BOARD=$$b cross || failed="$$failed $$b"; \
	done; \
	$(PY) $(ROOT)/bench/footprint.py; \
	if [ -n "$$failed" ]; then echo "cross-all: FAILED:$$failed"; exit 1; fi; \
	echo "cross-all: all boards passed"

ifneq ($(filter-out list cross-all,$(or $(MAKECMDGOALS),cross)),)
ifeq ($(BOARD),)
$(error BOARD is not set: one of $(BOARDS))
endif
ifeq ($(wildcard $(HERE)/$(BOARD).board),)
$(error unknown board '$(BOARD)': one of $(BOARDS))
endif
include $(HERE)/$(BOARD).board

OUT     := $(ROOT)/build/$(BOARD)
OBJS    := $(patsubst $(ROOT)/native/%.c,$(OUT)/obj/%.o,$(SRCS))
SO      := $(OUT)/libsems_kernels.so
SO_HDR  := $(OUT)/sems_kernels.h
TEST    := $(OUT)/test_kernels

# CC on the make command line (an OpenWRT SDK gcc) replaces zig; it knows its own target.
# The .so links no libc (-nostdlib, so no NEEDED): it loads into any Python process, glibc
# or musl, and the mem* calls the compiler emits resolve from the libc already loaded.
# `check` fails if anything else is left undefined (zig: add -lcompiler_rt to SO_LIBS then).
ifeq ($(origin CC),command line)
TARGET_CC := $(CC)
SO_LIBS   ?= -nostdlib -lgcc
else
TARGET_CC := $(PY) -m ziglang cc -target $(ZIG_TARGET) $(if $(ZIG_CPU),-mcpu=$(ZIG_CPU))
SO_LIBS   ?= -nostdlib
endif
CFLAGS  := -std=c99 $(OPT) $(CFLAGS_WARN) $(CFLAGS_SIZE) -I$(ROOT)/native
# qemu only when the build host is not the board's CPU
RUN     := $(if $(filter $(UNAME_M),$(shell uname -m)),,$(QEMU))
endif

cross: run-tests check size $(SO_HDR)

# The board's keys as make reads them (tests compare this with boards/board.py).
BOARD_KEYS = $(shell sed -n 's/^\([A-Z][A-Z0-9_]*\) *:=.*/\1/p' $(HERE)/$(BOARD).board)
show:
	@$(foreach k,$(BOARD_KEYS),echo '$(k)=$($(k))';)

so: $(SO) $(SO_HDR)

tests: $(TEST)

# Rebuild everything when the compiler or flags change (PROFILE, CC), not only on edits.
$(OUT)/flags: FORCE
	@mkdir -p $(OUT)/obj
	@echo '$(TARGET_CC) $(CFLAGS) $(SO_LIBS)' | cmp -s - $@ || \
	  echo '$(TARGET_CC) $(CFLAGS) $(SO_LIBS)' > $@

$(OUT)/obj/%.o: $(ROOT)/native/%.c $(HDR) $(OUT)/flags
	$(TARGET_CC) $(CFLAGS) -fPIC -c -o $@ $<

$(SO): $(OBJS)
	$(TARGET_CC) -shared -Wl,-soname,libsems_kernels.so -Wl,--gc-sections -s \
	  -o $@ $(OBJS) $(SO_LIBS)

$(SO_HDR): $(HDR) $(OUT)/flags
	cp $(HDR) $@

$(TEST): $(TESTSRC) $(OBJS)
	$(TARGET_CC) $(CFLAGS) -static -Wl,--gc-sections -o $@ $(TESTSRC) $(OBJS)

run-tests: $(TEST)
	@if [ -n "$(RUN)" ] && ! command -v $(RUN) >/dev/null; then \
	  echo "$(BOARD): $(RUN) not found: run boards/install-toolchain.sh" >&2; exit 1; fi
	@echo "$(BOARD): running the C tests$(if $(RUN), under $(RUN))"
	@$(RUN) $(TEST) || { echo "$(BOARD): C tests FAILED" >&2; exit 1; }

check: $(SO) $(TEST)
	@$(PY) $(HERE)/board.py check-static $(BOARD) $(TEST)
	@$(PY) $(HERE)/board.py check-so $(BOARD) $(SO)

size: $(SO)
	@echo "$(BOARD): libsems_kernels.so $$(wc -c < $(SO)) bytes ($(PROFILE))"

clean-board:
	rm -rf $(OUT)

# --- the whole box under qemu-user -------------------------------------------------------
# The test (tests/cross/test_qemu_box.py) stages sems_lite into the sysroot itself
# (boards/stage.py) and picks the .so the same way as BOX_SO here.
# Where the board's float ABI is not the Debian Python's (SYSROOT_ZIG_TARGET, mipsel), the
# same C is built again for the sysroot: the board's object stays what the router gets.
CROSS_TEST_ARGS ?=
ifneq ($(SYSROOT_ZIG_TARGET),)
BOX_OUT := $(OUT)/sysroot-abi
BOX_SO  := $(BOX_OUT)/libsems_kernels.so
BOX_CC  := $(PY) -m ziglang cc -target $(SYSROOT_ZIG_TARGET) \
           $(if $(SYSROOT_ZIG_CPU),-mcpu=$(SYSROOT_ZIG_CPU))

$(BOX_SO): $(SRCS) $(HDR)
	@mkdir -p $(BOX_OUT)/obj
	for c in $(SRCS); do \
	  $(BOX_CC) $(CFLAGS) -fPIC -c -o $(BOX_OUT)/obj/$$(basename $$c .c).o $$c || exit 1; \
	done
	$(BOX_CC) -shared -Wl,-soname,libsems_kernels.so -Wl,--gc-sections -s \
	  -o $@ $(patsubst $(ROOT)/native/%.c,$(BOX_OUT)/obj/%.o,$(SRCS)) -nostdlib
	cp $(HDR) $(BOX_OUT)/
else
BOX_SO  := $(SO)
endif

cross-test: cross $(BOX_SO)
	@if [ -z "$(DEBIAN_ARCH)" ]; then \
	  echo "$(BOARD): Debian has no Python for this arch; its test is the C tests (make cross)" >&2; \
	  exit 2; fi
	sh $(HERE)/sysroot.sh $(DEBIAN_ARCH)
	SEMS_LITE_CROSS_BOARD=$(BOARD) $(PY) -m pytest -m cross -v -p no:cacheprovider \
	  $(ROOT)/tests/cross/test_qemu_box.py $(CROSS_TEST_ARGS)

.PHONY: FORCE
FORCE:

cross-wheel:
	VENV=$(VENV) sh $(HERE)/crossenv-wheel.sh $(BOARD)
	SEMS_LITE_CROSS_BOARD=$(BOARD) SEMS_LITE_CROSS_WHEEL="$$(ls $(OUT)/wheel/*.whl)" \
	  $(PY) -m pytest -m cross -v -p no:cacheprovider \
	  $(ROOT)/tests/cross/test_qemu_box.py $(CROSS_TEST_ARGS)
