# Campaign Lift: every target builds its own virtual environment on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: demo test proto lint clean bench bench-peer-venv bench-policy bench-models bench-quality soak

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: the closed loop on the embedded SQLite default (train, serve, simulate, retrain, summary)
demo: $(STAMP)
	$(VENV)/bin/campaign-lift demo --workdir .demo

## test: the whole test suite (PostgreSQL tests run when CAMPAIGN_LIFT_TEST_POSTGRES_URL is set)
test: $(STAMP)
	$(PY) -m pytest

## bench-policy: bandit policies and Vowpal Wabbit on the simulated world; OPE vs the truth
bench-policy: $(BENCH_STAMP)
	$(PY) -m bench.policy --out docs/benchmarks/policy.json

## proto: regenerate the Python modules from protos/**/*.proto
proto: $(STAMP)
	$(PY) -m protos.generate

## lint: ruff, mypy and the import contracts (what may import what: docs/architecture.md)
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy common server trainer feedback clients bench
	$(VENV)/bin/lint-imports

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

## bench-quality: decision quality on every simulated world, offline and in closed loop through
## the real server, beside per-arm LR, Thompson and Vowpal Wabbit, with PASS/MISS; then the cost
## of the defaults (Hillstrom train, a retrain on 1M logged decisions). About an hour on 2 cores.
QUALITY_ARGS ?=
bench-quality: $(BENCH_STAMP)
	$(PY) -m bench.quality.harness --product --out docs/benchmarks/quality.json $(QUALITY_ARGS)
	$(PY) -m bench.quality.costs --out docs/benchmarks/quality-costs.json

## bench-models: our response and uplift models beside LightGBM and scikit-uplift on Hillstrom
bench-models: $(BENCH_STAMP)
	$(PY) -m bench.models

## soak: a real server at ~70% of measured capacity for 10 minutes (MINUTES=2 for a short run)
MINUTES ?= 10
soak: $(STAMP)
	$(PY) -m bench.soak --minutes $(MINUTES)

clean:
	rm -rf $(VENV) $(PEER_VENV) .demo .pytest_cache .mypy_cache .ruff_cache

## bench: measure against the gRPC floor, in-process onnxruntime and (if installed) MLServer
bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

## bench-peer-venv: Seldon MLServer (sklearn runtime) in its own venv; it cannot share our pins
PEER_VENV := .venv-peer
bench-peer-venv: $(PEER_VENV)/.installed
$(PEER_VENV)/.installed:
	test -x $(PEER_VENV)/bin/python || $(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/python -m pip install --quiet \
	  mlserver==1.7.1 mlserver-sklearn==1.7.1 scikit-learn==1.9.1 pandas==3.1.1 numpy==2.4.6 \
	  uvloop==0.21.0  # 0.22+ breaks MLServer 1.7.1's workers (SeldonIO/MLServer#2286)
	touch $(PEER_VENV)/.installed
