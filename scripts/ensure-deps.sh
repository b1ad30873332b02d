#!/usr/bin/env bash
# Installs what Postern needs on a Debian machine with Node 20, and nothing that is already there:
# the servers its stack and tests run (from Debian's packages) and the npm packages.
# Usage: scripts/ensure-deps.sh [--servers-only|--npm-only]
set -euo pipefail
cd "$(dirname "$0")/.."

want_servers=1 want_npm=1
case "${1:-}" in
  --servers-only) want_npm=0 ;;
  --npm-only) want_servers=0 ;;
esac

# Debian package name -> a binary it provides.
declare -A PACKAGES=(
  [nats-server]=/usr/sbin/nats-server
  [memcached]=/usr/bin/memcached
  [slapd]=/usr/sbin/slapd
  [ldap-utils]=/usr/bin/ldapsearch
  [dovecot-imapd]=/usr/lib/dovecot/imap
  [dovecot-pop3d]=/usr/lib/dovecot/pop3
  [openssl]=/usr/bin/openssl
  [curl]=/usr/bin/curl
  # nginx's mail proxy: the peer bench:mail measures Postern against (never started as a service).
  [nginx]=/usr/sbin/nginx
  [libnginx-mod-mail]=/usr/lib/nginx/modules/ngx_mail_module.so
  # bench:web: HAProxy is a peer it measures the web proxy against, wrk its load generator.
  [haproxy]=/usr/sbin/haproxy
  [wrk]=/usr/bin/wrk
  # promtool checks the Prometheus rules and every service's /metrics in the tests.
  [prometheus]=/usr/bin/promtool
  # The web proxy's HTTP/2 is tried with nghttp2's clients (nghttp, h2load) and a real browser.
  [nghttp2-client]=/usr/bin/nghttp
  [chromium]=/usr/bin/chromium
  # Kerberos (SASL GSSAPI): the headers the mail proxy's binding builds against, and the KDC,
  # kadmin.local and kinit the tests run a realm of their own with.
  [libkrb5-dev]=/usr/include/gssapi/gssapi_ext.h
  [krb5-kdc]=/usr/sbin/krb5kdc
  [krb5-admin-server]=/usr/sbin/kadmin.local
  [krb5-user]=/usr/bin/kinit
)

if [ "$want_servers" = 1 ]; then
  missing=()
  for pkg in "${!PACKAGES[@]}"; do
    [ -e "${PACKAGES[$pkg]}" ] || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "postern: installing ${missing[*]} (apt-get)" >&2
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    # Debian's maintainer scripts would start the daemons on their standard ports; Postern starts
    # its own instances, so keep the packaged services from starting.
    if [ -d /usr/sbin ] && [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
      $SUDO chmod +x /usr/sbin/policy-rc.d
      trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

if [ "$want_npm" = 1 ]; then
  # Reinstall only when the lock file changed since the last install.
  stamp=node_modules/.postern-lock-stamp
  if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
    # npm install (not npm ci): npm 11 leaves some optional platform packages out of the lock file
    # and npm ci then refuses it; install still follows the lock file.
    npm install --no-audit --no-fund --loglevel=error
    cp package-lock.json "$stamp"
  fi
fi
