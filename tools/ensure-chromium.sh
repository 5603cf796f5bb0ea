#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium for the playground's browser tests
# (test/browser, driven by playwright-core, which downloads no browser of its own). Installs the
# `chromium` package when missing; fails the run when it still does not start (set -e).
set -euo pipefail

if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
version=$(/usr/bin/chromium --version 2>/dev/null) || { echo "ensure-chromium: /usr/bin/chromium does not start" >&2; exit 1; }
echo "ensure-chromium: $version"
