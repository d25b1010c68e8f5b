# Thin wrapper over CMake/ctest. Every target installs what is missing first.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# Let ccache (used when installed) share objects between clones at other paths.
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= true

.PHONY: deps configure build test demo bench bench-consensus bench-jobs asan clean

deps:
	scripts/install-deps

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

configure: $(BUILD)/build.ninja

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 300

# AddressSanitizer + UBSan build of the whole suite, in its own directory.
asan:
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DPOLDER_SANITIZE=ON -DPOLDER_BUILD_BENCH=OFF"

# libFuzzer targets (fuzz/), built with clang in build-fuzz, FUZZ_SECONDS
# (default 60) each; installs clang when missing. Not part of `make test`.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) JOBS=$(JOBS) fuzz/run.sh

demo: build
	testnet/demo

bench: build
	$(BUILD)/bench/polder-bench-sim
	$(BUILD)/bench/polder-bench-consensus-core
	$(BUILD)/bench/polder-bench-scheduler
	$(BUILD)/bench/polder-bench-consensus-cluster
	$(BUILD)/polder-sim consensus --nodes 9 --jobs 100 --faults crash,restart,partition,loss,dup,reorder --seeds 1..1000 --json
	$(BUILD)/polder-sim gossip --nodes 1000 --loss 0.05 --seed 1 --json
	$(BUILD)/polder-sim sched --sites 20 --jobs 20000 --seed 1 --compare --json

# Per-job Paxos on 3 real processes vs a 3-member etcd cluster (installs
# etcd-server on demand; never needed by build or test). One JSON object.
bench-consensus: build
	BUILD=$(BUILD) bench/etcd_compare.sh

# Jobs end to end on 5 real polderd (loopback, fsync on) for a minute. One JSON object.
bench-jobs: build
	BUILD=$(abspath $(BUILD)) bench/jobs_bench.sh

clean:
	rm -rf $(BUILD) build-asan
