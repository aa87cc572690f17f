# SPDX-License-Identifier: GPL-2.0-only
# make soak (bench/soak.py, bench/README.rst): SR_SOAK_FILES (1000000) files written over
# SR_SOAK_MINUTES (30) minutes through sr_watch -> sr_winnow -> sr_sarra -> sr_shovel
# (AMQP -> MQTT) -> sr_subscribe, against a private RabbitMQ, Mosquitto and two nginx,
# with one fault a minute from the flow test's list (SR_SOAK_FAULTS). Prints each
# instance's RSS and open descriptors at the start, middle and end, the files lost and
# duplicated and the lag p50/p99, and writes bench/out/soak.txt (bench/report.py puts it in
# bench/REPORT.md). Exit 1 when a file is lost. Not part of `make check`. Root for the
# tmpfs trees (without, the trees are on the disk and the diskfull fault is skipped).
# A quick try: make soak SR_SOAK_FILES=66720 SR_SOAK_MINUTES=2
.PHONY: soak
soak: all $(BUILD)/test/tools/sr_broker_tool
	SR_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) bench/soak.py
