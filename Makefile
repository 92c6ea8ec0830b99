# `make run` and `make test` are the whole set-up: each creates .venv when it is missing.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: run test bench clean

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test,export,tensorboard,serve]'
	rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(VENV)/bin/tui-trainer $(ARGS)

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# make bench DATA=DIR [ARGS="--rounds 3"]: the seed-notebook throughput table on DIR's images
bench: $(STAMP)
	@test -n "$(DATA)" || { echo 'make bench needs DATA=DIR (python ../shared/data/make_cifar10.py DIR)'; exit 2; }
	$(VENV)/bin/python benchmarks/throughput.py --data $(DATA) $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
