# QuantCore Platform: `make run` and `make test` install whatever is missing, then run.
# Every step is a file target, so re-running with nothing changed takes a second.
SHELL := /bin/bash
PY_VERSION ?= python3.11
QC_HOME := $(or $(QUANTCORE_HOME),$(CURDIR)/.quantcore)
# Jars stay with the checkout (not the platform home), so any home can use them.
JARS := $(or $(QUANTCORE_JARS_DIR),$(CURDIR)/.quantcore/jars)
VENV := .venv
PY := $(VENV)/bin/python
PROTOS := $(wildcard proto/quantcore/v1/*.proto)
# Generated into the shared core: proto/quantcore/v1/x.proto -> quantcore/v1/x_pb2.py (module quantcore.v1.x_pb2).
PROTO_OUT := quantcore/v1/quantcore.desc
SPARK_SRC := $(shell find jvm/spark/src -name '*.java' 2>/dev/null)
# The fanout benchmark's Go load client; where bench/go_client.py builds it too (tests build it lazily).
LOADCLIENT := $(CURDIR)/.quantcore/bin/qc-subscribers
LOADCLIENT_SRC := $(filter-out %_test.go,$(wildcard bench/loadclient/*.go)) bench/loadclient/go.mod bench/loadclient/go.sum
PYTEST_ARGS ?=

.PHONY: setup setup-parts run test test-chaos bench-smoke proto jars loadclient system-packages clean distclean bench

# The parts install side by side (pip, pip, Maven and apt wait on the network, not on each
# other); each one's output is shown whole when it ends.
setup:
	@$(MAKE) --no-print-directory -j4 --output-sync=target setup-parts

setup-parts: $(VENV)/.installed .venv-checkov/.installed $(PROTO_OUT) $(JARS)/.kafka $(JARS)/.spark system-packages

run: setup
	$(VENV)/bin/quantcore up

# The product's suite. Kept out of it for its length, and run by CI after it (.ci/run):
# - `make test-chaos`: the fault-injection suites, kill -9 of each component on the seed
#   platform (tests/chaos), then the platform as a cluster, three Kafka nodes and a Spark
#   master with two workers, a dozen JVMs on 2 cores (tests/cluster); about fifteen minutes.
#   Two sessions: the seed platform is down before the cluster starts.
# - `make bench-smoke`: each benchmark's seconds-long smoke (each starts its own broker,
#   Redis and Spark: six minutes together).
BENCH_SMOKE := tests/bench/test_bench_smoke.py
CHAOS_SUITES := tests/chaos tests/cluster

test: setup
	$(PY) -m pytest $(PYTEST_ARGS) --ignore=$(BENCH_SMOKE) $(addprefix --ignore=,$(CHAOS_SUITES))

test-chaos: setup
	$(foreach suite,$(CHAOS_SUITES),$(PY) -m pytest $(PYTEST_ARGS) $(suite) &&) true

bench-smoke: setup
	$(PY) -m pytest $(PYTEST_ARGS) $(BENCH_SMOKE)

proto: $(PROTO_OUT)
jars: $(JARS)/.kafka $(JARS)/.spark

$(VENV)/.installed: pyproject.toml
	@command -v $(PY_VERSION) >/dev/null || { echo "Python 3.11 is required ($(PY_VERSION) not found)"; exit 1; }
	test -x $(PY) || $(PY_VERSION) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# checkov pins old dependencies that clash with dagster's: it lives in its own venv.
.venv-checkov/.installed:
	test -x .venv-checkov/bin/python || $(PY_VERSION) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install -q 'checkov>=3.2,<4'
	touch $@

$(PROTO_OUT): $(PROTOS) $(VENV)/.installed
	mkdir -p quantcore/v1
	$(PY) -m grpc_tools.protoc -I proto --python_out=. --grpc_python_out=. --pyi_out=. \
	  --descriptor_set_out=$@ --include_imports $(PROTOS)

$(JARS)/.kafka: jvm/kafka/pom.xml
	@command -v mvn >/dev/null || { echo "Maven is required: apt-get install -y maven"; exit 1; }
	rm -rf $(JARS)/kafka
	mvn -q -B -f jvm/kafka/pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(JARS)/kafka
	touch $@

$(JARS)/.spark: jvm/spark/pom.xml $(SPARK_SRC) | $(JARS)/.kafka  # after it: one Maven at a time on ~/.m2
	@command -v mvn >/dev/null || { echo "Maven is required: apt-get install -y maven"; exit 1; }
	rm -rf $(JARS)/spark
	mvn -q -B -f jvm/spark/pom.xml package dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(JARS)/spark
	cp jvm/spark/target/quantcore-spark.jar $(JARS)/spark/
	touch $@

loadclient: $(LOADCLIENT)

$(LOADCLIENT): $(LOADCLIENT_SRC)
	@command -v go >/dev/null || { echo "Go 1.26+ is required for the fanout load client: apt-get install golang (or https://go.dev/dl)"; exit 1; }
	cd bench/loadclient && CGO_ENABLED=0 go build -o $@ ./

# Redis and Chromium (browser tests) come from the OS; installed when we are root.
system-packages:
	@missing=""; command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	 command -v chromium >/dev/null || missing="$$missing chromium"; \
	 if [ -n "$$missing" ]; then \
	   if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	   else echo "please install:$$missing (sudo apt-get install -y$$missing)"; exit 1; fi; \
	 fi

bench: setup loadclient
	$(VENV)/bin/quantcore bench all

clean:
	rm -rf quantcore/v1 $(PROTO_OUT) jvm/*/target $(JARS) .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .venv-checkov $(QC_HOME)
