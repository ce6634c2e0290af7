#!/usr/bin/env bash
# Non-Python tools the test suite needs: promtool (alert rule unit tests) and Chromium (the HTML report is
# checked in a real browser). Installed from Debian/Ubuntu packages when missing and we can; otherwise say how.
set -euo pipefail
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing test tools: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
echo "the tests need: ${missing[*]} (promtool from Prometheus, and Chromium); install them and run make test again" >&2
exit 1
