#!/usr/bin/env bash
# Refreshes the Swagger UI that /api/docs serves (src/zenmail/web/static/swagger-ui/) from the
# npm package swagger-ui-dist, checked against the integrity hash pinned here.
#
# Not part of the install: the files it writes are committed, so that a pip install (a wheel,
# a machine without node, a network without the npm registry) carries the viewer, and so that
# an upgrade of the viewer is a reviewed diff. Run it by hand to move to a new version:
#   npm view swagger-ui-dist@X.Y.Z dist.integrity     # then update VERSION and INTEGRITY below
#   scripts/vendor-swagger-ui.sh
set -euo pipefail

VERSION=5.35.0
INTEGRITY=sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==
# What the page needs (get_swagger_ui_html loads the bundle, the stylesheet and the icon),
# and the licence texts that must travel with them.
FILES=(swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png
       LICENSE NOTICE)

dest="$(cd "$(dirname "$0")/.." && pwd)/src/zenmail/web/static/swagger-ui"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "swagger-ui-dist@$VERSION" >/dev/null)
tarball="$work/swagger-ui-dist-$VERSION.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$actual" != "$INTEGRITY" ]; then
  echo "vendor-swagger-ui: integrity mismatch for swagger-ui-dist@$VERSION: $actual" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work"

rm -rf "$dest"
mkdir -p "$dest"
for f in "${FILES[@]}"; do
  cp "$work/package/$f" "$dest/$f"
done
# The source maps are left out (3 MB that only a browser's developer tools ask for).
echo "$VERSION" > "$dest/VERSION"
echo "vendor-swagger-ui: swagger-ui-dist $VERSION in $dest"
