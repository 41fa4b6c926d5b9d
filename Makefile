SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: run test install static migrate bench faults clean

$(STAMP): requirements/base.txt requirements/dev.txt
	test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -r requirements/dev.txt
	touch $(STAMP)

install: $(STAMP)

test: install
	$(VENV)/bin/pytest -p no:randomly
