#!/usr/bin/env bash
# Starts the three-node compose cluster and initializes it once:
#   1. builds keyhold/hsmd:dev if the image is missing (deploy/docker/build-image.sh);
#   2. runs ./setup.sh if ./state is missing (PKI, node configs, unseal secrets);
#   3. docker compose up -d;
#   4. waits (bounded) until every node answers `hsmctl cluster status`;
#   5. runs `hsmctl cluster init` if the cluster is not initialized yet;
#   6. waits (bounded) until Docker reports every container `healthy`: its `hsmd health`
#      check passes (initialized, unsealed, a leader and a quorum in sight). Before init
#      the check fails by design, so init comes first.
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

# health N: Docker's health status of node N's container (starting, healthy, unhealthy).
health() {
    docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' \
        "keyhold-node-$1" 2>/dev/null || echo missing
}

# last_check N: the output of the latest health check in node N's container.
last_check() {
    docker inspect --format \
        '{{if .State.Health}}{{range .State.Health.Log}}{{.Output}}{{end}}{{end}}' \
        "keyhold-node-$1" 2>/dev/null | grep -v '^$' | tail -n 1
}

# wait_healthy: polls every container's health until all are healthy or the deadline
# passes; on timeout prints each one's status and last check output.
wait_healthy() {
    local deadline=$((SECONDS + wait_secs)) n pending
    echo "--- waiting (at most ${wait_secs}s) for every container to be healthy"
    while :; do
        pending=""
        for n in 1 2 3; do
            [ "$(health "$n")" = healthy ] || pending+=" node-$n"
        done
        [ -n "$pending" ] || return 0
        [ "$SECONDS" -lt "$deadline" ] || break
        sleep 2
    done
    echo "up: timed out waiting for$pending to be healthy:" >&2
    for n in 1 2 3; do
        echo "    node-$n: $(health "$n"): $(last_check "$n")" >&2
    done
    echo "    logs: docker logs keyhold-node-1 (and -2, -3)" >&2
    return 1
}

wait_for "every node to answer" all_reachable
if [ "$(count initialized true "$(status_json)")" -eq 0 ]; then
    echo "--- hsmctl cluster init"
    "$hsmctl" --config "$client_config" cluster init
fi
wait_healthy
"$hsmctl" --config "$client_config" cluster status
echo "--- ready: $hsmctl --config $client_config <command>"
