#!/usr/bin/env bash
# Builds the Keyhold node image (FROM scratch): compiles the release `hsmd`, stages it with
# exactly the shared libraries `ldd` reports (the dynamic loader included), and runs
# `docker build` on the staging directory.
#
#   deploy/docker/build-image.sh                  # build hsmd, tag keyhold/hsmd:dev
#   deploy/docker/build-image.sh --tag T          # another tag
#   deploy/docker/build-image.sh --binary PATH    # use an already built hsmd, skip cargo
#
# Honours CARGO_TARGET_DIR. Needs cargo (unless --binary), ldd, docker.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tag="keyhold/hsmd:dev"
binary=""

usage() {
    sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
        --tag) tag="${2:?--tag needs a value}"; shift 2 ;;
        --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "build-image: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done

# The hsmd binary sits behind a cargo feature while the node is being assembled; follow
# what server/Cargo.toml says rather than hard-coding it, so this keeps working once the
# feature goes away.
features=()
if grep -Eq '^required-features *= *\[.*"assembled"' "$root/server/Cargo.toml"; then
    features=(--features assembled)
fi

if [ -z "$binary" ]; then
    echo "--- cargo build --release -p keyhold-server --bin hsmd ${features[*]}"
    (cd "$root" && cargo build --release -p keyhold-server --bin hsmd "${features[@]}")
    binary="${CARGO_TARGET_DIR:-$root/target}/release/hsmd"
fi
[ -x "$binary" ] || { echo "build-image: no executable at $binary" >&2; exit 1; }

staging="$(mktemp -d "${TMPDIR:-/tmp}/keyhold-image.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/rootfs/usr/local/bin" "$staging/rootfs/var/lib" "$staging/varlib/keyhold"
chmod 0700 "$staging/varlib/keyhold"
cp "$binary" "$staging/rootfs/usr/local/bin/hsmd"
chmod 0755 "$staging/rootfs/usr/local/bin/hsmd"
# Symbols are not needed at run time; strip the staged copy only, never the build output.
if command -v strip >/dev/null; then
    strip --strip-unneeded "$staging/rootfs/usr/local/bin/hsmd"
fi

# Each library at the path the loader will look for it. `ldd` lines are either
# "name => /path (addr)", "/path/to/loader (addr)", or the vDSO (no file, skipped).
echo "--- shared libraries (ldd $binary)"
ldd_out="$(ldd "$binary" 2>&1 || true)"
if grep -q 'not found' <<<"$ldd_out"; then
    echo "build-image: unresolved libraries:" >&2
    grep 'not found' <<<"$ldd_out" >&2
    exit 1
fi
libs="$(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$ldd_out")"
if [ -z "$libs" ] && ! grep -Eq 'statically linked|not a dynamic executable' <<<"$ldd_out"; then
    echo "build-image: could not read ldd output:" >&2
    echo "$ldd_out" >&2
    exit 1
fi
for lib in $libs; do
    mkdir -p "$staging/rootfs$(dirname "$lib")"
    cp -L "$lib" "$staging/rootfs$lib"
    echo "    $lib"
done

version="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$root/Cargo.toml" | head -n1)"
revision="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
cp "$here/Dockerfile" "$staging/Dockerfile"

echo "--- docker build -t $tag"
docker build \
    --label "org.opencontainers.image.title=keyhold-hsmd" \
    --label "org.opencontainers.image.version=${version:-unknown}" \
    --label "org.opencontainers.image.revision=$revision" \
    --label "org.opencontainers.image.licenses=Apache-2.0" \
    -t "$tag" "$staging"
docker image inspect --format '{{.Id}} {{.Size}} bytes' "$tag"
