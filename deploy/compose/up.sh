#!/usr/bin/env bash
# Starts the three-node compose cluster and initializes it once:
#   1. builds keyhold/hsmd:dev if the image is missing (deploy/docker/build-image.sh);
#   2. runs ./setup.sh if ./state is missing (PKI, node configs, unseal secrets);
#   3. docker compose up -d;
#   4. waits (bounded) until every node answers `hsmctl cluster status`;
#   5. runs `hsmctl cluster init` if the cluster is not initialized yet, and waits until a
#      leader is elected and every node is unsealed.
# Environment: KEYHOLD_IMAGE (image tag), HSMCTL (hsmctl binary), KEYHOLD_WAIT_SECS
# (default 90), KEYHOLD_API_PORT_1..3 (published ports, default 17101..17103; set them
# before the first setup).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

wait_secs="${KEYHOLD_WAIT_SECS:-90}"

if ! docker image inspect "$image" >/dev/null 2>&1; then
    echo "--- image $image missing: building it"
    "$repo_root/deploy/docker/build-image.sh" --tag "$image"
fi

if [ ! -f "$state_dir/client.toml" ]; then
    echo "--- no $state_dir: running setup.sh"
    "$compose_dir/setup.sh"
fi

hsmctl="$(find_hsmctl)"
client_config="$state_dir/client.toml"

echo "--- compose up"
compose up -d

# status_json prints `hsmctl cluster status` as one JSON line, or fails.
status_json() {
    "$hsmctl" --config "$client_config" --output json cluster status 2>/dev/null
}

# count KEY VALUE JSON: how many times "KEY":VALUE occurs (serde_json writes no spaces).
count() {
    grep -o "\"$1\":$2" <<<"$3" | wc -l
}

# wait_for WHAT TEST: polls TEST (a function of the status JSON) until it holds or the
# deadline passes.
wait_for() {
    local what="$1" test="$2" deadline=$((SECONDS + wait_secs)) json=""
    echo "--- waiting (at most ${wait_secs}s) for $what"
    while [ "$SECONDS" -lt "$deadline" ]; do
        if json="$(status_json)" && "$test" "$json"; then
            return 0
        fi
        sleep 2
    done
    echo "up: timed out waiting for $what; last status: ${json:-none}" >&2
    echo "    logs: docker logs keyhold-node-1 (and -2, -3)" >&2
    return 1
}

all_reachable() {
    [ "$(count reachable true "$1")" -eq 3 ]
}

healthy() {
    [ "$(count initialized true "$1")" -eq 1 ] && [ "$(count leader_id 0 "$1")" -eq 0 ] &&
        [ "$(count sealed false "$1")" -eq 3 ] && all_reachable "$1"
}

wait_for "every node to answer" all_reachable
if [ "$(count initialized true "$(status_json)")" -eq 0 ]; then
    echo "--- hsmctl cluster init"
    "$hsmctl" --config "$client_config" cluster init
fi
wait_for "a leader and every node unsealed" healthy
"$hsmctl" --config "$client_config" cluster status
echo "--- ready: $hsmctl --config $client_config <command>"
