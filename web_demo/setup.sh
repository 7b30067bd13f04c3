#!/usr/bin/env bash
# Installs what the web demo needs: its pinned npm packages (npm ci, always) and, with
# --browser, Debian's Chromium for the browser tests (apt-get when run as root).
# Anything else missing stops it with one line that says what to install.
set -euo pipefail
demo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
chromium="${DVN_CHROMIUM:-/usr/bin/chromium}"

fail() { echo "web_demo/setup.sh: error: $1" >&2; exit 2; }

command -v node >/dev/null && command -v npm >/dev/null \
  || fail "Node.js 20+ and npm are missing: install them (e.g. apt-get install -y nodejs npm)."
major="$(node -p 'process.versions.node.split(".")[0]')"
(( major >= 20 )) || fail "Node.js $(node --version) is too old: install Node.js 20 or newer."

(cd "$demo_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

if [[ "${1:-}" == "--browser" && ! -x "$chromium" ]]; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "Installing Debian's chromium for the browser tests..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    fail "$chromium is missing: run 'sudo apt-get install -y chromium' (or set DVN_CHROMIUM)."
  fi
fi
