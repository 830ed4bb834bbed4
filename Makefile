# The two commands of the README: `make run` and `make test`. Everything installs itself into
# .venv from the pinned constraints.txt, so a fresh machine needs only python3 (3.11) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= var
DEMO_CITIZENS ?= 2000
PORT ?= 8866
REPORT_YEAR ?= $(shell expr $$(date +%Y) - 1)
# The Python the lab runs as the research account when started by root (docs/research.md); empty:
# this venv's Python, which that account must be able to run.
LAB_PYTHON ?= $(HJERTEKOM_LAB_PYTHON)

.PHONY: install chromium nginx run demo test test-fast lint bench lock clean help lab

help:
	@echo "make run    set up, create the SQLite store with demo data and users, serve the entry app on :8866"
	@echo "make test   set up and run the whole test suite (SQLite and PostgreSQL)"
	@echo "make bench  run the benchmarks (ratios against baselines measured in the same run)"
	@echo "make lab    JupyterLab on the research workspace $(DATA_DIR)-research: pseudonymised snapshots and the"
	@echo "            research notebooks (a snapshot is made if none exists; as root it runs as the research account)"
	@echo "make lock   re-resolve the dependencies and rewrite constraints.txt"

$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: install
	HJERTEKOM_DATA_DIR=$(DATA_DIR) $(BIN)/hjertekom init
	HJERTEKOM_DATA_DIR=$(DATA_DIR) $(BIN)/hjertekom demo --if-empty --citizens $(DEMO_CITIZENS) --seed 1
	HJERTEKOM_DATA_DIR=$(DATA_DIR) $(BIN)/hjertekom status
	@# Silkeborg's report of last year, so that the coordinator's "Rapporter" page has one to show.
	test -e reports/$(REPORT_YEAR)/740-silkeborg.pdf || \
	  HJERTEKOM_DATA_DIR=$(DATA_DIR) $(BIN)/hjertekom report municipality --municipality 740 --period $(REPORT_YEAR)
	@echo "Demo logins (username / password): kliniker / demo-clinician, koordinator / demo-coordinator,"
	@echo "  klinik101 / demo-clinician (København), admin / demo-systemansvarlig"
	HJERTEKOM_DATA_DIR=$(DATA_DIR) $(BIN)/hjertekom serve --port $(PORT)

# The browser tests drive Debian's chromium (browser downloads are impossible here).
chromium:
	@test -x /usr/bin/chromium || { if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "The browser tests need Debian's chromium: sudo apt-get install chromium"; exit 1; fi; }

# The hosted set-up's tests run Debian's nginx as a process of their own (tests/hosted_stack.py);
# the package's system service is not used.
nginx:
	@test -x /usr/sbin/nginx || { if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx; \
	  else echo "The hosted tests need Debian's nginx: sudo apt-get install nginx"; exit 1; fi; }

# Static checks first (ruff's default rules and flake8-bandit; the ignores are justified in pyproject.toml).
lint: install
	$(BIN)/ruff check .

test: install chromium nginx lint
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

# Researchers: pseudonymised snapshots only, in the workspace $(DATA_DIR)-research (docs/research.md).
lab: install
	HJERTEKOM_DATA_DIR=$(DATA_DIR) $(BIN)/hjertekom init
	HJERTEKOM_DATA_DIR=$(DATA_DIR) HJERTEKOM_LAB_PYTHON=$(LAB_PYTHON) $(BIN)/hjertekom lab

bench: install
	$(BIN)/python -m benchmarks

# Resolve the newest versions allowed by pyproject.toml in a scratch venv and pin them all.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade "pip==26.3"
	.lock-venv/bin/python -m pip install --quiet -e ".[dev]"
	.lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) $(DATA_DIR) .pytest_cache .hypothesis
