#!/bin/sh
# `make bench`: nodedns against Unbound, dnsmasq and the Node.js ceiling with dnsperf.
# Options: scripts/bench/run.sh --help. Results: bench/results/latest.md (quick: quick.md).
set -eu
cd "$(dirname "$0")/../.."
if [ "$(nproc --all)" -lt 2 ]; then
  echo "bench: needs 2 CPUs (server on CPU 0, dnsperf on CPU 1); this machine has $(nproc --all)" >&2
  exit 1
fi
# The orchestrator only waits while dnsperf runs; keep it off the server's CPU.
exec taskset -c 1 node --import tsx scripts/bench/bench.ts "$@"
