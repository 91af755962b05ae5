# The web UI served at / (ui/ built with Vite into var/ui). Sourced by run.sh.
# ui/build.ts hashes its inputs (ui/, the server files its types come from, package-lock.json)
# and returns at once when nothing changed; a build (type check + Vite) takes ~15 s on 2 cores.

netimage_ui_setup() {
  if ! node "$NETIMAGE_ROOT/ui/build.ts"; then
    echo "setup: web UI build failed (see above)" >&2
    return 1
  fi
}

netimage_ui_setup
