# SPDX-License-Identifier: GPL-2.0-only
# make demo: the main job on this machine, from nothing: installs what is missing, builds,
# starts a private Mosquitto and nginx, runs a watch and a subscribe under `sr start`, and
# shows files flowing (tools/demo.py says what and where).
.PHONY: demo
demo:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	SR_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) tools/demo.py
