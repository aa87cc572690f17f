# SPDX-License-Identifier: GPL-2.0-only
# mk/man.mk: the manual pages. Included by the top-level Makefile, which defines BUILD,
# CC, ALL_CFLAGS, LDLIBS, MANDIR, DESTDIR and the rule for $(BUILD)/libsr.a.
#
#   man/*.1 man/*.5       written by hand, in plain man(7) macros
#   sr-options(7)         generated into $(BUILD)/man/ from the option table and conf.d by
#                         tools/gen_options_man; a build output, never committed
#
#   make man              generate sr-options.7
#   make man-check        every page through groff and man with warnings on; fails on any
#   make install-man      install them under $(DESTDIR)$(MANDIR)/man{1,5,7}

MAN_SECTION1  = $(sort $(wildcard man/*.1))
MAN_SECTION5  = $(sort $(wildcard man/*.5))
MAN_SECTION7  = $(sort $(wildcard man/*.7))
MAN_OPTIONS   = $(BUILD)/man/sr-options.7
MAN_ALL       = $(MAN_SECTION1) $(MAN_SECTION5) $(MAN_SECTION7) $(MAN_OPTIONS)
MAN_GEN       = $(BUILD)/tools/gen_options_man
# How man(1) is run to check a page: fixed locale and width, so the result does not
# depend on the terminal or the user's environment.
MAN_CHECK_ENV = LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80

.PHONY: man man-check install-man uninstall-man

man: $(MAN_OPTIONS)

$(MAN_GEN): tools/gen_options_man.c $(BUILD)/libsr.a $(wildcard lib/*.h) lib/options.def
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $< -o $@ $(BUILD)/libsr.a $(LDLIBS)

# Written to a temporary file first, so a failed run never leaves a half page behind.
$(MAN_OPTIONS): $(MAN_GEN) lib/options.def $(wildcard conf.d/*.conf)
	@mkdir -p $(@D)
	$(MAN_GEN) lib/options.def conf.d > $@.tmp || { rm -f $@.tmp; exit 1; }
	mv $@.tmp $@

# Each page must give no output on stderr from either formatter, and every sr page it
# refers to (NAME(N) after .BR) must exist. One line per bad page, then a summary.
man-check: $(MAN_OPTIONS)
	@command -v groff >/dev/null && command -v man >/dev/null || \
	    { echo "man-check: groff and man are needed (make deps installs them)" >&2; exit 1; }
	@n=0; bad=0; \
	for page in $(MAN_ALL); do \
	    n=$$((n + 1)); \
	    out=$$( { groff -ww -z -man "$$page" || echo "groff exited $$?"; \
	              $(MAN_CHECK_ENV) man --warnings -E UTF-8 -l -Tutf8 -Z "$$page" >/dev/null || \
	                  echo "man exited $$?"; } 2>&1 ); \
	    missing=""; \
	    for ref in $$(sed -n 's/^\.BR \(sr[a-z_-]*\) (\([1-8]\)).*/\1.\2/p' "$$page"); do \
	        [ -e "man/$$ref" ] || [ "$$ref" = "sr-options.7" ] || missing="$$missing $$ref"; \
	    done; \
	    if [ -n "$$out$$missing" ]; then \
	        bad=$$((bad + 1)); echo "$$page:"; \
	        [ -z "$$out" ] || printf '%s\n' "$$out"; \
	        [ -z "$$missing" ] || echo "refers to pages that do not exist:$$missing"; \
	    fi; \
	done; \
	if [ $$bad -ne 0 ]; then echo "man-check: $$n pages, $$bad with warnings"; exit 1; fi; \
	echo "man-check: $$n pages, no warnings"

install-man: $(MAN_OPTIONS)
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7
	install -m 644 $(MAN_SECTION1) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(MAN_SECTION5) $(DESTDIR)$(MANDIR)/man5
	install -m 644 $(MAN_SECTION7) $(MAN_OPTIONS) $(DESTDIR)$(MANDIR)/man7

uninstall-man:
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN_SECTION1)))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(MAN_SECTION5)))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man7/,$(notdir $(MAN_SECTION7) $(MAN_OPTIONS)))
