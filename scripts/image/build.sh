#!/bin/sh
# Builds the nodedns image from daemonset/Dockerfile with podman (make image).
#   IMAGE=registry.example/nodedns:0.1.0 BASE=node:24-slim scripts/image/build.sh
# What the image runs is staged here, on the host, and copied in (scripts/image/stage.sh:
# dist/cli.js and the one package it requires): the image build runs nothing that needs the
# network (npm in a build container fails certificate checks behind an intercepting proxy).
# Without BASE, the base is made locally (scripts/image/base.sh: Debian + the Node.js of
# node_modules), so no registry is needed.
set -eu
cd "$(dirname "$0")/../.."
version=$(node -p 'require("./package.json").version')
image=${IMAGE:-localhost/nodedns:$version}
# the local base has every tool: the build needs no network. Another base (node:24-slim) gets
# the firewall tools with apt: the host's network, never podman's default one (which edits the
# host's firewall and turns on ip_forward).
if [ -n "${BASE:-}" ]; then base=$BASE network=host; else base=$(scripts/image/base.sh) network=none; fi
scripts/image/stage.sh .build/image/app
old=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
# crun 1.8.1 (Debian 12) refuses some cgroup layouts: runc runs the build's RUN steps.
podman build --runtime "${OCI_RUNTIME:-runc}" --network "$network" --ulimit nofile=4096:4096 \
  --build-arg BASE="$base" -f daemonset/Dockerfile -t "$image" . >&2
# the image this one replaces would stay behind untagged at every build (make test builds each run)
new=$(podman image inspect --format '{{.Id}}' "$image")
[ -z "$old" ] || [ "$old" = "$new" ] || podman rmi "$old" >/dev/null 2>&1 || true
echo "$image"
