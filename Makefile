# haplane: `make run` starts a local HA cluster, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test unit integration chaos bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m haplane up --replicas 3 --agents 2 --data-dir .haplane --demo

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

integration: $(STAMP)
	$(PY) -m pytest -q tests/integration

chaos: $(STAMP)
	$(PY) -m haplane chaos run --report reports/chaos

bench: $(STAMP)
	$(PY) bench/write_throughput.py --out bench/results/write_throughput.json
	$(PY) bench/failover.py --out bench/results/failover.json
	$(PY) bench/pod_startup.py
	$(PY) bench/heartbeat_cost.py
	$(PY) bench/scheduler.py --out bench/results/scheduler.json
	$(PY) bench/reschedule.py --out bench/results/reschedule.json
	$(PY) bench/controller_failover.py --out bench/results/controller_failover.json
	$(PY) bench/proxy.py --out bench/results/proxy.json
	$(PY) bench/metrics_cost.py --out bench/results/metrics_cost.json
	$(PY) bench/dashboard.py --out bench/results/dashboard.json
	$(PY) bench/vs_etcd.py --out bench/results/vs_etcd.json
	$(PY) bench/vs_swarm.py --out bench/results/vs_swarm.json
	$(PY) bench/scale.py --out bench/results/scale.json

lint: $(STAMP)
	$(VENV)/bin/ruff check haplane node_agent chaos tests bench

clean:
	rm -rf $(VENV) .haplane *.egg-info
