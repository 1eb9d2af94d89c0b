#!/bin/sh
# bench/setup.sh — install the bench's native peers and load generator from
# Debian packages: nginx and HAProxy (compared against Switchyard) and wrk (the
# load generator; without it the bench falls back to autocannon). The bench
# runs without any of them and says which it skipped, so this is only for
# reproducing the full comparison.
#
# Non-interactive and idempotent: packages already installed are left alone
# (apt-get is not even called when all three binaries are present). The
# packaged nginx/HAProxy services are not used by the bench — it starts the
# binaries itself in the foreground on generated configs — so where this
# script's own install started a packaged service, that service is stopped
# (it would otherwise hold port 80 and take CPU on this 2-core machine); a
# service that was already installed before is left as it was.
#
# Usage (as root, or with sudo available): sh bench/setup.sh
set -eu

need=""
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need="$need nginx"
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need="$need haproxy"
command -v wrk >/dev/null 2>&1 || [ -x /usr/bin/wrk ] || need="$need wrk"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "bench/setup.sh: not root and no sudo; install as root: apt-get install -y nginx haproxy wrk" >&2
    exit 1
  fi
fi

if [ -n "$need" ]; then
  echo "bench/setup.sh: installing:$need"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  $SUDO apt-get install -y -q --no-install-recommends $need
  # Stop what this install started (no systemd in containers: the init scripts are what is there).
  for svc in nginx haproxy; do
    case " $need " in *" $svc "*) if [ -x "/etc/init.d/$svc" ]; then $SUDO "/etc/init.d/$svc" stop >/dev/null 2>&1 || true; fi ;; esac
  done
else
  echo "bench/setup.sh: nginx, haproxy and wrk already installed"
fi

for bin in /usr/sbin/nginx /usr/sbin/haproxy /usr/bin/wrk; do
  if [ -x "$bin" ]; then echo "  ok $bin"; else echo "  missing $bin" >&2; fi
done
/usr/sbin/nginx -v 2>&1 | sed 's/^/  /' || true
/usr/sbin/haproxy -v 2>&1 | head -1 | sed 's/^/  /' || true
