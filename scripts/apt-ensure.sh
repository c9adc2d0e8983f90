#!/bin/sh
# Installs the Debian packages given as arguments, if any is missing.
# make run: the firewall and interface tools. make test / make bench: also the real
# DNS servers (Knot, Unbound, dnsmasq) and clients (dig, kdig, dnsperf) the tests drive.
set -eu
missing=""
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "apt-ensure: missing Debian packages:$missing; run as root, or install them with apt-get" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Keep the packaged daemons (unbound, dnsmasq, knot) from starting on the machine: tests start their own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends $missing
