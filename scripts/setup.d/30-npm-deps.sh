# npm dependencies, installed with `npm ci` when package-lock.json changed. Sourced by run.sh.

netimage_npm_setup() {
  local stamp="$NETIMAGE_ROOT/node_modules/.netimage-lock.sha256" want have=""
  want=$(sha256sum "$NETIMAGE_ROOT/package-lock.json" | cut -d' ' -f1)
  [ -f "$stamp" ] && have=$(cat "$stamp")
  if [ "$want" = "$have" ]; then
    echo "setup: npm dependencies present"
    return 0
  fi
  echo "setup: installing npm dependencies"
  (cd "$NETIMAGE_ROOT" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" > "$stamp"
  echo "setup: npm dependencies installed"
}

netimage_npm_setup
