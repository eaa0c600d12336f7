# One entry point per job. Every target sets up the virtualenv first, so a fresh clone needs only `make X`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install train test test-fast lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# torch threads for `make train`: one per CPU this process may use (override: make train THREADS=1). Set here so a
# user need not know that torch's default can oversubscribe a shared or hyper-threaded machine.
THREADS ?= $(shell $(PYTHON) -c "import os; print(len(os.sched_getaffinity(0)))" 2>/dev/null || echo 2)

train: $(STAMP)
	OMP_NUM_THREADS=$(THREADS) MKL_NUM_THREADS=$(THREADS) $(BIN)/gan-train experiment=digits_dcgan

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check gan tests experiments

bench: $(STAMP)
	$(BIN)/python -m gan.bench

clean:
	rm -rf outputs multirun .cache
