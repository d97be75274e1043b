#!/usr/bin/env bash
# Installs what the test suites need; safe to run repeatedly.
#   - Debian packages: openssl (TLS test certificates),
#     chromium (test/browser; only when /usr/bin/chromium is missing)
#     postgresql (internal/apps/sqlstore tests start their own server from its
#     binaries; only when /usr/lib/postgresql/*/bin/initdb is missing)
#     redis-server (internal/redistest starts a server per test from
#     /usr/bin/redis-server; only when that is missing);
#     the services these two packages start are stopped and disabled again;
#     podman with runc, netavark and iptables (test/container_test.go builds
#     and runs the container image with them, as root)
#   - npm packages of test/compat, examples/chat and test/browser (npm ci,
#     skipped when node_modules matches package-lock.json)
#   - the Python server SDK for test/python_sdk_test.go: its dependencies from
#     Debian (python3-venv, -requests, -urllib3, -six, -openssl,
#     -ndg-httpsclient, -pyasn1, -nacl) and the pure-Python pusher==3.3.4 with
#     pip --no-deps into test/sdkpy/.venv (skipped with a message, and the
#     test skips, when pip cannot reach PyPI)
# Expects Go and Node.js (>= 20, with npm) to be present already. Runs as root
# (or with sudo available) on Debian 12.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf 'install-deps: %s\n' "$*"; }

# --- Debian packages ---------------------------------------------------------
# package name -> command that proves it is installed
declare -A WANT=( [openssl]=openssl [podman]=podman )
missing=()
for pkg in "${!WANT[@]}"; do
  # The command on PATH is what the tests need (dpkg state alone can be stale).
  if command -v "${WANT[$pkg]}" >/dev/null 2>&1; then
    continue
  fi
  missing+=("$pkg")
done
# The browser test drives Debian's Chromium at this exact path (never a downloaded browser).
if [[ ! -x /usr/bin/chromium ]]; then
  missing+=(chromium)
fi
# What the container test runs podman with, outside a user's PATH: runc (crun
# 1.8, podman's first choice, refuses a hybrid cgroup hierarchy), netavark (not
# containernetworking-plugins, which also satisfies podman's dependency) and
# iptables for the published port.
declare -A WANT_FILE=( [runc]=/usr/sbin/runc [netavark]=/usr/lib/podman/netavark [iptables]=/usr/sbin/iptables )
for pkg in "${!WANT_FILE[@]}"; do
  [[ -x "${WANT_FILE[$pkg]}" ]] || missing+=("$pkg")
done
# The SQL app store tests run initdb/pg_ctl from Debian's server package.
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  missing+=(postgresql)
fi
# The Redis broker tests run Debian's redis-server binary on ports of their own.
if [[ ! -x /usr/bin/redis-server ]]; then
  missing+=(redis-server)
fi
# The Python SDK test: what pusher==3.3.4 requires (its setup.py), from Debian,
# for /usr/bin/python3 (module -> package).
declare -A WANT_PY=( [ensurepip]=python3-venv [requests]=python3-requests [urllib3]=python3-urllib3
  [six]=python3-six [OpenSSL]=python3-openssl [ndg.httpsclient]=python3-ndg-httpsclient
  [pyasn1]=python3-pyasn1 [nacl]=python3-nacl )
for mod in "${!WANT_PY[@]}"; do
  /usr/bin/python3 -c "import $mod" >/dev/null 2>&1 || missing+=("${WANT_PY[$mod]}")
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
  # Debian's postgresql package creates and starts a cluster; tests start their own.
  if [[ " ${missing[*]} " == *" postgresql "* ]]; then
    if command -v systemctl >/dev/null 2>&1; then
      "${SUDO[@]}" systemctl disable --now postgresql >/dev/null 2>&1 || true
    fi
    if command -v pg_lsclusters >/dev/null 2>&1; then
      pg_lsclusters --no-header 2>/dev/null | while read -r ver name _; do
        "${SUDO[@]}" pg_ctlcluster "$ver" "$name" stop </dev/null >/dev/null 2>&1 || true
      done
    fi
  fi
  # Debian's redis-server package starts a server on 6379; tests start their own.
  if [[ " ${missing[*]} " == *" redis-server "* ]]; then
    if command -v systemctl >/dev/null 2>&1; then
      "${SUDO[@]}" systemctl disable --now redis-server >/dev/null 2>&1 || true
    fi
    # Without systemd (containers) the package starts it through its init script.
    if [[ -x /etc/init.d/redis-server ]]; then
      "${SUDO[@]}" /etc/init.d/redis-server stop </dev/null >/dev/null 2>&1 || true
      if command -v update-rc.d >/dev/null 2>&1; then
        "${SUDO[@]}" update-rc.d redis-server disable >/dev/null 2>&1 || true
      fi
    fi
  fi
else
  log "Debian packages present: ${!WANT[*]} ${!WANT_FILE[*]} chromium postgresql redis-server ${WANT_PY[*]}"
fi

# --- Python server SDK --------------------------------------------------------
# pusher 3.3.4 is pure Python; only it comes from PyPI (--no-deps), into a venv
# that sees the Debian packages above.
PY_SDK=3.3.4
venv="$ROOT/test/sdkpy/.venv"
if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c \
    "import importlib.metadata as m, sys; sys.exit(m.version('pusher') != '$PY_SDK')" 2>/dev/null; then
  log "test/sdkpy/.venv has pusher $PY_SDK"
else
  [[ -x "$venv/bin/python" ]] || /usr/bin/python3 -m venv --system-site-packages "$venv"
  if "$venv/bin/pip" install -q --no-deps --no-input --retries 1 --timeout 20 "pusher==$PY_SDK" >/dev/null 2>&1; then
    log "installed pusher $PY_SDK into test/sdkpy/.venv"
  else
    # The test skips without the venv's python; leave none behind.
    rm -rf "$venv"
    log "pip cannot reach PyPI: pusher $PY_SDK not installed, test/python_sdk_test.go will skip"
  fi
fi

# --- Node / npm -------------------------------------------------------------
for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || { log "$tool not found (Node.js >= 20 is required)"; exit 1; }
done

# npm ci in each directory, skipped while its node_modules matches package.json,
# package-lock.json and the Node version (a stamp file records their hash).
npm_ci() {
  local rel="$1" dir="$ROOT/$1"
  local stamp="$dir/node_modules/.herald-lock.sha256"
  local want_hash
  want_hash="$( (cat "$dir/package-lock.json" "$dir/package.json"; node --version) | sha256sum | cut -d' ' -f1)"
  if [[ -d "$dir/node_modules" && -f "$stamp" && "$(cat "$stamp")" == "$want_hash" ]]; then
    log "$rel/node_modules up to date"
  else
    log "npm ci in $rel"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    printf '%s\n' "$want_hash" >"$stamp"
  fi
}

npm_ci test/compat
npm_ci examples/chat
npm_ci test/browser
