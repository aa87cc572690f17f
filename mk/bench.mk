# SPDX-License-Identifier: GPL-2.0-only
# Benchmarks (bench/README.rst): each prints its figure beside a reference run on the same
# data in the same run. `make bench` builds what they need, then bench/report.py runs each
# `make bench-NAME` in turn (medians of SR_BENCH_RUNS, 5 unless set), keeps its output in
# bench/out/NAME.txt and writes bench/REPORT.md. A new benchmark adds its name to BENCHES
# and what it needs to BENCH_NEEDS. SR_BENCH_MB shrinks the data (default 1 GiB), e.g.
# `make bench SR_BENCH_MB=64`; SR_BENCH_NOTE adds a line to the report's header.

BENCHES = identity codec transfer broker flow http move poll plugin cluster
BENCH_NEEDS = $(BUILD)/bench/identity $(BUILD)/bench/codec $(BUILD)/bench/broker \
              $(BUILD)/bench/relay \
              $(BUILD)/bin/sr $(BUILD)/bin/sr_post $(BUILD)/bin/sr_subscribe \
              $(BUILD)/bin/sr_sender $(BUILD)/bin/sr_shovel $(BUILD)/bin/sr_poll \
              $(BUILD)/test/tools/sr_transfer_tool $(BUILD)/test/tools/sr_broker_tool \
              $(BUILD)/bench/plugin_noop.so $(BUILD)/bench/exec_plugin

.PHONY: bench bench-identity bench-codec

bench: $(BENCH_NEEDS)
	SR_BENCH_MAKE="$(MAKE) BUILD=$(BUILD)" $(PYTHON) bench/report.py $(BENCHES)

$(BUILD)/bench/%: bench/%.c bench/bench.h $(LIB_HDRS) $(BUILD)/libsr.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $< -o $@ $(BUILD)/libsr.a $(LDLIBS)

# Checksums against `openssl dgst`, and the xattr cache. The data goes under the build
# folder, on the disk: /tmp is a tmpfs on many machines, without user xattrs before Linux 6.6.
bench-identity: $(BUILD)/bench/identity
	$(BUILD)/bench/identity $(BUILD)/bench-data

# Messages decoded and encoded per second, v03 against jansson alone and v02 against v03,
# on the golden messages. SR_BENCH_MSGS sets the messages per run (default 200000).
bench-codec: $(BUILD)/bench/codec
	$(BUILD)/bench/codec test/data/messages test/data/wis2

# sftp against OpenSSH's clients (bench/transfer.sh): 2000 files of 4 KiB put by sr vs one
# `sftp -b` batch and `scp` per file, one file of SR_BENCH_MB MiB put and got by sr vs
# `scp`, against a private sshd from the integration tests' fixture. SR_BENCH_RUNS (5),
# SR_BENCH_FILES (2000), SR_BENCH_SCP_FILES (100: scp logs in once per file), SR_BENCH_DIR.
.PHONY: bench-transfer
bench-transfer: $(BUILD)/test/tools/sr_transfer_tool
	PYTHON=$(PYTHON) sh bench/transfer.sh $(BUILD)

# Against private brokers and servers started by the drivers (the integration tests'
# harness, test/integration/servers.py and fixtures_web.py), each under ~3 minutes on 2 cores.
# bench-broker: messages/s through lib/broker.h (confirmed publish in batches of 25 and 100,
# consume with acks) against rabbitmq-c and libmosquitto alone (SR_BENCH_BROKER_MSGS).
# bench-flow: sr_post of 10000 files and sr_shovel of a queued backlog (AMQP -> AMQP to a
# far queue nobody consumes, timed by bench/relay.c depth, at the defaults and other
# settings against bench/relay.c relay; AMQP -> MQTT) against the broker's ceiling, beside
# Python sr3's post and shovel, with each process's peak RSS (SR_BENCH_POST_FILES,
# SR_BENCH_SHOVEL, SR_BENCH_SHOVEL_VARIANTS, SR_BENCH_SHOVEL_MQTT, SR_BENCH_SR3_RUNS ...).
# bench-http: 2000 files of 4 KiB got by sr over one session against one curl per file
# (SR_BENCH_FILES, SR_BENCH_CURL_FILES).
.PHONY: bench-broker bench-flow bench-http
bench-broker: $(BUILD)/bench/broker
	SR_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) bench/broker.py
bench-flow: $(BUILD)/bench/broker $(BUILD)/bench/relay $(BUILD)/bin/sr_post $(BUILD)/bin/sr_shovel \
            $(BUILD)/test/tools/sr_broker_tool
	SR_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) bench/flow.py
bench-http: $(BUILD)/test/tools/sr_transfer_tool
	SR_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) bench/http.py

# The components that move data (bench/move.py): sr_subscribe over http (5000 files of 0-4 KiB
# from a private nginx) against one curl process over one kept-alive connection, and
# sr_sender over sftp (2000 files to the private sshd) against `scp -r`, each with 1 and 4
# instances, as files/s, the ratios sr/curl and sr/scp and each instance's peak RSS
# (SR_BENCH_MOVE_FILES, SR_BENCH_SEND_FILES, SR_BENCH_RUNS).
.PHONY: bench-move
bench-move: $(BUILD)/bin/sr $(BUILD)/bin/sr_post $(BUILD)/bin/sr_subscribe \
            $(BUILD)/bin/sr_sender $(BUILD)/test/tools/sr_broker_tool
	SR_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) bench/move.py

# Listing and announcing a remote tree (bench/poll.py): 100000 files in folders of 1000
# served by a private sshd, pyftpdlib and nginx (autoindex), each polled by sr_poll
# (SR_BENCH_RUNS times) and by Python sr3's poll (../shared/peers, SR_BENCH_POLL_SR3_RUNS
# times, 1) in the same run, timed until a queue has the last message, as files/s, the
# ratio sr/sr3 and each one's peak RSS; the broker's data on a tmpfs. SR_BENCH_POLL_FILES
# (10000 for a quick run), SR_BENCH_POLL_PROTOCOLS, SR_BENCH_POLL_SIDES, SR_BENCH_POLL_BROKER.
.PHONY: bench-poll
bench-poll: $(BUILD)/bin/sr_poll $(BUILD)/bench/broker $(BUILD)/test/tools/sr_broker_tool
	SR_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) bench/poll.py

# What plugins cost sr_shovel (bench/plugin.py): a backlog relayed AMQP -> AMQP with no
# plugin, with a no-op C plugin having every hook (goal: within 3%), and with a no-op
# Python exec plugin on after_accept (goal: >= 5,000 msg/s), alternating in each run,
# beside Python sr3's shovel with a no-op flowcb (../shared/peers) in the same run.
# SR_BENCH_PLUGIN_MSGS (30000), SR_BENCH_PLUGIN_SR3_RUNS (1; 0 skips sr3), SR_BENCH_RUNS.
.PHONY: bench-plugin
# Then bench/exec_plugin.c: the exec plugin's own capacity on after_accept, batched, with
# no broker setting the pace, beside a built-in C plugin on the same batches.
bench-plugin: $(BUILD)/bench/plugin_noop.so $(BUILD)/bench/broker $(BUILD)/bin/sr_post \
              $(BUILD)/bin/sr_shovel $(BUILD)/test/tools/sr_broker_tool $(BUILD)/bench/exec_plugin
	SR_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) bench/plugin.py
	$(BUILD)/bench/exec_plugin $(CURDIR)/conf.d "$(PYTHON) $(CURDIR)/bench/plugin_noop_exec.py"

# The no-op plugin is built as a user builds one (examples/plugins, mk/plugin-examples.mk):
# one file, the public header, nothing of sr's linked in.
$(BUILD)/bench/plugin_noop.so: bench/plugin_noop.c include/sr/plugin.h
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes $(CPPFLAGS) $(CFLAGS) \
	    $(LDFLAGS) -shared -fPIC -Iinclude $< -o $@

# What replication costs (bench/cluster.py): sr_shovel (AMQP -> AMQP) and sr_subscribe (file:
# URLs) with 1, 2, 4 and 8 instances on a classic and on a quorum queue of a private
# three-node RabbitMQ cluster (test/integration/cluster.py), instances spread over the nodes,
# each beside as many rabbitmq-c processes doing the same (bench/relay.c relay and consume),
# as msg/s, the ratio to that ceiling and the ratio quorum/classic. SR_BENCH_CLUSTER_MSGS
# (10000), SR_BENCH_CLUSTER_FILES (2000), SR_BENCH_CLUSTER_COUNTS, SR_BENCH_CLUSTER_TYPES,
# SR_BENCH_CLUSTER_PARTS, SR_BENCH_CLUSTER_SIZE (3), SR_BENCH_RUNS.
.PHONY: bench-cluster
bench-cluster: $(BUILD)/bench/relay $(BUILD)/bench/broker $(BUILD)/bin/sr $(BUILD)/bin/sr_post \
               $(BUILD)/bin/sr_shovel $(BUILD)/bin/sr_subscribe $(BUILD)/test/tools/sr_broker_tool
	SR_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) bench/cluster.py
