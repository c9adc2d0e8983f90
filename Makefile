# nodedns. `make run` and `make test` set up what they need on a fresh Debian machine.
NODE_MODULES := node_modules/.package-lock.json
RUN_ARGS ?=

.PHONY: all deps run-deps test-deps build run test unit e2e bench clean

all: build

$(NODE_MODULES): package.json
	npm install --no-audit --no-fund
	@touch $@

deps: $(NODE_MODULES)

RUN_PKGS := iptables nftables iproute2 procps
TEST_PKGS := $(RUN_PKGS) conntrack util-linux dnsperf knot knot-dnsutils unbound dnsmasq bind9-dnsutils

run-deps:
	scripts/apt-ensure.sh $(RUN_PKGS)

# Debian packages the tests and the benchmark drive: real DNS servers and clients, firewall tools.
test-deps:
	scripts/apt-ensure.sh $(TEST_PKGS)

build: deps
	npx tsc -p tsconfig.json
	@chmod +x dist/cli.js

# Runs the agent with defaults: 169.254.20.10:53 on a dummy interface (or lo), NOTRACK rules,
# upstreams from the host's resolv.conf. Needs root. Pass more flags with RUN_ARGS="...".
run: run-deps build
	node --max-semi-space-size=2 dist/cli.js run $(RUN_ARGS)

test: test-deps build
	node --import tsx --test --test-concurrency=1 --test-timeout=600000 $$(find test -name '*.test.ts' | sort)

unit: build
	node --import tsx --test $$(find test -name '*.test.ts' -not -path 'test/e2e/*' | sort)

e2e: test-deps build
	node --import tsx --test --test-concurrency=1 --test-timeout=600000 $$(find test/e2e -name '*.test.ts' | sort)

bench: test-deps build
	scripts/bench/run.sh

clean:
	rm -rf dist
