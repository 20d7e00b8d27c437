# The two commands of the README: `make main` (the main job) and `make test` (the tests).
# Both create the virtual environment and install everything on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SHARED ?= $(abspath ../shared)

# Offline model cache and data mirror (read-only, never copied into the project).
export HF_HUB_CACHE ?= $(SHARED)/hf/hub
export HF_HUB_OFFLINE ?= 1
export TOPOBENCH_MIRROR ?= $(SHARED)/mirror

MAIN_DATASET ?= random-xs-20-angular
MAIN_COUNT ?= 10

.PHONY: main test test-all lint setup

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all]'
	touch $@

main: setup
	$(PY) run.py --dataset $(MAIN_DATASET) --count $(MAIN_COUNT)
	$(PY) plot.py --dataset $(MAIN_DATASET) --count $(MAIN_COUNT) -x k-nn -y qps -o plots/$(MAIN_DATASET)-knn-qps.png
	$(PY) export.py --dataset $(MAIN_DATASET) --count $(MAIN_COUNT) -o plots/$(MAIN_DATASET).csv

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest

test-all: setup
	$(PY) -m ruff check .
	$(PY) -m pytest -m "not gpu"

lint: setup
	$(PY) -m ruff check .
