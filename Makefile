# SPDX-License-Identifier: GPL-2.0-or-later
#
# nestlab: nested device assignment test appliance.
#
#   make                      build the nestlab CLI (build/nestlab) and the guest binaries
#   make check                the tests through automake's tap-driver.sh; last line "N passed, N failed, N skipped"
#   make check-slow           the slow tier: end-to-end tests too long for make check (three runs at once)
#   make check-fresh          the slowest tier: the README's first command in a fresh Debian 12 root
#   make scenario-NAME        run scenarios/NAME.yaml end to end (e.g. make scenario-nested-igb);
#                             RUN_FLAGS adds options to `nestlab run` (e.g. RUN_FLAGS=--no-setup)
#   make fuzz                 run the libFuzzer targets (FUZZ_SECONDS each, default 600)
#   make deps                 install the Debian packages listed in orchestrator/packages.txt (as root)
#   make build                patched QEMU and Linux from source, cached by content (build-qemu, build-linux)
#   make images               the L1 and L2 images, cached by content
#
# Every target above except deps first runs deps (which installs only what is missing: one dpkg-query
# when nothing is), then does its work in a new make: on a fresh machine pkg-config and the -dev packages
# do not exist when this make starts, so nothing here asks pkg-config before deps has run.
#
# Build outputs of the orchestrator itself go to build/ (ignored by git); QEMU, Linux, images and
# sources go to the cache ($(NESTLAB_CACHE), default ~/.cache/nestlab), keyed by content.

CC        ?= gcc
BUILD     ?= build
PKGS      := yaml-0.1 jansson libcrypto libguestfs zlib libvirt libvirt-qemu
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo 0.1)
WARN      := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes
CFLAGS    ?= -O2 -g
ALL_CFLAGS = $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -DNESTLAB_VERSION='"$(VERSION)"' \
             -ffile-prefix-map=$(CURDIR)=. -Iorchestrator/lib $(PKG_CFLAGS)
FUZZ_SECONDS ?= 600

# pkg-config is asked when a recipe first needs its answer, once per make (the $(eval) keeps it), so a
# make that only runs deps never asks; when it fails, make stops and says what to do.
pkgconf = $(call pkgconf_or_stop,$(shell pkg-config $(1) $(PKGS) 2>/dev/null || echo PKG-CONFIG-FAILED))
pkgconf_or_stop = $(if $(filter PKG-CONFIG-FAILED,$(1)),$(error pkg-config $(PKGS) failed: \
                  pkg-config or a -dev package is missing; run `make deps` as root (plain `make` does too)),$(1))
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(call pkgconf,--cflags))$(PKG_CFLAGS)
LDLIBS = $(eval LDLIBS := $$(call pkgconf,--libs))$(LDLIBS)
TAP_DRIVER = $(firstword $(wildcard /usr/share/automake-*/tap-driver.sh))

LIB_SRCS  := $(sort $(wildcard orchestrator/lib/*.c))
CLI_SRCS  := $(sort $(wildcard orchestrator/cli/*.c))
TEST_SRCS := $(sort $(wildcard orchestrator/tests/test_*.c))
FUZZ_SRCS := $(sort $(wildcard orchestrator/fuzz/fuzz_*.c))
LIB_OBJS  := $(LIB_SRCS:orchestrator/%.c=$(BUILD)/%.o)
CLI_OBJS  := $(CLI_SRCS:orchestrator/%.c=$(BUILD)/%.o)
TESTS     := $(TEST_SRCS:orchestrator/tests/%.c=$(BUILD)/tests/%)
FUZZERS   := $(FUZZ_SRCS:orchestrator/fuzz/%.c=$(BUILD)/fuzz/%)

PROGRAMS  := $(BUILD)/nestlab $(BUILD)/nestlab-agent $(BUILD)/nestlab-vfio-nic

.PHONY: all programs check unit-check check-slow slow-check check-summary check-fresh fresh-check fuzz fuzz-run deps clean \
        scenario-% build-% images build build-qemu build-linux
.SUFFIXES:
.DELETE_ON_ERROR:
.SECONDARY:
.DEFAULT_GOAL := all

# The targets people type: deps, then a new make for the work (see the top of this file).
all: deps
	@$(MAKE) --no-print-directory programs

programs: $(PROGRAMS)

$(BUILD)/%.o: orchestrator/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libnestlab.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/nestlab: $(CLI_OBJS) $(BUILD)/libnestlab.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJS) $(BUILD)/libnestlab.a $(LDLIBS)

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(BUILD)/tests/test.o $(BUILD)/libnestlab.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

-include $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(TESTS:=.d) $(BUILD)/tests/test.d

# ---- tests -------------------------------------------------------------------------------------
# Each unit-test binary prints TAP; automake's tap-driver.sh (from the installed automake package)
# turns it into a .log and a .trs per test, and the summary counts every TAP point once: PASS as passed,
# FAIL, XPASS and ERROR as failed, SKIP as skipped (a skip is not a pass), XFAIL (a `# TODO` point that
# failed) as an expected failure.
check: deps
	@$(MAKE) --no-print-directory unit-check

unit-check: $(TESTS) $(PROGRAMS)
	@test -n "$(TAP_DRIVER)" || { echo "tap-driver.sh not found: install automake (make deps)" >&2; exit 1; }
	@mkdir -p $(BUILD)/test-results; rm -f $(BUILD)/test-results/*.trs
	@for t in $(TESTS); do \
		n=$$(basename $$t); \
		NESTLAB_FIXTURES=orchestrator/tests/fixtures NESTLAB_BIN=$(BUILD)/nestlab \
		$(SHELL) $(TAP_DRIVER) --test-name $$n --log-file $(BUILD)/test-results/$$n.log \
			--trs-file $(BUILD)/test-results/$$n.trs --color-tests no --enable-hard-errors yes \
			--expect-failure no -- $$t; \
	done
	@cat $(BUILD)/test-results/*.trs | $(call summary,$(BUILD)/test-results)

# summary() - the last line of a tier from the .trs files on stdin; $(1): where the logs are
summary = awk ' \
		/^:test-result: PASS/ { pass++ } \
		/^:test-result: (FAIL|XPASS|ERROR)/ { fail++ } \
		/^:test-result: SKIP/ { skip++ } \
		/^:test-result: XFAIL/ { xfail++ } \
		END { if (fail) print "failed: see $(1)/*.log"; \
		      printf "%d passed, %d failed, %d skipped", pass, fail, skip; \
		      if (xfail) printf ", %d expected failures", xfail; \
		      printf "\n"; exit fail != 0 }'

# ---- slow tier ---------------------------------------------------------------------------------
# End-to-end tests that take too long for `make check` (CI runs both): orchestrator/tests/slow/test_*.c,
# TAP binaries like the unit tests, run against the cache (they fill it first when it is cold).
SLOW_TEST_SRCS := $(sort $(wildcard orchestrator/tests/slow/test_*.c))
SLOW_TESTS     := $(SLOW_TEST_SRCS:orchestrator/tests/slow/%.c=$(BUILD)/tests/slow/%)

$(BUILD)/tests/slow/test_%: $(BUILD)/tests/slow/test_%.o $(BUILD)/tests/test.o $(BUILD)/libnestlab.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

-include $(SLOW_TESTS:=.d)

check-slow: deps
	@$(MAKE) --no-print-directory slow-check

slow-check: $(SLOW_TESTS) $(PROGRAMS)
	@test -n "$(TAP_DRIVER)" || { echo "tap-driver.sh not found: install automake (make deps)" >&2; exit 1; }
	@mkdir -p $(BUILD)/test-results-slow; rm -f $(BUILD)/test-results-slow/*.trs
	@for t in $(SLOW_TESTS); do \
		n=$$(basename $$t); \
		NESTLAB_FIXTURES=orchestrator/tests/fixtures NESTLAB_BIN=$(BUILD)/nestlab \
		$(SHELL) $(TAP_DRIVER) --test-name $$n --log-file $(BUILD)/test-results-slow/$$n.log \
			--trs-file $(BUILD)/test-results-slow/$$n.trs --color-tests no --enable-hard-errors yes \
			--expect-failure no -- $$t; \
	done
	@cat $(BUILD)/test-results-slow/*.trs | $(call summary,$(BUILD)/test-results-slow)

# the last line of both tiers together, from the .trs files they left (.ci/run ends with it)
check-summary:
	@cat $(BUILD)/test-results/*.trs $(BUILD)/test-results-slow/*.trs 2>/dev/null | \
		$(call summary,$(BUILD)/test-results and $(BUILD)/test-results-slow)

# ---- fresh-machine tier ------------------------------------------------------------------------
# The README's first command on a fresh Debian 12 root (orchestrator/tests/fresh-machine.sh, TAP).
# Installing the packages into a fresh root is most of it (18-23 min per root on the shared 2-core
# development host), so CI runs it as a job of its own (.ci/run-fresh), not inside .ci/run's 60 minutes.
check-fresh: deps
	@$(MAKE) --no-print-directory fresh-check

fresh-check:
	@test -n "$(TAP_DRIVER)" || { echo "tap-driver.sh not found: install automake (make deps)" >&2; exit 1; }
	@mkdir -p $(BUILD)/test-results; rm -f $(BUILD)/test-results/fresh-machine.trs
	@$(SHELL) $(TAP_DRIVER) --test-name fresh-machine --log-file $(BUILD)/test-results/fresh-machine.log \
		--trs-file $(BUILD)/test-results/fresh-machine.trs --color-tests no --enable-hard-errors yes \
		--expect-failure no -- $(SHELL) orchestrator/tests/fresh-machine.sh
	@cat $(BUILD)/test-results/fresh-machine.trs | $(call summary,$(BUILD)/test-results)

# ---- fuzzing -----------------------------------------------------------------------------------
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
              -std=gnu11 -D_GNU_SOURCE -DNESTLAB_VERSION='"fuzz"' -Iorchestrator/lib $(PKG_CFLAGS)

$(BUILD)/fuzz/fuzz_%: orchestrator/fuzz/fuzz_%.c $(LIB_SRCS)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRCS) $(LDLIBS)

fuzz: deps
	@$(MAKE) --no-print-directory fuzz-run

fuzz-run: $(FUZZERS)
	@for f in $(FUZZERS); do \
		n=$$(basename $$f); n=$${n#fuzz_}; \
		mkdir -p $(BUILD)/fuzz/corpus-$$n; \
		echo "fuzz $$n for $(FUZZ_SECONDS) s (corpus orchestrator/fuzz/corpus/$$n)"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/$$n- \
			$(BUILD)/fuzz/corpus-$$n orchestrator/fuzz/corpus/$$n || exit 1; \
	done

# ---- set-up ------------------------------------------------------------------------------------
# Installs only what is missing, so a warm run costs one dpkg-query for the whole list.
deps:
	@pkgs=$$(grep -v '^\s*\(#\|$$\)' orchestrator/packages.txt); \
	installed=$$(dpkg-query -W -f='$${db:Status-Abbrev}$${Package}\n' $$pkgs 2>/dev/null | sed -n 's/^ii *//p'); \
	missing=$$(printf '%s\n' $$pkgs | grep -vxF -e "$$installed"); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		if [ "$$(id -u)" != 0 ]; then echo "not root: install these packages first:" $$missing >&2; exit 1; fi; \
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q -y update >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q -y install --no-install-recommends $$missing; \
	fi

# Everything the run needs is built on the way (QEMU, Linux, images: cached by content); the agent and
# the L2 driver go into the images, so they are built first. RUN_FLAGS: more `nestlab run` options.
RUN_FLAGS ?=
scenario-%: deps
	@$(MAKE) --no-print-directory programs
	$(BUILD)/nestlab run $(RUN_FLAGS) scenarios/$*.yaml

# ---- QEMU and Linux from source (issue 3) -------------------------------------------------------
# `nestlab build` keeps them under $(NESTLAB_CACHE)/{qemu,linux}/<key>, with a `current` link.
build-qemu build-linux: deps
	@$(MAKE) --no-print-directory $(BUILD)/nestlab
	$(BUILD)/nestlab build $(@:build-%=%)

build: deps
	@$(MAKE) --no-print-directory $(BUILD)/nestlab
	$(BUILD)/nestlab build all

# ---- L1 and L2 images (issue 4) ------------------------------------------------------------------
# `nestlab images` keeps them under $(NESTLAB_CACHE)/images/{rootfs,l2,l1}/<key>, with a `current` link
# to the L1 directory; it takes the kernel and QEMU from `nestlab build` and the agent from here.
images: deps
	@$(MAKE) --no-print-directory programs
	$(BUILD)/nestlab images

clean:
	rm -rf $(BUILD)

# ---- guest agent -------------------------------------------------------------------------------
# nestlab-agent runs in L1 and L2 (orchestrator/agent/), linked statically so that it needs nothing
# from the guest's userspace; it shares the wire format (lib/agent_proto.c) with the orchestrator.
AGENT_SRCS := $(sort $(wildcard orchestrator/agent/*.c))
AGENT_OBJS := $(AGENT_SRCS:orchestrator/%.c=$(BUILD)/%.o) \
              $(BUILD)/lib/agent_proto.o $(BUILD)/lib/util.o $(BUILD)/lib/error.o

# The guest binaries go into the images, which are cached by their bytes. So they carry a version made
# of the sources they are built from rather than git's, and (-ffile-prefix-map above) no absolute build
# path: the same sources give the same binaries in any commit and any checkout, and the images stay cached.
GUEST_SRCS := $(sort $(wildcard orchestrator/agent/*.[ch] orchestrator/vfio-nic/*.[ch])) \
              $(foreach m,agent_proto util error frame_gen vnic_ring vnic_cmd,orchestrator/lib/$(m).c orchestrator/lib/$(m).h)
GUEST_VERSION := src-$(shell cat $(GUEST_SRCS) | sha256sum | cut -c1-12)
$(BUILD)/agent/%.o $(BUILD)/vfio-nic/%.o: VERSION = $(GUEST_VERSION)

$(BUILD)/nestlab-agent: $(AGENT_OBJS)
	$(CC) $(CFLAGS) -static -o $@ $^

# the end-to-end tests run the real agent binary ($$NESTLAB_AGENT, default build/nestlab-agent)
$(BUILD)/tests/test_agent_proto $(BUILD)/tests/test_agent_client $(BUILD)/tests/test_agent_qmp: | $(BUILD)/nestlab-agent

-include $(AGENT_SRCS:orchestrator/%.c=$(BUILD)/%.d)

# ---- hostile test agent ------------------------------------------------------------------------
# nestlab-agent-hostile (orchestrator/tests/hostile_agent.c) attacks the host side for test_hostile; it
# is a test build only: never in an image, and outside GUEST_SRCS so that it does not change the image key.
$(BUILD)/tests/nestlab-agent-hostile: $(BUILD)/tests/hostile_agent.o $(BUILD)/lib/agent_proto.o \
		$(BUILD)/lib/util.o $(BUILD)/lib/error.o
	$(CC) $(CFLAGS) -static -o $@ $^

$(BUILD)/tests/test_hostile $(BUILD)/tests/slow/test_hostile_run: | $(BUILD)/tests/nestlab-agent-hostile $(BUILD)/nestlab

-include $(BUILD)/tests/hostile_agent.d

# ---- userspace vfio NIC driver -----------------------------------------------------------------
# nestlab-vfio-nic runs in L2 (or any guest with an IOMMU): a polling VFIO driver for igb and e1000e
# (orchestrator/vfio-nic/, docs/vfio-nic.md), static like the agent. Its pure parts (frame_gen,
# vnic_ring, vnic_cmd) live in the library so that the unit tests link them.
VFIO_NIC_SRCS := $(sort $(wildcard orchestrator/vfio-nic/*.c))
VFIO_NIC_OBJS := $(VFIO_NIC_SRCS:orchestrator/%.c=$(BUILD)/%.o) \
                 $(BUILD)/lib/frame_gen.o $(BUILD)/lib/vnic_ring.o $(BUILD)/lib/vnic_cmd.o \
                 $(BUILD)/lib/util.o $(BUILD)/lib/error.o

$(BUILD)/nestlab-vfio-nic: $(VFIO_NIC_OBJS)
	$(CC) $(CFLAGS) -static -o $@ $^

# test_vfio_nic runs the built program's host-side commands ($$NESTLAB_VFIO_NIC, default build/nestlab-vfio-nic)
$(BUILD)/tests/test_vfio_nic: | $(BUILD)/nestlab-vfio-nic

-include $(VFIO_NIC_SRCS:orchestrator/%.c=$(BUILD)/%.d)
