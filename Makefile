# furrow - one non-recursive Makefile.
#
#   make            build/furrow: static musl binary, stripped
#   make demo       build, then run furrow's main job on an embedded default
#   make check      every test: unit tests under ASan/UBSan, CLI tests on
#                   the static binary; ends with "N passed, N failed"
#   make dev        build/dev/furrow: glibc, -fsanitize=address,undefined
#   make fuzz       libFuzzer targets (clang) in build/fuzz/
#   make bench      measurements written to build/bench/ (see BENCHMARKS.md)
#   make sbom       build/sbom.cdx.json (CycloneDX) of the linked dependencies
#
# Dependencies are built from pinned Debian source packages (image/deps.lock)
# into $(FURROW_CACHE)/deps/<flavour>-<key>, outside the work tree; the key
# covers the lock file, the build script and the compiler, so a second
# `make` reuses them.

VERSION        := 0.1.0
FURROW_CACHE   ?= $(HOME)/.cache/furrow
BUILD          ?= build
SHELL          := /bin/bash

GIT_REV ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# The revision reaches the code through a generated header, rewritten only
# when it changes: a -D flag is not tracked by make, and objects built before
# a commit would go on printing the old revision.
REV_H := $(BUILD)/gen/build_rev.h
$(shell mkdir -p $(BUILD)/gen && \
  printf '#define FURROW_GIT_REV "%s"\n' '$(GIT_REV)' >$(REV_H).tmp && \
  { cmp -s $(REV_H).tmp $(REV_H) && rm -f $(REV_H).tmp || mv -f $(REV_H).tmp $(REV_H); })
# Reproducible builds: the only clock that reaches the binary.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 1)
export SOURCE_DATE_EPOCH

DEPS_MUSL  := $(FURROW_CACHE)/deps/musl-$(shell image/deps-key.sh musl)
DEPS_GLIBC := $(FURROW_CACHE)/deps/glibc-$(shell image/deps-key.sh glibc)

CORE_SRC := $(sort $(wildcard core/*.c))
CMD_SRC  := $(sort $(wildcard cmd/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
LUA_SRC  := $(sort $(wildcard lua/*.lua))
POLICY_SRC := $(sort $(wildcard policies/*.lua))
# lua/*.lua (by base name) and policies/NAME.lua (as "std:NAME") built into
# the binary as byte arrays (core/embedded.h); its objects come from the
# %.o: %.c rules below, e.g. build/rel/build/gen/.
GEN_EMBED := $(BUILD)/gen/embedded_lua.c
EMBED_ARGS := $(LUA_SRC) $(foreach f,$(POLICY_SRC),std:$(basename $(notdir $(f)))=$(f))

WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wvla -Wformat=2 -Wwrite-strings -fno-common
COMMON_CFLAGS := -std=gnu11 -D_GNU_SOURCE -iquote core -iquote cmd $(WARNINGS) \
                 -iquote $(BUILD)/gen -DFURROW_VERSION='"$(VERSION)"' \
                 -DCURL_STATICLIB -MMD -MP

# Order matters for static archives: users before what they use.
DEP_LIBS := -lgit2 -lhttp_parser -lcurl -lmbedtls -lmbedx509 -lmbedcrypto \
            -llua -llmdb -lcjson -lsodium -lzstd -lz -lm -lpthread

# --- release: static musl --------------------------------------------------
REL_CC     := musl-gcc
REL_CFLAGS := $(COMMON_CFLAGS) -O2 -ffunction-sections -fdata-sections \
              -ffile-prefix-map=$(CURDIR)=. -isystem $(DEPS_MUSL)/include
REL_OBJ    := $(patsubst %.c,$(BUILD)/rel/%.o,$(CORE_SRC) $(CMD_SRC) $(GEN_EMBED))

all: $(BUILD)/furrow

$(BUILD)/.tools-build:
	@mkdir -p $(@D)
	image/ensure-tools.sh build
	@touch $@

$(BUILD)/.tools-test:
	@mkdir -p $(@D)
	image/ensure-tools.sh test
	@touch $@

$(DEPS_MUSL)/.complete $(DEPS_GLIBC)/.complete: image/deps.lock image/build-deps.sh image/fetch-sources.sh | $(BUILD)/.tools-build
	image/fetch-sources.sh $(FURROW_CACHE)/sources
	image/build-deps.sh $(if $(findstring musl-,$@),musl,glibc) $(@D)

$(GEN_EMBED): image/embed.sh $(LUA_SRC) $(POLICY_SRC)
	@mkdir -p $(@D)
	image/embed.sh $@ $(EMBED_ARGS)

$(BUILD)/rel/%.o: %.c | $(DEPS_MUSL)/.complete
	@mkdir -p $(@D)
	$(REL_CC) $(REL_CFLAGS) -c $< -o $@

$(BUILD)/furrow.unstripped: $(REL_OBJ)
	$(REL_CC) -static -o $@ $(REL_OBJ) -L$(DEPS_MUSL)/lib $(DEP_LIBS) \
	  -Wl,--gc-sections -Wl,--build-id=none -Wl,--trace > $(BUILD)/link-trace.txt
	image/check-link.sh $(BUILD)/link-trace.txt $(DEPS_MUSL)

$(BUILD)/furrow: $(BUILD)/furrow.unstripped
	strip --strip-all -o $@ $<
	@ls -l $@ | awk '{print "built " $$NF ", " $$5 " bytes"}'

# --- developer build: glibc + sanitizers, warnings are errors -----------------
DEV_CC     := gcc
SANITIZE   ?= address,undefined
DEV_CFLAGS := $(COMMON_CFLAGS) -Werror -O1 -g -fno-omit-frame-pointer \
              -fsanitize=$(SANITIZE) -fno-sanitize-recover=all \
              -isystem $(DEPS_GLIBC)/include
DEV_OBJ    := $(patsubst %.c,$(BUILD)/dev/%.o,$(CORE_SRC) $(GEN_EMBED))
DEV_CMD    := $(patsubst %.c,$(BUILD)/dev/%.o,$(CMD_SRC))
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/dev/tests/%,$(UNIT_SRC))

dev: $(BUILD)/dev/furrow $(UNIT_BIN)

$(BUILD)/dev/%.o: %.c | $(DEPS_GLIBC)/.complete
	@mkdir -p $(@D)
	$(DEV_CC) $(DEV_CFLAGS) -iquote tests/unit -c $< -o $@

$(BUILD)/dev/furrow: $(DEV_OBJ) $(DEV_CMD)
	$(DEV_CC) -fsanitize=$(SANITIZE) -o $@ $^ -L$(DEPS_GLIBC)/lib $(DEP_LIBS)

$(BUILD)/dev/tests/%: $(BUILD)/dev/tests/unit/%.o $(BUILD)/dev/tests/unit/tap.o $(DEV_OBJ)
	@mkdir -p $(@D)
	$(DEV_CC) -fsanitize=$(SANITIZE) -o $@ $^ -L$(DEPS_GLIBC)/lib $(DEP_LIBS)

# --- fuzzing: libFuzzer with clang against the glibc dependency prefix -------
# The core is compiled once with fuzzer instrumentation; each target links it.
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
FUZZ_OBJ := $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(CORE_SRC) $(GEN_EMBED))
FUZZ_CFLAGS := $(COMMON_CFLAGS) -g -O1 -isystem $(DEPS_GLIBC)/include

fuzz: $(FUZZ_BIN)

$(BUILD)/fuzz/obj/%.o: %.c | $(DEPS_GLIBC)/.complete $(BUILD)/.tools-test
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJ)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< \
	  $(FUZZ_OBJ) -L$(DEPS_GLIBC)/lib $(DEP_LIBS)

# --- tests, demo, benchmarks, SBOM -------------------------------------------
check: $(BUILD)/.tools-test $(BUILD)/furrow dev fuzz
	BUILD=$(BUILD) tests/harness.sh

demo: $(BUILD)/furrow
	BUILD=$(BUILD) image/demo.sh

bench: $(BUILD)/furrow
	BUILD=$(BUILD) bench/run.sh
	BUILD=$(BUILD) bench/sync.sh
	BUILD=$(BUILD) bench/plan.sh
	BUILD=$(BUILD) bench/apply.sh
	BUILD=$(BUILD) bench/container.sh
	BUILD=$(BUILD) bench/backup.sh
	[ -z "$$SOAK_SECONDS" ] || BUILD=$(BUILD) bench/soak.sh

sbom: $(BUILD)/sbom.cdx.json

$(BUILD)/sbom.cdx.json: image/deps.lock image/sbom.sh | $(DEPS_MUSL)/.complete
	@mkdir -p $(@D)
	image/sbom.sh $(DEPS_MUSL) $@

deps: $(DEPS_MUSL)/.complete $(DEPS_GLIBC)/.complete

clean:
	rm -rf $(BUILD)

.PHONY: all dev fuzz check demo bench sbom deps clean
.DELETE_ON_ERROR:
# Keep intermediate objects (unit test .o files): relinking is cheaper.
.SECONDARY:

-include $(REL_OBJ:.o=.d) $(DEV_OBJ:.o=.d) $(DEV_CMD:.o=.d) $(FUZZ_OBJ:.o=.d) \
	$(patsubst %.c,$(BUILD)/dev/%.d,$(UNIT_SRC)) $(FUZZ_BIN:=.d)
