SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
PORT ?= 8000
export PORT

# Without a real HubSpot token, `make run` starts the in-project fake HubSpot and points the app at it.
ifeq ($(strip $(HUBSPOT_ACCESS_TOKEN)),)
  RUN_ENV := HUBSPOT_ACCESS_TOKEN=fake-token HUBSPOT_API_URL=http://127.0.0.1:8025
  PROCFILE := Procfile.dev
else
  RUN_ENV :=
  PROCFILE := Procfile
endif

.PHONY: screenshots run test install assets static migrate preflight bench faults mutate mutate-sample clean tools-build tools-test dotenv

$(STAMP): requirements/base.txt requirements/dev.txt
	@test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -r requirements/dev.txt
	@touch $(STAMP)

install: $(STAMP)

preflight: install
	@$(PY) -c "from project.preflight import check_or_exit; check_or_exit(create_database=True)"

# System tools: installed with apt-get when root (CI, fresh container), else one line naming what is missing.
tools-build:
	@scripts/ensure_tools.sh npm

tools-test:
	@scripts/ensure_tools.sh chromium npm

assets: tools-build package.json package-lock.json
	@npm ci --no-audit --no-fund --silent && npm run -s build >/dev/null

static: install assets
	@$(PY) manage.py collectstatic --noinput -v0

migrate: preflight
	@$(PY) manage.py migrate --noinput -v0

# `make run` serves production pages (DEBUG off) with the local profile: plain HTTP on 127.0.0.1, no
# secure-only cookies. Its secrets come from a git-ignored .env generated on the first run. The demo landing
# site (/demo-site/) is on; the local profile allows its origin in SOURCEBOOK_SITE_ORIGINS by default.
RUN_PROFILE := DEBUG=0 SOURCEBOOK_DEMO_SITE=1

dotenv: install
	@$(PY) scripts/make_dotenv.py

run: dotenv migrate static
	@$(PY) manage.py setup_roles -v0 >/dev/null
	@$(PY) manage.py seed_demo
	@$(if $(filter Procfile.dev,$(PROCFILE)),$(PY) manage.py demo_inbox,true)
	@echo ""
	@echo "Sourcebook is starting on http://127.0.0.1:$(PORT)/"
	@echo "  dashboard: http://127.0.0.1:$(PORT)/dashboard/   admin: http://127.0.0.1:$(PORT)/admin/   API docs: http://127.0.0.1:$(PORT)/api/docs/"
	@$(PY) manage.py create_demo_users
	@echo "  demo landing site (watch your journey form): http://127.0.0.1:$(PORT)/demo-site/?utm_source=linkedin&utm_medium=paid_social&utm_campaign=spring_launch_202606"
	@$(if $(filter Procfile.dev,$(PROCFILE)),echo "  local inbox (alerts and digests sent by e-mail): http://127.0.0.1:8028/",true)
	@echo "  webhook URL for Calendly: http://127.0.0.1:$(PORT)/webhooks/calendly/  (Ctrl-C stops everything)"
	@echo ""
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(RUN_ENV) $(RUN_PROFILE) exec $(VENV)/bin/honcho -f $(PROCFILE) start

test: tools-test install assets
	$(VENV)/bin/pytest

# The README's screenshots (docs/screenshots/), retaken from the demo data in headless Chromium.
screenshots: tools-test install assets
	SOURCEBOOK_SCREENSHOTS_DIR=docs/screenshots $(VENV)/bin/pytest -p no:randomly tests/browser/test_screenshots_browser.py

# Benchmarks print JSON and a verdict per target; figures are kept in bench/README.md.
bench: install assets
	$(PY) bench/compare_ingest.py
	$(PY) bench/ingest.py --n 10000 --workers 2 --worker-class gthread --threads 4 --concurrency 8
	$(PY) bench/sync.py
	$(PY) bench/report.py
	$(PY) bench/reattribute.py --reuse
	$(PY) bench/dashboard.py --reuse
	$(PY) bench/backfill.py --invitees 10000 --rate-limit 100 --window-seconds 12

# Fault injection (restarts the local Redis and PostgreSQL!) and API fuzzing; ~10 minutes, not part of make test.
faults: install
	$(PY) bench/faults.py
	$(PY) bench/fuzz_api.py

# Mutation testing (mutmut; config in setup.cfg [mutmut]); not in CI, many hours for all ~2,400 mutants on two cores. Which functions are mutated is chosen
# here by mutant name, module.x_function* (methods: module.xǁClassǁmethod*); after a module moves (bookings/services.py
# -> bookings/services/fold.py, done), repoint its glob here and its file in setup.cfg's only_mutate. One mutant at a time:
# all share the test database. `make mutate MUTATE='attribution.rules.*'` runs one module;
# `.venv/bin/mutmut show <mutant>` shows a survivor's diff. Don't run `make test` meanwhile (same test database).
MUTATE ?= attribution.rules.* bookings.services.fold.x_booking_fold* bookings.services.fold.x_booking_rebuild* \
          hubspot_sync.services.outbox.* attribution.selectors.*
mutate: install
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 1 $(foreach m,$(MUTATE),'$(m)')
	$(PY) scripts/mutation_score.py

# The same, on a seeded random sample of SAMPLE mutants per glob (about an hour at 100): the first run generates the
# mutants and maps tests to functions (and runs one mutant), the second runs the sample.
SAMPLE ?= 100
mutate-sample: install
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 1 'attribution.rules.x_is_visitor_id__mutmut_1' >/dev/null
	$(VENV)/bin/mutmut run --max-children 1 $$($(PY) scripts/mutation_sample.py --per-glob $(SAMPLE) $(foreach m,$(MUTATE),'$(m)'))
	$(PY) scripts/mutation_score.py

clean:
	rm -rf $(VENV) staticfiles mutants
