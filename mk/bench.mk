# Benchmarks (bench/README.rst): each prints its figure beside a reference run on the same
# data in the same run. `make bench` runs them all; each benchmark adds itself to `bench`.
# SR_BENCH_MB shrinks the data (default 1 GiB), e.g. `make bench SR_BENCH_MB=64`.

.PHONY: bench bench-identity bench-codec

bench: bench-identity bench-codec

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
	$(BUILD)/bench/codec test/data/messages
