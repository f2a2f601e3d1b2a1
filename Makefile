# `make demo` runs the whole pipeline on the bundled default; `make test` runs the test suite.
# Both do all set-up first (virtualenv, packages, Docker engine, base image) and are safe to rerun.
.PHONY: setup demo test bench clean-containers

VENV := .venv
QUICK ?=

setup:
	@bash scripts/setup.sh

demo: setup
	@$(VENV)/bin/srl demo $(if $(QUICK),--quick,)

test: setup
	@bash scripts/setup_test_extras.sh
	@$(VENV)/bin/python -m pytest -q -rs $(PYTEST_ARGS)

bench: setup
	@for b in eval/bench_*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

clean-containers:
	@$(VENV)/bin/srl env gc
