# SPDX-License-Identifier: GPL-2.0-only
# C plugins (sr-plugin(7)): the test plugins test_plugins and the integration tests load
# (build/test/plugins/NAME.so), and the system plugin folder `make install` creates.
# A plugin includes only sr/plugin.h and links against nothing of sr's.

SR_PLUGIN_DIR  = $(LIBDIR)/sr/plugins
ALL_CFLAGS    += -DSR_PLUGIN_DIR='"$(SR_PLUGIN_DIR)"'
PLUGIN_CFLAGS  = -std=gnu11 $(WARN) $(CFLAGS) -fPIC -shared -Iinclude

TEST_PLUGIN_SRCS = $(sort $(wildcard test/plugins/*.c))
TEST_PLUGINS     = $(patsubst test/plugins/%.c,$(BUILD)/test/plugins/%.so,$(TEST_PLUGIN_SRCS))

# The plugin folder must not be writable by others, or sr refuses what is in it.
$(BUILD)/test/plugins/%.so: test/plugins/%.c include/sr/plugin.h
	@mkdir -p -m 755 $(@D)
	$(CC) $(PLUGIN_CFLAGS) $(LDFLAGS) $< -o $@
	chmod 755 $@

test-plugins: $(TEST_PLUGINS)

# test_plugins finds them through SR_TEST_PLUGINS (tools/run-units.sh runs from the top)
$(BUILD)/test/test_plugins $(BUILD)/test-san/test_plugins: $(TEST_PLUGINS)

install-plugins:
	install -d -m 755 $(DESTDIR)$(SR_PLUGIN_DIR)

.PHONY: test-plugins install-plugins
