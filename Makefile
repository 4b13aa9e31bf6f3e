# headstart: `make demo` trains the quick-start model, `make test` runs the whole test suite.
# Both create .venv and install what they need: first exactly the torch/torchvision versions the
# project is tested with (pyproject.toml only declares the supported range), then headstart.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/headstart train examples/ants_bees --model efficientnet_lite0

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	for b in peak_bench data_bench cache_bench strategy_bench; do $(BIN)/python bench/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) runs
