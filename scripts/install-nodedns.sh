#!/bin/sh
# Writes the `nodedns` command: a short script that runs the agent's CLI on the given
# Node.js with nodedns' V8 flags and environment defaults (src/node-flags.ts, read from the
# built dist/node-flags.js, so they are never written down twice; a value already in the
# environment wins). `make install` and the image both use it.
#   scripts/install-nodedns.sh NODE CLI [DEST]     DEST defaults to /usr/local/bin/nodedns
set -eu
[ $# -ge 2 ] || { echo "usage: $0 NODE CLI [DEST]" >&2; exit 2; }
node=$1 cli=$2 dest=${3:-/usr/local/bin/nodedns}
case "$node$cli" in *\'*) echo "install-nodedns: paths with a quote (') are not supported" >&2; exit 1;; esac
case "$node" in /*) ;; *) echo "install-nodedns: $node: give an absolute path" >&2; exit 1;; esac
case "$cli" in /*) ;; *) echo "install-nodedns: $cli: give an absolute path" >&2; exit 1;; esac
[ -x "$node" ] || { echo "install-nodedns: $node is not an executable (run make build)" >&2; exit 1; }
[ -f "$cli" ] || { echo "install-nodedns: $cli does not exist (run make build)" >&2; exit 1; }
flags=$("$node" -p 'require(process.argv[1]).NODE_FLAGS.join(" ")' "$(dirname "$cli")/node-flags.js")
# NAME=value per line; both are checked, so a line is safe to write into the script as it is
envs=$("$node" -p 'Object.entries(require(process.argv[1]).NODE_ENV_DEFAULTS).map(([k, v]) => {
  if (!/^[A-Z_][A-Z0-9_]*$/.test(k) || !/^[A-Za-z0-9._-]+$/.test(v)) throw new Error(`node-flags: ${k}=${v}: not a plain name and value`);
  return `export ${k}="\${${k}:-${v}}"`;
}).join("\n")' "$(dirname "$cli")/node-flags.js")
mkdir -p "$(dirname "$dest")"
tmp="$dest.tmp.$$"
printf "#!/bin/sh\n# nodedns, written by scripts/install-nodedns.sh\n%s\nexec '%s' %s '%s' \"\$@\"\n" "$envs" "$node" "$flags" "$cli" > "$tmp"
chmod 755 "$tmp"
mv -f "$tmp" "$dest"
echo "installed $dest -> $node $flags $cli"
