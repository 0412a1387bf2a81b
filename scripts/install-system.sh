#!/usr/bin/env bash
# Installs the Debian packages zenmail drives. Idempotent: does nothing when all are present.
# The packaged daemons' own instances are kept stopped: zenmail runs private instances
# from its state directory, and a stock Postfix/Dovecot would hold the standard ports.
set -euo pipefail

# libsasl2-modules: the PLAIN/LOGIN mechanisms Postfix's SMTP client logs in to a relay
# host ([relay]) with; only a recommendation of Postfix, so not pulled in by itself here.
PACKAGES=(
  postfix postfix-sqlite postfix-pgsql libsasl2-modules
  dovecot-imapd dovecot-lmtpd dovecot-sqlite dovecot-pgsql dovecot-sieve dovecot-managesieved
  dovecot-auth-lua
  redis-server
  rspamd clamav-daemon clamav
  restic
  prometheus
  postgresql sqlite3 openssl ca-certificates python3-venv
  chromium
)

if [ "$(id -u)" != 0 ] || [ ! -f /etc/debian_version ]; then
  echo "install-system: not root on Debian; make sure these packages are installed: ${PACKAGES[*]}" >&2
  exit 0
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-system: installing ${missing[*]}"
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  export DEBIAN_FRONTEND=noninteractive
  # Keep package scripts from starting the stock daemons during the install.
  restore_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    restore_policy=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$restore_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

# The stock Postfix, Dovecot and Redis stay stopped and disabled, whatever started them:
# zenmail runs its own instances. (PostgreSQL is left alone: it may hold a production
# directory.)
for svc in postfix dovecot redis-server rspamd clamav-daemon clamav-freshclam prometheus prometheus-node-exporter; do
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$svc" ]; then
    "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    command -v update-rc.d >/dev/null 2>&1 && update-rc.d "$svc" disable >/dev/null 2>&1 || true
  fi
done
exit 0
