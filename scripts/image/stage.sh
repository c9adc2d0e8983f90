#!/bin/sh
# Puts what the image runs into DEST, which becomes /app (daemonset/Dockerfile): package.json
# (the version), dist/cli.js (one script with every dependency but netlink; docs/image.md,
# "One script") with its source map, dist/node-flags.js (read by scripts/install-nodedns.sh),
# and the only packages that script requires: netlink, which loads its prebuilt binary from its
# own directory, and node-gyp-build, its loader. test/image-stage.test.ts runs the staged tree
# from outside this repository, so a package missing here fails there, not on a node.
#   scripts/image/stage.sh DEST      (after make build)
set -eu
[ $# -eq 1 ] || { echo "usage: $0 DEST" >&2; exit 2; }
dest=$1
cd "$(dirname "$0")/../.."
for f in dist/cli.js dist/cli.js.map dist/node-flags.js node_modules/netlink/package.json node_modules/node-gyp-build/package.json; do
  [ -f "$f" ] || { echo "image-stage: $f is missing; run make build first" >&2; exit 1; }
done
rm -rf "$dest"
mkdir -p "$dest/dist" "$dest/node_modules"
cp package.json "$dest/"
cp dist/cli.js dist/cli.js.map dist/node-flags.js "$dest/dist/"
cp -R node_modules/node-gyp-build "$dest/node_modules/"
# netlink without its own node_modules (type declarations for its build)
mkdir -p "$dest/node_modules/netlink"
for f in node_modules/netlink/*; do [ "${f##*/}" = node_modules ] || cp -R "$f" "$dest/node_modules/netlink/"; done
