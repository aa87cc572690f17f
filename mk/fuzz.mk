# SPDX-License-Identifier: GPL-2.0-only
# mk/fuzz.mk: libFuzzer targets for the message decoders, the broker headers, the config
# parser and the listing parsers (test/fuzz/README.rst). Included by the top-level
# Makefile, which defines BUILD, ALL_CFLAGS, LDLIBS and LIB_SRCS.
#
# libFuzzer needs clang, so libsr is compiled again with clang and the sanitizers into
# $(BUILD)/fuzz/obj; the gcc build is not touched.
#
#   make fuzz         each target for FUZZ_SECONDS (60) on a copy of its corpus in
#                     $(BUILD)/fuzz/work/<target>; crashes go to $(BUILD)/fuzz/crashes/<target>/
#   make fuzz-check   each target once over its checked-in corpus (no mutation): fails on
#                     any crash, leak or sanitizer report, one summary line

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS  = v03 v02 config headers listing
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_LIB_OBJS = $(patsubst lib/%.c,$(BUILD)/fuzz/obj/%.o,$(LIB_SRCS))
FUZZ_BINS     = $(addprefix $(BUILD)/fuzz/fuzz_,$(FUZZ_TARGETS))
# How every run is made: sr's conf.d for the config target, no terminal on stdin (a
# config may `include /dev/stdin`), a hang reported after 10 s.
FUZZ_ENV      = SR_CONFD=$(CURDIR)/conf.d ASAN_OPTIONS=detect_leaks=1 \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
FUZZ_OPTS     = -timeout=10

.PHONY: fuzz fuzz-check fuzz-build

fuzz-build: $(FUZZ_BINS)

$(BUILD)/fuzz/obj/%.o: lib/%.c $(LIB_HDRS) lib/options.def
	@mkdir -p $(@D)
	$(FUZZ_CC) $(ALL_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) -c $< -o $@

$(BUILD)/fuzz/libsr-fuzz.a: $(FUZZ_LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_BINS): $(BUILD)/fuzz/fuzz_%: test/fuzz/fuzz_%.c $(LIB_HDRS) $(BUILD)/fuzz/libsr-fuzz.a
	$(FUZZ_CC) $(ALL_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) $< -o $@ \
	    $(BUILD)/fuzz/libsr-fuzz.a $(LDLIBS)

# New inputs go to the work folder (the first corpus libFuzzer is given), never into
# test/fuzz/corpus; re-running goes on from what earlier runs found.
fuzz: $(FUZZ_BINS)
	@failed=""; \
	for t in $(FUZZ_TARGETS); do \
	    work=$(BUILD)/fuzz/work/$$t; crashes=$(BUILD)/fuzz/crashes/$$t; log=$(BUILD)/fuzz/$$t.log; \
	    mkdir -p $$work $$crashes && cp test/fuzz/corpus/$$t/* $$work/ || exit 1; \
	    echo "fuzz: $$t for $(FUZZ_SECONDS) s, corpus $$work, crashes in $$crashes/, log $$log"; \
	    $(FUZZ_ENV) $(BUILD)/fuzz/fuzz_$$t $(FUZZ_OPTS) -max_total_time=$(FUZZ_SECONDS) \
	        -print_final_stats=1 -artifact_prefix=$$crashes/ $$work </dev/null > $$log 2>&1; \
	    rc=$$?; \
	    if [ $$rc -eq 0 ]; then grep -E '^#[0-9]+[[:space:]]+DONE|^Done' $$log; \
	    else failed="$$failed $$t"; \
	        awk '/ERROR: |^SUMMARY|Test unit written|^fuzz_/ { print; next } \
	             /^ +#[0-9]+ / { if (!done && n < 8) { print; n++ }; next } \
	             /^$$/ { if (n) done = 1 }' $$log; fi; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crash in$$failed (test/fuzz/README.rst says what next)"; \
	    exit 1; fi; \
	echo "fuzz: $(words $(FUZZ_TARGETS)) targets, $(FUZZ_SECONDS) s each, no crash"

# -runs=0 runs every file of the corpus once and mutates nothing, so nothing is written.
fuzz-check: $(FUZZ_BINS)
	@n=0; \
	for t in $(FUZZ_TARGETS); do \
	    corpus=test/fuzz/corpus/$$t; log=$(BUILD)/fuzz/check-$$t.log; \
	    $(FUZZ_ENV) $(BUILD)/fuzz/fuzz_$$t $(FUZZ_OPTS) -runs=0 \
	        -artifact_prefix=$(BUILD)/fuzz/check-$$t- $$corpus </dev/null > $$log 2>&1 || { \
	        cat $$log; echo "fuzz-check: $$t crashed on an input of $$corpus (log: $$log)"; \
	        exit 1; }; \
	    n=$$((n + $$(ls $$corpus | wc -l))); \
	done; \
	echo "fuzz-check: $(words $(FUZZ_TARGETS)) targets, $$n inputs, no crash"
