#!/usr/bin/env bash
# Vendors the GraphiQL page's third-party code into assets/graphiql/vendor/: fetches each
# pinned package from the npm registry, refuses a tarball whose SHA-512 differs from the
# integrity pinned below, and copies only the production bundles and each licence, under
# names carrying the version. The binary embeds these files; nothing fetches them at build
# or run time, so this runs only to change a version. After changing one, update the file
# names in src/http/graphiql.rs, assets/graphiql/index.html and tests/api/graphiql.rs (the
# build fails on a name that no longer exists).
#
# GraphiQL 4.1 is the last release with a standalone (UMD) bundle: GraphiQL 5 ships ES
# modules only, for a bundler or an import-map CDN. React 18.3 is the last release with
# UMD builds, which the bundle reads as the globals React and ReactDOM.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/assets/graphiql/vendor"

# package version integrity: the registry's dist.integrity of that version
# (`npm view <package>@<version> dist.integrity`).
packages=(
    "graphiql 4.1.2 sha512-rNlzQIAzm6i2KBXmVQWBgLvt0TloxFVB2d18bukvdsvjEuFDHsKx5IVOomL1W1o5WW+tE54+ioHb2AEKzO2cUg=="
    "react 18.3.1 sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ=="
    "react-dom 18.3.1 sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw=="
)

# The files taken from each package: path inside the tarball, then the vendored name.
files_of() {
    local name="$1" version="$2"
    case "$name" in
        graphiql)
            echo "package/graphiql.min.js graphiql-$version.min.js"
            echo "package/graphiql.min.css graphiql-$version.min.css"
            ;;
        react) echo "package/umd/react.production.min.js react-$version.production.min.js" ;;
        react-dom) echo "package/umd/react-dom.production.min.js react-dom-$version.production.min.js" ;;
    esac
    echo "package/LICENSE $name-$version.LICENSE"
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

rm -rf "$dest"
mkdir -p "$dest"
rows=""
for entry in "${packages[@]}"; do
    read -r name version integrity <<<"$entry"
    tarball="$(cd "$work" && npm pack "$name@$version" --silent)"
    actual="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | openssl base64 -A)"
    if [ "$actual" != "$integrity" ]; then
        echo "$name@$version: the tarball's integrity is $actual, not the pinned $integrity" >&2
        exit 1
    fi
    mkdir -p "$work/$name"
    tar -xzf "$work/$tarball" -C "$work/$name"
    while read -r from to; do
        cp "$work/$name/$from" "$dest/$to"
    done < <(files_of "$name" "$version")
    rows+="| $name | $version | \`$tarball\` | \`$integrity\` |"$'\n'
done

(cd "$dest" && sha256sum -- *.js *.css *.LICENSE >SHA256SUMS)

cat >"$dest/README.md" <<EOF
# Vendored GraphiQL

Written by \`scripts/vendor-graphiql.sh\`; do not edit by hand. The files are the
packages' own bytes, copied from the npm registry's tarballs after checking each
tarball's integrity; \`SHA256SUMS\` lists their SHA-256 (\`sha256sum -c SHA256SUMS\`), and a
unit test in \`src/http/graphiql.rs\` checks the embedded copies against it.

| package | version | registry tarball | its integrity |
| --- | --- | --- | --- |
$rows
Each \`*.LICENSE\` file is that package's licence (MIT), served beside its code.
EOF
echo "vendored into $dest:"
cat "$dest/SHA256SUMS"
