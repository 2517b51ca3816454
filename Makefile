# cave: build, test, lint, bench. Bun comes from node_modules (pinned in package.json).
BUN      := ./node_modules/.bin/bun
TSC      := ./node_modules/.bin/tsc
BIOME    := ./node_modules/.bin/biome
CC       ?= gcc
CFLAGS   := -O2 -Wall -Wextra -Werror -fPIC -shared -fno-stack-protector
SOURCES  := $(shell find src ffi schema -name '*.ts' 2>/dev/null) package.json

.PHONY: all build deps test unit integration e2e security lint bench bench-db clean schema api-schema api-validate conformance

all: build

# flock: two makes at once (a developer's and a test's) must not run npm ci over each
# other; the second waits, then finds node_modules current.
node_modules/.bin/bun: package.json package-lock.json
	flock .npm-ci.lock sh -c '[ node_modules/.bin/bun -nt package-lock.json ] && [ node_modules/.bin/bun -nt package.json ] || npm ci --no-audit --no-fund'
	@touch $@

deps: node_modules/.bin/bun

ffi/helper.so: ffi/helper.c
	$(CC) $(CFLAGS) -o $@ $<

# PID 1 of a persistent sandbox: static and freestanding, so it holds no libc and no Bun.
ffi/cave-init.bin: ffi/init.c
	$(CC) -O2 -Wall -Wextra -Werror -ffreestanding -static -nostdlib -fno-stack-protector -fno-pie -no-pie -s -o $@ $<

# scripts/build.ts is `bun build --compile --minify --bytecode` with no .env or bunfig.toml
# autoload (a bunfig.toml `preload` in the current directory would run inside cave, as root
# with sudo) and a plugin that embeds the libSQL native addon (see the script).
dist/cave: deps ffi/helper.so ffi/cave-init.bin $(SOURCES) scripts/build.ts
	@mkdir -p dist
	$(BUN) scripts/build.ts dist/cave

build: dist/cave

schema: deps
	$(BUN) scripts/gen-schema.ts

# openapi.yaml is generated with the rest (tests/unit/schema fails when it is stale).
api-schema: schema

# openapi.yaml against the OpenAPI 3.1 schemas, with @seriousme/openapi-schema-validator.
api-validate: deps
	$(BUN) scripts/validate-openapi.ts

# Every suite; integration, security and e2e start real sandboxes (CI runs as root).
test: build
	$(BUN) test tests/

unit: deps ffi/helper.so ffi/cave-init.bin
	$(BUN) test tests/unit

integration: build
	$(BUN) test tests/integration

e2e: build
	$(BUN) test tests/e2e

security: build
	$(BUN) test tests/security

# sqllogictest files or folders through the SQL engine (`make conformance SLT="a.test dir/"`);
# the shared corpus by default. `make test` runs the same corpus as tests/conformance/corpus.test.ts.
SLT ?= ../shared/corpus/sqllogictest
conformance: deps
	$(BUN) tests/conformance/run.ts $(SLT)

lint: deps
	$(TSC) --noEmit -p .
	$(BIOME) lint src ffi schema scripts tests bench

bench: build
	bench/run.sh

# The database's speed next to raw libsql and bun:sqlite (docs/benchmarks.md, "Database").
bench-db: deps
	bench/db/run.sh

clean:
	rm -rf dist ffi/helper.so ffi/cave-init.bin

# GET of one row by id through /rest/v1 with a JWT and an owner policy, with wrk (docs/benchmarks.md, "Data API").
.PHONY: bench-api
bench-api: build
	bench/rest.sh
