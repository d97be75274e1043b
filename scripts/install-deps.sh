#!/usr/bin/env bash
# Installs what the test suites need; safe to run repeatedly.
#   - Debian packages: openssl (TLS test certificates), redis-server (broker tests)
#   - npm packages of test/compat (npm ci, skipped when node_modules matches package-lock.json)
# Expects Go and Node.js (>= 20, with npm) to be present already. Runs as root
# (or with sudo available) on Debian 12.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf 'install-deps: %s\n' "$*"; }

# --- Debian packages ---------------------------------------------------------
# package name -> command that proves it is installed
declare -A WANT=( [openssl]=openssl [redis-server]=redis-server )
missing=()
for pkg in "${!WANT[@]}"; do
  # The command on PATH is what the tests need (dpkg state alone can be stale).
  if command -v "${WANT[$pkg]}" >/dev/null 2>&1; then
    continue
  fi
  missing+=("$pkg")
done

if ((${#missing[@]})); then
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
      log "need root (or sudo) to install: ${missing[*]}"; exit 1
    fi
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's redis-server package starts a system service; tests start their own.
  if [[ " ${missing[*]} " == *" redis-server "* ]] && command -v systemctl >/dev/null 2>&1; then
    "${SUDO[@]}" systemctl disable --now redis-server >/dev/null 2>&1 || true
  fi
else
  log "Debian packages present: ${!WANT[*]}"
fi

# --- Node / npm -------------------------------------------------------------
for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || { log "$tool not found (Node.js >= 20 is required)"; exit 1; }
done

COMPAT="$ROOT/test/compat"
STAMP="$COMPAT/node_modules/.herald-lock.sha256"
want_hash="$( (cat "$COMPAT/package-lock.json" "$COMPAT/package.json"; node --version) | sha256sum | cut -d' ' -f1)"
if [[ -d "$COMPAT/node_modules" && -f "$STAMP" && "$(cat "$STAMP")" == "$want_hash" ]]; then
  log "test/compat/node_modules up to date"
else
  log "npm ci in test/compat"
  (cd "$COMPAT" && npm ci --no-audit --no-fund --loglevel=error)
  printf '%s\n' "$want_hash" >"$STAMP"
fi
