# sampan: convenience front end over CMake. The two commands that matter:
#
#   make test    install missing deps, build with ASan/UBSan (Debug), run ctest
#   make run     install missing deps, build, run a local 3-node cluster
#                (build/bin/sampan cluster; Ctrl-C stops it)
#
# Other targets: deps, build, lint (other compiler + clang-format), release,
# clean, format, format-check, jepsen (the bounded black-box fault set),
# jepsen-campaign (RUNS runs of DURATION seconds over every configuration).
#
# Variables:
#   BUILD_DIR      build tree for test/run/build. Defaults to `build`, or to
#                  `build-<compiler>` when CC is given explicitly (for example
#                  `CC=clang make test` builds in build-clang), so switching
#                  compilers never collides with an existing CMake cache.
#   RELEASE_DIR    build tree for `make release` (default build-release, or
#                  build-release-<compiler> when CC is given explicitly).
#   JOBS           parallelism for build and ctest (default 2).
#   CLANG_FORMAT   clang-format binary (default clang-format).

CMAKE        ?= cmake
CTEST        ?= ctest
CLANG_FORMAT ?= clang-format
JOBS         ?= 2

# CC's origin is "default" unless the user set it in the environment or on
# the command line; only then do we pin the compiler and pick its own tree.
ifeq ($(origin CC),default)
BUILD_DIR    ?= build
RELEASE_DIR  ?= build-release
CMAKE_CC     :=
else
BUILD_DIR    ?= build-$(notdir $(CC))
RELEASE_DIR  ?= build-release-$(notdir $(CC))
CMAKE_CC     := -DCMAKE_C_COMPILER=$(CC)
endif

FORMAT_DIRS  := src include tests

# cmake --build runs make underneath; keep its output free of directory noise.
MAKEFLAGS    += --no-print-directory

.PHONY: all deps configure build test lint tsan run sim-demo release clean format format-check \
	jepsen jepsen-campaign

all: build

deps:
	bash scripts/deps.sh

configure: deps
	$(CMAKE) -S . -B $(BUILD_DIR) $(CMAKE_CC) \
		-DSAMPAN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug

build: configure
	$(CMAKE) --build $(BUILD_DIR) -j$(JOBS)

test: build lint tsan
	cd $(BUILD_DIR) && $(CTEST) --output-on-failure --no-tests=error -j$(JOBS)

# The tree must compile warning-free with both compilers, optimized too
# (gcc -O2 warns about things -O0 cannot see), and be clang-format clean.
LINT_PREFIX  ?= build-lint

lint: deps format-check
	for cc in gcc clang; do \
		$(CMAKE) -S . -B $(LINT_PREFIX)-$$cc -DCMAKE_C_COMPILER=$$cc \
			-DSAMPAN_SANITIZE=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null && \
		$(CMAKE) --build $(LINT_PREFIX)-$$cc -j$(JOBS) || exit 1; \
	done

# Black-box fault runs against the build's binary (tests/jepsen/run.py).
RUNS         ?= 50
DURATION     ?= 60

jepsen: build
	SAMPAN_BIN=$(BUILD_DIR)/bin/sampan /usr/bin/python3 tests/jepsen/run.py ci \
		--out $(BUILD_DIR)/jepsen

jepsen-campaign: build
	SAMPAN_BIN=$(BUILD_DIR)/bin/sampan /usr/bin/python3 tests/jepsen/run.py campaign \
		--runs $(RUNS) --duration $(DURATION) --quiet --out $(BUILD_DIR)/jepsen

# The main job: a local 3-node cluster (separate `sampan serve` processes on
# 127.0.0.1:7379-7381, data in ./sampan-cluster) until Ctrl-C.
run: build
	$(BUILD_DIR)/bin/sampan cluster

# ThreadSanitizer where threads meet: the server's snapshot worker.
TSAN_DIR     ?= build-tsan

tsan: deps
	$(CMAKE) -S . -B $(TSAN_DIR) -DCMAKE_C_COMPILER=clang \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS=-fsanitize=thread \
		-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread >/dev/null
	$(CMAKE) --build $(TSAN_DIR) -j$(JOBS) --target sampan
	bash tests/cli/tsan_snapshots.sh $(TSAN_DIR)/bin/sampan

# The simulator's readable trace: an election, commits, a leader crash.
sim-demo: build
	$(BUILD_DIR)/bin/sampan-sim --demo

release: deps
	$(CMAKE) -S . -B $(RELEASE_DIR) $(CMAKE_CC) \
		-DSAMPAN_SANITIZE=OFF -DCMAKE_BUILD_TYPE=Release
	$(CMAKE) --build $(RELEASE_DIR) -j$(JOBS)

clean:
	rm -rf $(sort build $(patsubst %/,%,$(wildcard build-*/)) $(BUILD_DIR) $(RELEASE_DIR))

# xargs -r: with no files, clang-format must not fall back to reading stdin.
format:
	find $(FORMAT_DIRS) -type f \( -name '*.c' -o -name '*.h' \) -print0 \
		2>/dev/null | xargs -0 -r $(CLANG_FORMAT) -i

format-check:
	find $(FORMAT_DIRS) -type f \( -name '*.c' -o -name '*.h' \) -print0 \
		2>/dev/null | xargs -0 -r $(CLANG_FORMAT) --dry-run -Werror

# --- tools: benchmarks ---------------------------------------------------------
# bench-wal: optimized build in $(RELEASE_DIR), then the WAL benchmark
# (prints figures, never fails on them). Extra flags through BENCH_ARGS, for
# example: make bench-wal BENCH_ARGS='--dir /mnt/ssd --seconds 10'
BENCH_ARGS ?=

# bench/ is C of ours too: format and format-check cover it.
FORMAT_DIRS  += bench

.PHONY: bench-wal

bench-wal: deps
	$(CMAKE) -S . -B $(RELEASE_DIR) $(CMAKE_CC) \
		-DSAMPAN_SANITIZE=OFF -DCMAKE_BUILD_TYPE=Release
	$(CMAKE) --build $(RELEASE_DIR) -j$(JOBS) --target sampan-bench-wal
	$(RELEASE_DIR)/bin/sampan-bench-wal $(BENCH_ARGS)

# bench: sampan beside etcd and Redis (bench/compare.py): installs the peers
# from Debian if missing, builds sampan and its load generator in Release,
# starts each system in turn on 127.0.0.1 and prints one table. Flags
# through COMPARE_ARGS, e.g. COMPARE_ARGS='--repeat 1 --duration 3'.
COMPARE_ARGS ?=

.PHONY: bench

bench:
	bash scripts/deps.sh etcd-server etcd-client redis-server redis-tools
	$(CMAKE) -S . -B $(RELEASE_DIR) $(CMAKE_CC) \
		-DSAMPAN_SANITIZE=OFF -DCMAKE_BUILD_TYPE=Release
	$(CMAKE) --build $(RELEASE_DIR) -j$(JOBS) --target sampan sampan-loadgen
	/usr/bin/python3 bench/compare.py --sampan-bin $(RELEASE_DIR)/bin/sampan \
		--loadgen $(RELEASE_DIR)/bin/sampan-loadgen $(COMPARE_ARGS)
