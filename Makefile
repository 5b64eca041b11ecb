# The README's two commands: `make demo` and `make test`. Both install what they need first.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin

# Prefect keeps its database and settings inside the project (git-ignored), never in ~/.prefect.
export PREFECT_HOME := $(CURDIR)/.prefect
# A plain run starts a temporary local Prefect server; on 2 cores it needs ~25 s.
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 180
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := False
export MPLBACKEND := Agg

.PHONY: install demo test test-all lint bench bench-quick bench-leaks bench-relations bench-series bench-memory bench-publish bench-series-publish \
	bench-corpus bench-dask bench-neural serve clean docs-screenshot

install: $(VENV)/.installed

# torch first, pinned to the CPU wheel: a looser spec pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/python -m pipeline.validation.offline_docs
	touch $@

demo: install
	$(BIN)/synth demo

test: install
	$(BIN)/pytest -q

test-all: install
	$(BIN)/pytest -q -m "slow or not slow"

# whole flow runs on a distributed.LocalCluster with 1 and 2 worker processes vs local threads
bench-dask: install
	OMP_NUM_THREADS=1 $(BIN)/python -m benchmarks.dask_scaling

# the README's picture of a report (docs/report.png), rendered in headless Chromium
docs-screenshot: install
	$(BIN)/python -m benchmarks.screenshot

lint: install
	$(BIN)/ruff check pipeline flows tests benchmarks

bench: install
	$(BIN)/python -m benchmarks.run --full
	$(BIN)/python -m benchmarks.leaks --full

# which privacy test catches which injected leak, and honest outputs' false-alarm rate
bench-leaks: install
	$(BIN)/python -m benchmarks.leaks

# the tabular relations step on every offline public table the installed packages ship
bench-relations: install
	OMP_NUM_THREADS=1 $(BIN)/python -m benchmarks.relations_corpus

# hmm and par on every offline public multi-entity time series the installed packages ship
bench-series: install
	OMP_NUM_THREADS=1 $(BIN)/python -m benchmarks.series_corpus

# peak memory of ingest, an HMM panel with one long entity and the privacy metrics
bench-memory: install
	OMP_NUM_THREADS=1 $(BIN)/python -m benchmarks.memory

# our CTGAN and TVAE against SDV's: time per epoch, the physical limit, quality per minute
bench-neural: install
	OMP_NUM_THREADS=1 $(BIN)/python -m benchmarks.neural --threads 1

# how often the default run publishes on 100 random R tables (gmm, with the flow's retry)
bench-publish: install
	OMP_NUM_THREADS=1 $(BIN)/python -m benchmarks.publish_rate

# how often the default hmm publishes on the R data sets that read as series (with the retry)
bench-series-publish: install
	OMP_NUM_THREADS=1 $(BIN)/python -m benchmarks.series_publish_rate

# every tabular model on the offline public tables (benchmarks/corpus.py), then the series
bench-corpus: install
	OMP_NUM_THREADS=1 $(BIN)/python -m benchmarks.corpus
	if [ -f benchmarks/series_corpus.py ]; then OMP_NUM_THREADS=1 $(BIN)/python -m benchmarks.series_corpus; fi

bench-quick: install
	$(BIN)/python -m benchmarks.run --quick

serve: install
	$(BIN)/synth serve

clean:
	rm -rf data/published data/quarantine data/models data/demo .prefect gx/uncommitted
