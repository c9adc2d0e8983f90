#!/bin/sh
# Installs the Debian packages that the tests and the benchmark drive: real DNS servers
# (Knot, Unbound, dnsmasq), real clients (dig, kdig, dnsperf) and the firewall tools.
set -eu
PKGS="iptables nftables iproute2 conntrack procps util-linux dnsperf knot unbound dnsmasq bind9-dnsutils knot-dnsutils"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "setup-test-deps: missing Debian packages:$missing; run as root or install them with apt-get" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Keep the packaged daemons from starting on the machine; the tests start their own.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -qq --no-install-recommends $missing
