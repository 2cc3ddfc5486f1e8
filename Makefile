# The two commands a new user runs (see README.md). Both install the Debian packages first
# (scripts/install-deps.sh, idempotent), then build with CMake in build/.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)

.PHONY: all deps configure build quickstart test bench clean

all: build

deps:
	bash scripts/install-deps.sh

configure: deps
	@test -f $(BUILD_DIR)/CMakeCache.txt || cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

quickstart: build
	./$(BUILD_DIR)/ptq run configs/quickstart.yaml

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 1500

bench: build
	./$(BUILD_DIR)/bench_forward
	./$(BUILD_DIR)/bench_gptq
	./$(BUILD_DIR)/bench_hessian
	./$(BUILD_DIR)/bench_calib_memory

clean:
	rm -rf $(BUILD_DIR)
