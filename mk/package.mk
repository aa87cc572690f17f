# SPDX-License-Identifier: GPL-2.0-only
# mk/package.mk: packaging rules, included by the top-level Makefile.
#
# package-check builds the Debian packages (sr, libsr0, libsr-dev) from a copy of the
# working tree with packaging/debian as debian/, then checks that the binaries, conf.d,
# the examples, the systemd units and the library files are in them and that the
# packaged sr runs. Needs dpkg-dev and debhelper; the .debs are left in build/deb/.
# The RPM spec (packaging/sr.spec) is not built here.

.PHONY: package-check

package-check:
	sh packaging/check-deb.sh $(CURDIR)/$(BUILD)/deb
