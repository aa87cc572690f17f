# SPDX-License-Identifier: GPL-2.0-only
# sr: build, test and install. `make` builds everything, `make check` runs every test.
# See README.rst. Targets that need Debian packages run `make deps` first.

PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR   = $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCDIR   = $(PREFIX)/include/sr
DATADIR  = $(PREFIX)/share/sr
MANDIR   = $(PREFIX)/share/man

VERSION      = 0.1.0
SOVERSION    = 0
PYTHON      ?= /usr/bin/python3

PKGS     = librabbitmq libmosquitto libcurl libssh jansson libpcre2-8 openssl libxxhash
BUILD    = build
CC      ?= gcc
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  ?= -O2 -g
# CPPFLAGS, CFLAGS and LDFLAGS from the environment (dpkg-buildflags, rpm) are honoured.
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(WARN) $(CPPFLAGS) $(CFLAGS) -fPIC -Ilib -Iinclude $(PKG_CFLAGS) \
             -DSR_VERSION='"$(VERSION)"' -DSR_CONFD_DIR='"$(DATADIR)/conf.d"'
LDLIBS   = $(PKG_LIBS) -lm -pthread
# Tests build expected messages from paths with snprintf; gcc cannot see the bounds.
TEST_CFLAGS = -Wno-format-truncation
SAN      = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

LIB_SRCS = $(sort $(wildcard lib/*.c))
LIB_HDRS = $(sort $(wildcard lib/*.h)) include/sr/plugin.h
# What libsr-dev installs: every module's header, not what a module shares with its
# backends (*_impl.h).
PUBLIC_HDRS = $(filter-out %_impl.h,$(LIB_HDRS))
CMDS     = sr sr_post sr_watch sr_subscribe sr_sarra sr_shovel sr_sender sr_winnow sr_poll sr_sanity
UNIT_SRCS = $(sort $(wildcard test/unit/test_*.c))
UNITS     = $(patsubst test/unit/%.c,%,$(UNIT_SRCS))

LIB_OBJS      = $(patsubst lib/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
LIB_SAN_OBJS  = $(patsubst lib/%.c,$(BUILD)/san/%.o,$(LIB_SRCS))
BINS          = $(addprefix $(BUILD)/bin/,$(CMDS))
UNIT_BINS     = $(addprefix $(BUILD)/test/,$(UNITS))
UNIT_SAN_BINS = $(addprefix $(BUILD)/test-san/,$(UNITS))

.PHONY: all deps check unit unit-asan valgrind integration py-check install uninstall clean lint format
.SUFFIXES:

all: $(BUILD)/libsr.a $(BUILD)/libsr.so $(BINS) $(BUILD)/sr.pc $(BUILD)/share/sr/conf.d

# ---- library ----
$(BUILD)/obj/%.o: lib/%.c $(LIB_HDRS) lib/options.def | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -c $< -o $@
$(BUILD)/san/%.o: lib/%.c $(LIB_HDRS) lib/options.def | $(BUILD)/san
	$(CC) $(ALL_CFLAGS) $(SAN) -c $< -o $@

$(BUILD)/libsr.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/libsr-san.a: $(LIB_SAN_OBJS)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/libsr.so.$(VERSION): $(LIB_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,libsr.so.$(SOVERSION) -o $@ $^ $(LDLIBS)
$(BUILD)/libsr.so: $(BUILD)/libsr.so.$(VERSION)
	ln -sf libsr.so.$(VERSION) $(BUILD)/libsr.so.$(SOVERSION)
	ln -sf libsr.so.$(VERSION) $@

# The build tree is laid out like an install prefix, so the binaries find conf.d
# (<bin>/../share/sr/conf.d) when run from it.
$(BUILD)/share/sr/conf.d:
	mkdir -p $(BUILD)/share/sr && ln -sfn ../../../conf.d $@

$(BUILD)/sr.pc: packaging/sr.pc.in Makefile | $(BUILD)/obj
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    -e 's|@PKGS@|$(PKGS)|g' $< > $@

# ---- executables: statically linked against libsr so they run from the build tree ----
# --as-needed: an executable loads only the libraries the parts of libsr it uses need
# (sr_post, sr_watch, sr_shovel and sr_winnow never load libcurl and libssh; component.h).
$(BUILD)/bin/%: cmd/%.c $(BUILD)/libsr.a | $(BUILD)/bin
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -Wl,--as-needed $< -o $@ $(BUILD)/libsr.a $(LDLIBS)

# ---- unit tests (cmocka), plain and with sanitizers ----
$(BUILD)/test/%: test/unit/%.c $(wildcard test/unit/*.h) $(BUILD)/libsr.a | $(BUILD)/test
	$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) -Itest/unit $< -o $@ $(BUILD)/libsr.a $(LDLIBS) -lcmocka
$(BUILD)/test-san/%: test/unit/%.c $(wildcard test/unit/*.h) $(BUILD)/libsr-san.a | $(BUILD)/test-san
	$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) $(SAN) -Itest/unit $< -o $@ $(BUILD)/libsr-san.a $(LDLIBS) -lcmocka

$(BUILD)/obj $(BUILD)/san $(BUILD)/bin $(BUILD)/test $(BUILD)/test-san:
	mkdir -p $@

deps:
	@sh tools/deps.sh

# Documentation and packaging rules live beside this file, one job per file.
-include $(sort $(wildcard mk/*.mk))

# Unit tests run from the source tree: they read test/data and conf.d.
unit: $(UNIT_BINS)
	@sh tools/run-units.sh unit $(CURDIR) $(UNIT_BINS)

unit-asan: $(UNIT_SAN_BINS)
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    sh tools/run-units.sh unit-asan $(CURDIR) $(UNIT_SAN_BINS)

# The tests of what reads outside input or keeps state on disk, under valgrind: no
# leak, no invalid access. Valgrind 3.19 does not know openat2 (syscall 437): it answers
# ENOSYS, the jail walks the path instead (what old kernels get), and valgrind's notes
# about the syscall are left out of the output.
valgrind: $(BUILD)/test/test_config $(BUILD)/test/test_credentials $(BUILD)/test/test_message \
          $(BUILD)/test/test_message_wis \
          $(BUILD)/test/test_nodupe $(BUILD)/test/test_retryq $(BUILD)/test/test_metrics \
          $(BUILD)/test/test_identity $(BUILD)/test/test_jail $(BUILD)/test/test_brokerhdr \
          $(BUILD)/test/test_flow $(BUILD)/test/test_seen $(BUILD)/test/test_listing \
          $(BUILD)/test/test_poller $(BUILD)/test/test_plugins \
          $(BUILD)/test/test_plugin_exec $(BUILD)/test/test_builtins
	@for t in $^; do \
	    SR_CONFD=$(CURDIR)/conf.d SR_TEST_DATA=$(CURDIR)/test/data \
	    valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
	    $$t >/dev/null 2>$(BUILD)/valgrind.err; rc=$$?; \
	    grep -v -e 'syscall: 437' -e 'your own handler' -e 'README_MISSING_SYSCALL' \
	        -e 'we consider this a bug' -e 'valgrind.org/support' $(BUILD)/valgrind.err; \
	    [ $$rc -eq 0 ] || exit 1; echo "valgrind: $$t clean"; done

# Helper programs the integration tests drive (test/tools/*.c; never installed).
TOOL_SRCS = $(sort $(wildcard test/tools/*.c))
TOOLS     = $(patsubst test/tools/%.c,$(BUILD)/test/tools/%,$(TOOL_SRCS))
$(BUILD)/test/tools/%: test/tools/%.c $(BUILD)/libsr.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $< -o $@ $(BUILD)/libsr.a $(LDLIBS)

# Our Python (the tests, tools/, bench/) read by pyflakes: an unused import, a name that
# is never defined or an f-string without a field fails here, not halfway through a test.
PY_SRCS = $(sort $(wildcard test/integration/*.py tools/*.py bench/*.py))
py-check:
	@$(PYTHON) -m pyflakes $(PY_SRCS) && echo "py-check: $(words $(PY_SRCS)) files, no warnings"

integration: all $(TOOLS)
	SR_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) -m pytest -q test/integration

check:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory unit-asan
	@$(MAKE) --no-print-directory fuzz-check
	@$(MAKE) --no-print-directory valgrind
	@$(MAKE) --no-print-directory man-check
	@$(MAKE) --no-print-directory confd-check
	@sh tools/spdx.sh check
	@$(MAKE) --no-print-directory py-check
	@$(MAKE) --no-print-directory integration

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR) \
	    $(DESTDIR)$(SR_PLUGIN_DIR) \
	    $(DESTDIR)$(DATADIR)/conf.d $(DESTDIR)$(DATADIR)/examples \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7
	install -m 755 $(BINS) $(DESTDIR)$(BINDIR)
	install -m 644 $(BUILD)/libsr.a $(DESTDIR)$(LIBDIR)
	install -m 755 $(BUILD)/libsr.so.$(VERSION) $(DESTDIR)$(LIBDIR)
	ln -sf libsr.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libsr.so.$(SOVERSION)
	ln -sf libsr.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libsr.so
	install -m 644 $(PUBLIC_HDRS) lib/options.def $(DESTDIR)$(INCDIR)
	install -m 644 $(BUILD)/sr.pc $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 conf.d/*.conf $(DESTDIR)$(DATADIR)/conf.d
	cp -R examples/. $(DESTDIR)$(DATADIR)/examples
	@$(MAKE) --no-print-directory install-man

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(CMDS))
	rm -f $(DESTDIR)$(LIBDIR)/libsr.* $(DESTDIR)$(LIBDIR)/pkgconfig/sr.pc
	rm -rf $(DESTDIR)$(INCDIR) $(DESTDIR)$(DATADIR)
	-rmdir $(DESTDIR)$(SR_PLUGIN_DIR) $(DESTDIR)$(LIBDIR)/sr 2>/dev/null
	@$(MAKE) --no-print-directory uninstall-man

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --suppress=missingIncludeSystem -Ilib lib cmd
	clang-format --dry-run --Werror lib/*.c lib/*.h cmd/*.c test/unit/*.c

format:
	clang-format -i lib/*.c lib/*.h cmd/*.c test/unit/*.c

clean:
	rm -rf $(BUILD)
