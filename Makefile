# edusoc — the two commands: `make run` and `make test`.
VENV   := .venv
PYTHON ?= python3
STAMP  := $(VENV)/.installed

.PHONY: run test install crs console console-check console-api es-start es-stop clean

# The console (Vue 3 + Vite, soc_api/console): `npm ci` only when the lockfile changed (the stamp), a build
# only when a source changed. Served by the API at /console/.
CONSOLE         := soc_api/console
CONSOLE_STAMP   := $(CONSOLE)/node_modules/.installed
CONSOLE_SOURCES := $(shell find $(CONSOLE)/src $(CONSOLE)/public -type f 2>/dev/null) $(addprefix $(CONSOLE)/,index.html vite.config.ts package.json)
CONSOLE_BUILT   := $(CONSOLE)/dist/index.html

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	# pySigma's Elasticsearch backend declares pysigma<2 but works with pySigma 2 (tests/test_detection_scheduled.py)
	$(VENV)/bin/pip install --quiet --no-deps 'pysigma-backend-elasticsearch==2.1.1'
	touch $(STAMP)

install: $(STAMP)

$(CONSOLE_STAMP): $(CONSOLE)/package-lock.json
	cd $(CONSOLE) && npm ci --no-audit --no-fund --loglevel=error
	touch $(CONSOLE_STAMP)

$(CONSOLE_BUILT): $(CONSOLE_STAMP) $(CONSOLE_SOURCES)
	cd $(CONSOLE) && npm run --silent build

## Build the console into soc_api/console/dist
console: $(CONSOLE_BUILT)

## Type-check (vue-tsc) and lint (ESLint) the console's source
console-check: $(CONSOLE_STAMP)
	cd $(CONSOLE) && npm run --silent typecheck && npm run --silent lint

## Regenerate the console's API types from the app's OpenAPI schema (after changing a route or schema)
console-api: $(STAMP) $(CONSOLE_STAMP)
	scripts/console-api.sh

## Seed the demo region, replay the bundled sample traffic, serve UI + API on http://127.0.0.1:8000
run: $(STAMP) crs console
	$(VENV)/bin/edusoc run --demo

## The OWASP CRS (Debian's modsecurity-crs) that detection runs through ModSecurity; without it edusoc runs without the CRS
crs:
	@[ -d /usr/share/modsecurity-crs/rules ] || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing modsecurity-crs (OWASP CRS rules)"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq modsecurity-crs >/dev/null || \
	    echo "could not install modsecurity-crs: edusoc runs without the OWASP CRS" >&2; \
	  else \
	    echo "OWASP CRS not installed (as root: apt-get install modsecurity-crs): edusoc runs without it" >&2; \
	  fi; }

## Install what the tests need (Chromium, a local Elasticsearch node), run the whole suite, stop the node
test: $(STAMP) console console-check
	scripts/test.sh

es-start:
	scripts/es.sh start

es-stop:
	scripts/es.sh stop

clean:
	rm -rf var .pytest_cache $(CONSOLE)/dist
