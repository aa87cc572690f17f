# SPDX-License-Identifier: GPL-2.0-only
# mk/confd.mk: conf.d/default.conf, the listing of the option table's defaults. Included by
# the top-level Makefile, which defines BUILD, CC, ALL_CFLAGS, LDLIBS and the rule for
# $(BUILD)/libsr.a.
#
# The defaults live in lib/options.def; config.c applies them and does not read
# conf.d/default.conf. The file is committed (and installed) so an operator can read the
# defaults in config syntax; tools/gen_default_conf writes it from the table.
#
#   make default-conf   write conf.d/default.conf from the table
#   make confd-check    fail when conf.d/default.conf differs from the table

CONFD_GEN = $(BUILD)/tools/gen_default_conf

.PHONY: default-conf confd-check

$(CONFD_GEN): tools/gen_default_conf.c $(BUILD)/libsr.a $(wildcard lib/*.h) lib/options.def
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $< -o $@ $(BUILD)/libsr.a $(LDLIBS)

# Written to a temporary file first, so a failed run never leaves a half file behind.
default-conf: $(CONFD_GEN)
	$(CONFD_GEN) lib/options.def > conf.d/default.conf.tmp || { rm -f conf.d/default.conf.tmp; exit 1; }
	mv conf.d/default.conf.tmp conf.d/default.conf

confd-check: $(CONFD_GEN)
	@$(CONFD_GEN) lib/options.def > $(BUILD)/default.conf.expected
	@diff -u conf.d/default.conf $(BUILD)/default.conf.expected || \
	    { echo "confd-check: conf.d/default.conf differs from lib/options.def: run make default-conf" >&2; exit 1; }
	@echo "confd-check: conf.d/default.conf lists the table's defaults"
