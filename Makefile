# The two entry points (see README): `make demo` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.audioseek-installed

.PHONY: setup demo test lint format bench clean

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	bash scripts/demo.sh

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: setup lint
	$(PY) -m pytest -q

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	$(PY) benchmarks/bench_audio_io.py
	$(PY) benchmarks/bench_training.py
	$(PY) benchmarks/bench_index.py
	$(PY) benchmarks/bench_serve.py

clean:
	rm -rf $(VENV) build *.egg-info
