#!/usr/bin/env bash
# Failover drills against the compose cluster, using Docker to kill containers and to cut
# a node off the backbone network. Run by .ci/run; also useful by hand:
#   ./drill.sh            leader-kill, az-partition, compose restart; leaves it running
#   ./drill.sh --fresh    first purge any previous compose cluster (data and state)
# Every key acknowledged before or during a fault must still sign afterwards on every
# node; the cut-off node must refuse writes, the majority accept them, and the cut-off
# node must catch up after healing. Each node's readiness check (`hsmd health`) must fail
# on the cut-off node and pass again on every node after each heal or restart. Traffic
# stays on 127.0.0.1 and the networks compose made. Exits non-zero on the first failed
# check. Finally every node's audit chain must verify and hold the drills' key writes.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${1:-}" = "--fresh" ]; then
    "$compose_dir/down.sh" --purge >/dev/null 2>&1 || true
fi
"$compose_dir/up.sh"

hsmctl="$(find_hsmctl)"
config="$state_dir/client.toml"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo 'drill message' >"$work/msg"
keys=()

fail() {
    echo "drill: FAILED: $*" >&2
    exit 1
}

# node_config N: a client config that talks to node N only (no discovery).
node_config() {
    local file="$work/node-$1.toml"
    cat >"$file" <<TOML
endpoints = ["https://127.0.0.1:$(api_port "$1")"]
ca = "$state_dir/pki/ca.pem"
cert = "$state_dir/pki/client.pem"
key = "$state_dir/pki/client.key"
tls_server_name = "localhost"
discovery = false
timeout_ms = 8000
TOML
    echo "$file"
}

json() { "$hsmctl" --config "$1" --output json "${@:2}"; }

leader() {
    json "$config" cluster status | grep -o '"leader_id":[0-9]*' | head -1 | cut -d: -f2
}

# wait_until WHAT SECONDS COMMAND...: polls COMMAND every second.
wait_until() {
    local what="$1" deadline=$((SECONDS + $2))
    shift 2
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || fail "timed out waiting for $what"
        sleep 1
    done
}

# node_ready N: node N's own readiness check (`hsmd health` in its container, the check
# behind its Docker health status, run now rather than waiting for the next interval).
node_ready() {
    docker exec "keyhold-node-$1" /usr/local/bin/hsmd health --config /etc/keyhold/hsmd.toml
}

# node_not_ready N: node N's readiness check fails.
node_not_ready() {
    ! node_ready "$1"
}

all_ready() {
    node_ready 1 && node_ready 2 && node_ready 3
}

new_key() {
    local id
    id="$(json "${2:-$config}" key generate --algorithm ec-p256 --label "drill-$1" |
        grep -o '"id":"k-[0-9a-f]*"' | cut -d'"' -f4)"
    [ -n "$id" ] || fail "key generate returned no id"
    keys+=("$id")
}

sign_on() {
    "$hsmctl" --config "$(node_config "$1")" sign --key "$2" --scheme ecdsa-sha256 \
        --in "$work/msg" --out "$work/sig" >/dev/null
}

check_all_keys_sign_everywhere() {
    for node in 1 2 3; do
        for key in "${keys[@]}"; do
            wait_until "key $key to sign on node $node" 30 sign_on "$node" "$key"
        done
    done
    echo "--- all ${#keys[@]} acknowledged keys sign on every node"
}

echo "=== drill leader-kill"
new_key before-1
new_key before-2
old="$(leader)"
if [ -z "$old" ] || [ "$old" = 0 ]; then fail "no leader"; fi
echo "--- docker kill keyhold-node-$old (the leader)"
docker kill "keyhold-node-$old" >/dev/null
start=$SECONDS
failed=0
for _ in $(seq 1 20); do
    "$hsmctl" --config "$config" sign --key "${keys[0]}" --scheme ecdsa-sha256 \
        --in "$work/msg" --out "$work/sig" >/dev/null 2>&1 || failed=$((failed + 1))
done
echo "--- 20 signs during the failover, $failed failed"
[ "$failed" -eq 0 ] || fail "signs failed while a quorum and healthy nodes remained"
survivor=$(( old % 3 + 1 ))
new_leader() { local l; l="$(json "$(node_config "$survivor")" cluster status | grep -o '"leader_id":[0-9]*' | cut -d: -f2)"; [ -n "$l" ] && [ "$l" != 0 ] && [ "$l" != "$old" ]; }
wait_until "a new leader" 30 new_leader
echo "--- new leader after $((SECONDS - start))s"
wait_until "writes to succeed again" 30 new_key during-leader-kill
docker start "keyhold-node-$old" >/dev/null
wait_until "node $old to be ready again" 60 node_ready "$old"
echo "--- node $old is ready again ($(node_ready "$old"))"
check_all_keys_sign_everywhere

echo "=== drill az-partition"
cut=3
echo "--- docker network disconnect keyhold_backbone keyhold-node-$cut"
docker network disconnect keyhold_backbone "keyhold-node-$cut"
if json "$(node_config "$cut")" key generate --algorithm ec-p256 --label drill-minority >/dev/null 2>&1; then
    fail "the cut-off node accepted a write"
fi
echo "--- the cut-off node refused a write"
new_key majority-1 "$(node_config 1)"
new_key majority-2 "$(node_config 2)"
echo "--- the majority accepted writes"
wait_until "the cut-off node to report not ready" 30 node_not_ready "$cut"
echo "--- the cut-off node reports: $(node_ready "$cut" 2>&1)"
docker network connect --ip 172.30.0.1$cut keyhold_backbone "keyhold-node-$cut"
echo "--- healed"
wait_until "node $cut to be ready again" 60 node_ready "$cut"
check_all_keys_sign_everywhere

echo "=== compose restart keeps data"
compose restart >/dev/null
wait_until "every node to be ready after the restart" 90 all_ready
wait_until "the cluster after restart" 90 sign_on 1 "${keys[0]}"
check_all_keys_sign_everywhere

echo "=== audit trails survive the faults and the restart"
# Each node's hash chain verifies end to end, and the key writes of the drills are in it.
"$hsmctl" --config "$config" audit verify --all
total=0
for n in 1 2 3; do
    made="$(json "$config" audit show --node "$n" --limit 1000 |
        jq '[.events[] | select(.action == "GenerateKey" and .outcome == "OK")] | length')"
    echo "--- node $n recorded $made acknowledged key generations"
    total=$((total + made))
done
if [ "$total" -lt "${#keys[@]}" ]; then
    echo "drill: only $total acknowledged generations audited, ${#keys[@]} keys made" >&2
    exit 1
fi
echo "=== drills passed"
