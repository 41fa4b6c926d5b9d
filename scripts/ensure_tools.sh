#!/usr/bin/env bash
# Make sure the system tools a command needs are installed: `scripts/ensure_tools.sh chromium npm`.
# As root with apt-get (CI, a fresh container) a missing tool is installed from Debian; otherwise the
# script stops with ONE line naming the missing piece and the command that installs it.
# Used by .ci/run and by `make test` / `make run` (via the Makefile).
set -euo pipefail

updated=""
apt_install() {  # apt_install <package>...
  if [ -z "$updated" ]; then apt-get update -qq; updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

for tool in "$@"; do
  case "$tool" in
    chromium)  # browser tests drive Debian's Chromium (tools that download their own browser can't work here)
      have() { [ -n "${CHROMIUM_PATH:-}" ] && [ -x "$CHROMIUM_PATH" ] || command -v chromium >/dev/null 2>&1; }
      packages=(chromium); hint="sudo apt-get install chromium (or set CHROMIUM_PATH to a Chromium binary)";;
    npm)
      have() { command -v npm >/dev/null 2>&1; }
      packages=(nodejs npm); hint="sudo apt-get install nodejs npm";;
    *) echo "ensure_tools: unknown tool $tool" >&2; exit 2;;
  esac
  have && continue
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing $tool (${packages[*]}) with apt-get..." >&2
    apt_install "${packages[@]}" || { echo "error: could not install $tool; run: apt-get install ${packages[*]}" >&2; exit 1; }
    have || { echo "error: $tool is still missing after apt-get install ${packages[*]}" >&2; exit 1; }
  else
    echo "error: $tool is missing; install it with: $hint" >&2
    exit 1
  fi
done
