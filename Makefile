# The two commands: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install chromium worker bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Run the app on its embedded defaults: SQLite, an embedded Redis (unless REDIS_URL is set),
## the local renderer and the dev shop. Ctrl-C stops everything.
run: install
	$(BIN)/flask --app app studio dev

## The whole suite: real Redis (REDIS_URL if reachable, else embedded), PostgreSQL when
## TEST_DATABASE_URL is set, else SQLite; browser tests in headless Chromium.
test: install chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Browser tests need Debian's chromium; install it when we can (root with apt), else say so.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "the browser tests need Chromium: sudo apt-get install chromium (they will fail without it)"; \
	  fi; }

worker: install
	$(BIN)/flask --app app studio worker

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) instance .pytest_cache
