# SPDX-License-Identifier: GPL-2.0-only
# make flowtest: the long form of the flow test (test/integration/test_flow.py, with the
# pump of test/flow/): SR_FLOW_N files (3000 by default) of 0 B to 20 MiB and three of
# 200 MiB, written over two minutes, through every fault scenario in turn (RabbitMQ and
# Mosquitto restarted, instances killed, sshd stopped, nginx answering 503, a full disk),
# then the hostile input test. Not part of `make check`, which runs the short form (300
# files, one scenario picked by a seed). SR_FLOW_SEED=<seed> replays a run; with
# SR_FLOW_FAULT=<name>, that scenario alone (a failure prints the variables that replay
# it). Needs root (tmpfs).
SR_FLOW_N ?= 3000
.PHONY: flowtest
flowtest: all $(BUILD)/test/tools/sr_broker_tool
	SR_BUILD=$(CURDIR)/$(BUILD) SR_FLOW_ALL=1 SR_FLOW_N=$(SR_FLOW_N) \
	    $(PYTHON) -m pytest -q -s test/integration/test_flow.py test/integration/test_flow_hostile.py
