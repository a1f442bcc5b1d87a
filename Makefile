# Two commands for a new user: `make demo` and `make test`.
# Each creates .venv when missing and installs the project into it; the stamp
# makes the install a no-op until pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test doctor clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pam demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

doctor: $(STAMP)
	$(BIN)/pam doctor

clean:
	rm -rf build .pytest_cache
