# chatkitd - build, test, run.  `make run` and `make test` work on a fresh Debian
# bookworm machine: they install what they need with apt-get first (sudo when not root).

CC      ?= cc
BUILD   ?= build
PKGS    := libh2o-evloop libpq libcurl jansson libjwt openssl libcmark
CSTD    := -std=c11 -D_GNU_SOURCE -DH2O_USE_LIBUV=0
WARN    := -Wall -Wextra -Werror -Wno-missing-field-initializers
OPT     ?= -O2 -g
SAN     ?=
CFLAGS  := $(CSTD) $(WARN) $(OPT) $(SAN) -Isrc -I$(BUILD)/gen
LDLIBS  := -lpthread -lm
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)
PY      := /usr/bin/python3

SRCS    := $(sort $(wildcard src/*/*.c))
OBJS    := $(SRCS:src/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/migrations.o $(BUILD)/obj/gen/web_assets.o
MAIN    := src/main.c
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
SQL_SCHEMA    := $(sort $(wildcard sql/schema/[0-9]*.sql))
SQL_FUNCTIONS := $(sort $(wildcard sql/functions/*.sql))
# The list of SQL files, rewritten only when it changes, so that adding or
# removing a file regenerates build/gen/migrations.c.
SQL_LIST := $(BUILD)/gen/sql.list
$(shell mkdir -p $(BUILD)/gen && echo '$(SQL_SCHEMA) $(SQL_FUNCTIONS)' | cmp -s - $(SQL_LIST) || \
        echo '$(SQL_SCHEMA) $(SQL_FUNCTIONS)' > $(SQL_LIST))
# The browser client (/chat, /widget.js): our files in web/ plus two npm
# libraries pinned by web/package-lock.json, all embedded into the binary.
WEB_SRCS := $(sort $(wildcard web/*.html web/*.css web/*.js web/*.svg))
WEB_LIBS := web/node_modules/marked/lib/marked.esm.js web/node_modules/dompurify/dist/purify.min.js

# Debian packages: build, run, test (see README "Dependencies").
DEPS_BUILD := build-essential pkg-config libh2o-evloop-dev libssl-dev libpq-dev libcurl4-openssl-dev \
              libjansson-dev libjwt-dev libcmark-dev check
DEPS_RUN   := postgresql openssl ca-certificates
DEPS_TEST  := python3 python3-pycurl python3-jsonschema python3-prometheus-client python3-h2 curl nghttp2-client procps \
              chromium fonts-dejavu-core
DEPS_ASAN  := libasan8 libubsan1
DEPS_VALGRIND := valgrind
DEPS_FUZZ  := clang libclang-rt-14-dev
DEPS_BENCH := wrk nghttp2-client postgresql-contrib postgresql-doc-15 linux-perf
DEPS_FORMAT := clang-format

.PHONY: all deps deps-test deps-node deps-node-apt run test acceptance test-asan test-valgrind stress fuzz bench bench-retrieval bench-tokens clean format format-check
all: $(BUILD)/chatkitd

# --- dependencies ----------------------------------------------------------
define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef
deps:
	$(call apt_install,$(DEPS_BUILD) $(DEPS_RUN))
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then $(MAKE) --no-print-directory deps-node-apt; fi
deps-test: deps
	$(call apt_install,$(DEPS_TEST))

# Node.js + npm (the machine's own when present, else Debian's; `deps` needs
# them too: web/ is built with npm) and the reference tokenizer of
# bench/tokens (package-lock.json pins it).
deps-node:
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then $(MAKE) --no-print-directory deps-node-apt; fi
	cd bench/tokens && npm ci --no-audit --no-fund --loglevel=error
deps-node-apt:
	$(call apt_install,nodejs npm)

# --- build -------------------------------------------------------------------
$(BUILD)/gen/migrations.c: $(SQL_SCHEMA) $(SQL_FUNCTIONS) $(SQL_LIST) scripts/embed-sql.sh
	@mkdir -p $(@D)
	scripts/embed-sql.sh $@ --schema $(SQL_SCHEMA) --functions $(SQL_FUNCTIONS)

$(BUILD)/obj/gen/migrations.o: $(BUILD)/gen/migrations.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

# npm stamps package files with a fixed old date: depend on the install's own stamp.
$(WEB_LIBS): | web/node_modules/.package-lock.json
	@test -f $@

$(BUILD)/gen/web_assets.c: $(WEB_SRCS) $(WEB_LIBS) web/node_modules/.package-lock.json scripts/embed-web.sh
	@mkdir -p $(@D)
	scripts/embed-web.sh $@ $(foreach f,$(WEB_SRCS) $(WEB_LIBS),$(notdir $(f))=$(f))

$(BUILD)/obj/gen/web_assets.o: $(BUILD)/gen/web_assets.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libchatkitd.a: $(OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/chatkitd: $(MAIN) $(BUILD)/libchatkitd.a
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $< $(BUILD)/libchatkitd.a $(PKG_LIBS) $(LDLIBS) -o $@

$(BUILD)/bench/token_estimate: bench/tokens/estimate.c $(BUILD)/libchatkitd.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $< $(BUILD)/libchatkitd.a $(PKG_LIBS) $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libchatkitd.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(shell pkg-config --cflags check) $< $(BUILD)/libchatkitd.a $(PKG_LIBS) $(CHECK_LIBS) $(LDLIBS) -o $@

-include $(OBJS:.o=.d)

# --- run ---------------------------------------------------------------------
# Serves on 127.0.0.1:8000.  Without DATABASE_URL it starts a PostgreSQL of its
# own (scripts/pg-local.sh, data under var/ or beside it, see README) and
# ingests docs/ so the server can answer questions about itself.
run: deps all
	@scripts/run-local.sh $(BUILD)/chatkitd

# --- tests -------------------------------------------------------------------
test: deps-test deps-node all $(UNIT_BINS) $(BUILD)/bench/token_estimate
	tests/run.sh $(BUILD)

acceptance: all
	$(PY) tests/acceptance/run.py --binary $(BUILD)/chatkitd $(ACCEPTANCE_ARGS)

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer (gcc's
# runtimes): every report aborts the process, leaks are checked at exit, and
# the acceptance runner fails a test whose server reported anything.
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
test-asan: deps-test
	$(call apt_install,$(DEPS_ASAN))
	$(SAN_ENV) $(MAKE) --no-print-directory test BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"

# The same suite with every unit-test binary and every server under valgrind
# (memory errors and definite leaks fail; tests/valgrind.supp lists the
# third-party noise): see CHATKITD_VALGRIND in tests/run.sh and lib.py.
test-valgrind: deps-test all $(UNIT_BINS)
	$(call apt_install,$(DEPS_VALGRIND))
	CHATKITD_VALGRIND=1 tests/run.sh $(BUILD)

# Randomized lifetime stress on the ASan+UBSan build (tests/stress/stress.py: clients
# cut at random moments, PostgreSQL restarts, model failures, slow readers); not part
# of `make test`.  STRESS_ARGS="--seed N" reproduces a run.
STRESS_SECONDS ?= 60
stress: deps-test
	$(call apt_install,$(DEPS_ASAN) python3-h2)
	$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" build-asan/chatkitd
	$(SAN_ENV) $(PY) tests/stress/stress.py --binary build-asan/chatkitd --seconds $(STRESS_SECONDS) $(STRESS_ARGS)

fuzz:
	$(call apt_install,$(DEPS_FUZZ))
	@scripts/fuzz.sh $(FUZZ_SECONDS)

bench: all
	$(call apt_install,$(DEPS_BENCH) $(DEPS_TEST))
	bench/run.sh $(BUILD)/chatkitd

# The token estimator (src/agent/tokens.c) against a real BPE tokenizer:
# error per kind of text (English, code, JSON, non-Latin); see bench/tokens.
bench-tokens: deps-node $(BUILD)/bench/token_estimate
	node bench/tokens/compare.mjs $(BUILD)/bench/token_estimate .

# Retrieval quality of the search tool vs Okapi BM25 on the PostgreSQL manual
# (postgresql-doc-15), and search latency at 1x, 10x and 100x that corpus
# (BENCH_SCALES="1 10" to skip the largest; see BENCHMARKS.md "Retrieval").
bench-retrieval: all
	$(call apt_install,$(DEPS_BENCH))
	bench/retrieval/run.sh $(BUILD)/chatkitd

# C style (.clang-format): `make format` rewrites src/ and tests/ in place,
# `make format-check` lists the files it would change.
FORMAT_FILES = $(shell git ls-files 'src/*.[ch]' 'tests/unit/*.[ch]' 'tests/fuzz/*.c' 'bench/*.c')
format:
	$(call apt_install,$(DEPS_FORMAT))
	clang-format -i $(FORMAT_FILES)
format-check:
	$(call apt_install,$(DEPS_FORMAT))
	@for f in $(FORMAT_FILES); do clang-format "$$f" | cmp -s "$$f" - || echo "$$f"; done

clean:
	rm -rf build build-asan build-fuzz
