# SPDX-License-Identifier: GPL-2.0-only
# mk/plugin-examples.mk: the example C plugins (examples/plugins/*.c, sr-plugin(7)), built
# as a user builds one: a shared object of one file, linked against nothing of sr's,
# with the public header from include/ (installed as <sr/plugin.h>). The integration
# tests load them (test/integration/test_plugin_examples.py), so `integration` builds them.
#
#   make plugin-examples    build/examples/plugins/NAME.so for each examples/plugins/NAME.c

PLUGIN_EXAMPLES = $(patsubst examples/plugins/%.c,$(BUILD)/examples/plugins/%.so, \
                    $(sort $(wildcard examples/plugins/*.c)))

.PHONY: plugin-examples
plugin-examples: $(PLUGIN_EXAMPLES)

# The project's warnings but -Wmissing-prototypes: a plugin defines the two symbols sr
# looks up without declaring them first, as its author would.
$(BUILD)/examples/plugins/%.so: examples/plugins/%.c include/sr/plugin.h
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes $(CPPFLAGS) $(CFLAGS) \
	    $(LDFLAGS) -shared -fPIC -Iinclude $< -o $@

integration: $(PLUGIN_EXAMPLES)
