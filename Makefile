# radsynth: set-up from nothing, demo, tests.
# `make demo` creates .venv (torch==2.13.0 first: a local CPU wheel), installs radsynth,
# then builds the demo brain-MRI cohort into demo-out/, physics-based chest radiographs and chest CT
# from the shipped real chest anatomy into demo-out/chest-xray/ and demo-out/chest-ct/, and samples
# a chest X-ray cohort from the shipped generator cxr-ddpm-64 into demo-out/cxr-ddpm/.
# `make test` runs the test suite.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.radsynth-installed
OUT ?= demo-out
WORKERS ?= 2

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: any other spec pulls GBs of CUDA wheels
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: setup
	rm -rf $(OUT)
	$(BIN)/radsynth cohort build examples/brain-mri.yaml --out $(OUT) --workers $(WORKERS)
	$(BIN)/radsynth cohort build examples/chest-xray.yaml --out $(OUT)/chest-xray --workers $(WORKERS)
	$(BIN)/radsynth cohort build examples/chest-ct.yaml --out $(OUT)/chest-ct --workers $(WORKERS)
	$(BIN)/radsynth cohort build examples/cxr-ddpm.yaml --out $(OUT)/cxr-ddpm --workers $(WORKERS)
	@echo "Open $(OUT)/dataset_card.md, the previews in $(OUT)/subjects/*/png, and $(OUT)/manifest.parquet;"
	@echo "physics-based chest radiographs: $(OUT)/chest-xray, chest CT (with low-dose twins): $(OUT)/chest-ct;"
	@echo "chest X-rays sampled from the shipped model cxr-ddpm-64: $(OUT)/cxr-ddpm (dataset_card.md, subjects/*/png)."

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/bench_mri.py

clean:
	rm -rf $(OUT) .pytest_cache build *.egg-info
