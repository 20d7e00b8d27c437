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

MAIN_DATASET ?= scifact-minilm
MAIN_COUNT ?= 100

.PHONY: main test test-slow lint setup docker docker-daemon

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[all]'
	touch $@

# Failed points (recorded beside the results) make the job fail, after the plots and the CSV are written.
main: setup
	status=0; $(PY) run.py --dataset $(MAIN_DATASET) --count $(MAIN_COUNT) || status=$$?; \
	$(PY) plot.py --dataset $(MAIN_DATASET) --count $(MAIN_COUNT) -x k-nn -y qps -o plots/$(MAIN_DATASET)-knn-qps.png && \
	$(PY) plot.py --dataset $(MAIN_DATASET) --count $(MAIN_COUNT) -x ndcg@10 -y qps -o plots/$(MAIN_DATASET)-ndcg-qps.png && \
	$(PY) export.py --dataset $(MAIN_DATASET) --count $(MAIN_COUNT) -o plots/$(MAIN_DATASET).csv && \
	exit $$status

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest

# Heavy real-data checks (full SciFact with MiniLM and with BM25); .ci/run runs them after `make test`.
test-slow: setup
	$(PY) -m pytest -m slow

lint: setup
	$(PY) -m ruff check .

# run.py --docker: a Docker daemon (installed with apt and started when none answers; needs root), then the image built
# from this checkout (topobench:latest; the Debian base is made once with debootstrap and kept).
docker-daemon:
	scripts/docker-daemon.sh

docker: setup docker-daemon
	$(PY) run.py --build-image
