#!/bin/sh
# Refresh the vendored browser libraries in static/vendor/ from the npm registry.
#
# Pages never load anything from a CDN: every third-party file they use is copied here,
# at an exact version, with its licence, and committed. To upgrade one, change its
# version AND its integrity below (take the new value from `npm view PKG@VER dist.integrity`,
# after reading the package's changelog), run this script, and commit static/vendor/.
#
# The tarballs are fetched with `npm pack` (no install scripts run) and checked
# against the pinned sha512 integrity before anything is copied.
set -eu
cd "$(dirname "$0")/.."

# name  version  integrity (sha512, as npm reports it)  files to copy (from package/)
PINS='
socket.io-client 4.8.4 sha512-7wjKAvVXYOJsbmUgkWbnhPD4bFpkqrUR0++XOjpGFmqDqsqV1CI93VTraeExLxpjxEqrWgFoSRZu1ihjLWfkAA== dist/socket.io.esm.min.js dist/socket.io.esm.min.js.map LICENSE
tweetnacl 1.0.3 sha512-6rt+RN7aOi1nGMyC4Xa5DdYiukl2UWCbcJft7YhxReBGQD7OAM8Pbxw6YMo4r2diNEA8FEmu32YOn9rhaiE5yw== nacl-fast.min.js LICENSE
axe-core 4.14.1 sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ== axe.min.js LICENSE LICENSE-3RD-PARTY.txt
'

command -v npm >/dev/null 2>&1 || { echo "vendor.sh: npm is required" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest=static/vendor
mkdir -p "$dest"
manifest="$work/VERSIONS.txt"
{
  echo "# Vendored by scripts/vendor.sh from the npm registry. Do not edit by hand."
  echo "# package version integrity"
} >"$manifest"

echo "$PINS" | while read -r name version integrity files; do
  [ -n "$name" ] || continue
  echo "vendor.sh: $name@$version" >&2
  (cd "$work" && npm pack --silent "$name@$version" >/dev/null)
  tarball="$work/$(echo "$name" | tr -d '@' | tr '/' '-')-$version.tgz"
  actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [ "$actual" != "$integrity" ]; then
    echo "vendor.sh: integrity mismatch for $name@$version" >&2
    echo "  expected $integrity" >&2
    echo "  got      $actual" >&2
    exit 1
  fi
  mkdir -p "$work/$name"
  tar -xzf "$tarball" -C "$work/$name"
  rm -rf "${dest:?}/$name"
  mkdir -p "$dest/$name"
  for f in $files; do
    cp "$work/$name/package/$f" "$dest/$name/$(basename "$f")"
  done
  echo "$name $version $integrity" >>"$manifest"
done

cp "$manifest" "$dest/VERSIONS.txt"
(cd "$dest" && find . -type f ! -name SHA256SUMS ! -name VERSIONS.txt | LC_ALL=C sort |
  xargs sha256sum >SHA256SUMS)
echo "vendor.sh: done; review and commit $dest/" >&2
