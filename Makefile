# The two commands a newcomer needs: `make run` and `make test`.
# Everything else is a step of those or a tool for developers.

BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
JOBS       ?= $(shell nproc)
DEV_DIR    ?= var/dev
FUZZ_SECONDS ?= 60

.PHONY: all build build-all run test test-unit test-e2e test-asan bench fuzz deps deps-test clean format format-check

all: build

deps:
	@scripts/deps.sh run

deps-test:
	@scripts/deps.sh test
	@scripts/npm-deps.sh

$(BUILD)/build.ninja $(BUILD)/Makefile:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: deps $(BUILD)/Makefile
	@cmake --build $(BUILD) -j $(JOBS) --target strongroom -- --no-print-directory

# Everything: the binary, unit tests, fuzz replays, benchmark programs.
build-all: deps $(BUILD)/Makefile
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

# Builds, creates var/dev on first use, starts platform and vault in the
# foreground. Ctrl-C stops both.
run: build
	@scripts/dev-run.sh $(BUILD)/strongroom $(DEV_DIR)

# The whole suite: unit tests, fuzz-corpus replays, source checks and the
# black-box tests on SQLite and on a PostgreSQL started in a temporary folder.
test: deps-test build-all
	@scripts/test.sh $(BUILD)

# Same suite on an AddressSanitizer + UndefinedBehaviorSanitizer build.
test-asan: deps-test
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DSR_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)
	@scripts/test.sh $(BUILD_ASAN)

# Throughput ratios against references measured in the same run.
bench: build-all
	@scripts/deps.sh bench
	@bench/run.sh $(BUILD)/strongroom

# Coverage-guided fuzzing of every tests/fuzz target for FUZZ_SECONDS each.
fuzz: deps-test
	@CC=clang cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=Debug -DSR_FUZZ=ON >/dev/null
	@cmake --build $(BUILD_FUZZ) -j $(JOBS)
	@scripts/fuzz.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

format:
	@clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'bench/*.c')

format-check:
	@clang-format --dry-run -Werror $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'bench/*.c')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
