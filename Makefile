# edusoc — the two commands: `make run` and `make test`.
VENV   := .venv
PYTHON ?= python3
STAMP  := $(VENV)/.installed

.PHONY: run test install crs es-start es-stop clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	# pySigma's Elasticsearch backend declares pysigma<2 but works with pySigma 2 (tests/test_detection_scheduled.py)
	$(VENV)/bin/pip install --quiet --no-deps 'pysigma-backend-elasticsearch==2.1.1'
	touch $(STAMP)

install: $(STAMP)

## Seed the demo region, replay the bundled sample traffic, serve UI + API on http://127.0.0.1:8000
run: $(STAMP) crs
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
test: $(STAMP)
	scripts/test.sh

es-start:
	scripts/es.sh start

es-stop:
	scripts/es.sh stop

clean:
	rm -rf var .pytest_cache
