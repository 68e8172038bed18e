# Shared by setup.sh, up.sh and down.sh (sourced, not run): paths, the compose command,
# and where to find hsmctl. (SC2034: the variables are used by the scripts that source it.)
# shellcheck shell=bash disable=SC2034

compose_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$compose_dir/../.." && pwd)"
state_dir="$compose_dir/state"
project="keyhold"
image="${KEYHOLD_IMAGE:-keyhold/hsmd:dev}"
# uid:gid the image runs as (USER in deploy/docker/Dockerfile).
node_uid=65532
node_gid=65532

# Runs `docker compose` (plugin) or `docker-compose` (standalone), whichever exists.
compose() {
    if docker compose version >/dev/null 2>&1; then
        docker compose -p "$project" -f "$compose_dir/docker-compose.yml" "$@"
    elif command -v docker-compose >/dev/null; then
        docker-compose -p "$project" -f "$compose_dir/docker-compose.yml" "$@"
    else
        echo "neither 'docker compose' nor 'docker-compose' is installed" >&2
        return 1
    fi
}

# Prints the path of an hsmctl binary: $HSMCTL, one on PATH, or the workspace's
# (built in debug if missing).
find_hsmctl() {
    local target="${CARGO_TARGET_DIR:-$repo_root/target}"
    if [ -n "${HSMCTL:-}" ]; then
        echo "$HSMCTL"
    elif command -v hsmctl >/dev/null; then
        command -v hsmctl
    elif [ -x "$target/release/hsmctl" ]; then
        echo "$target/release/hsmctl"
    else
        (cd "$repo_root" && cargo build --quiet -p keyhold-hsmctl --bin hsmctl) >&2
        echo "$target/debug/hsmctl"
    fi
}

# Host port of node N's published API (docker-compose.yml has the same defaults).
api_port() {
    local var="KEYHOLD_API_PORT_$1"
    echo "${!var:-$((17100 + $1))}"
}
