# Shared set-up steps of scripts/run and scripts/test: installs what is missing, nothing
# more. Sourced, not run.

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== apt-get install ${missing[*]}"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Rust's wasm target, Node.js and the npm tools (binaryen's wasm-opt, playwright-core).
setup_common() {
  command -v cargo >/dev/null || { echo "Rust (rustup) is needed: https://rustup.rs" >&2; exit 1; }
  rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
  command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
  apt_install ca-certificates python3
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
}

# PostgreSQL and Chromium, for the tests only.
setup_test_tools() {
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql
  command -v chromium >/dev/null || apt_install chromium
}
