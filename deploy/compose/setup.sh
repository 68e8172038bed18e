#!/usr/bin/env bash
# Makes ./state for the compose cluster, once:
#
#   state/pki/           hsmctl pki init output, CA key included (mode 0700, never mounted)
#   state/node-N/        mounted read-only at /etc/keyhold in node N's container:
#                        hsmd.toml, ca.pem, node.pem, node.key, unseal.secret
#                        (owned by the image's uid 65532; key and secret mode 0600)
#   state/client.toml    for hsmctl on this host, through the ports published on 127.0.0.1
#
# Each node advertises its API as 127.0.0.1:<published port>: clients switch to the
# advertised addresses after their first call, and the clients here are on this host.
# Node-to-node addresses are the fixed backbone addresses.
#
# Refuses to overwrite an existing ./state: new secrets would not open the sealed cluster
# keys in the existing data volumes. `./down.sh --purge` removes both.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

azs=(az-a az-b az-c)
nodes=(1 2 3)
[ $# -eq 0 ] || { echo "usage: $0" >&2; exit 2; }

if [ -e "$state_dir" ]; then
    echo "setup: $state_dir exists; remove it (./down.sh --purge) to start over" >&2
    exit 1
fi

# The node files must belong to the container's user; only root (or sudo) can do that.
as_root=()
if [ "$(id -u)" != 0 ]; then
    if sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        echo "setup: run as root or with passwordless sudo: node files go to uid $node_uid" >&2
        exit 1
    fi
fi

hsmctl="$(find_hsmctl)"
umask 077
mkdir -p "$state_dir/pki"

# No --san: each node certificate already names localhost (what the host client checks)
# and its own node-N (what peers check). Adding every node-N to every certificate would
# let one node pass for another on the node-to-node port.
echo "--- hsmctl pki init --dir state/pki --nodes ${#nodes[@]}"
"$hsmctl" pki init --dir "$state_dir/pki" --nodes "${#nodes[@]}"

# node_config N prints node N's hsmd.toml. Paths are relative to the file (/etc/keyhold).
node_config() {
    local n="$1" p
    cat <<EOF
# Node $n of the compose cluster (made by deploy/compose/setup.sh).
node_id = $n
availability_zone = "${azs[n - 1]}"
# Clients: every interface of the container (AZ network, published port).
api_addr = "0.0.0.0:7100"
advertise_api_addr = "127.0.0.1:$(api_port "$n")"
# Peers: the fixed backbone address only (listen and advertised).
raft_addr = "172.30.0.1$n:7200"
data_dir = "/var/lib/keyhold"

[tls]
ca = "ca.pem"
cert = "node.pem"
key = "node.key"

[unseal]
secret_file = "unseal.secret"
EOF
    for p in "${nodes[@]}"; do
        [ "$p" = "$n" ] && continue
        cat <<EOF

[[peers]]
id = $p
availability_zone = "${azs[p - 1]}"
api_addr = "127.0.0.1:$(api_port "$p")"
raft_addr = "172.30.0.1$p:7200"
EOF
    done
}

for n in "${nodes[@]}"; do
    dir="$state_dir/node-$n"
    mkdir -p "$dir"
    node_config "$n" >"$dir/hsmd.toml"
    cp "$state_dir/pki/ca.pem" "$dir/ca.pem"
    cp "$state_dir/pki/node-$n.pem" "$dir/node.pem"
    cp "$state_dir/pki/node-$n.key" "$dir/node.key"
    # 32 random bytes, base64: a secret a person can copy into a password manager.
    head -c 32 /dev/urandom | base64 >"$dir/unseal.secret"
    chmod 0644 "$dir/hsmd.toml" "$dir/ca.pem" "$dir/node.pem"
    chmod 0600 "$dir/node.key" "$dir/unseal.secret"
    chmod 0700 "$dir"
    "${as_root[@]}" chown -R "$node_uid:$node_gid" "$dir"
done

endpoints=""
for n in "${nodes[@]}"; do
    endpoints+="${endpoints:+, }\"https://127.0.0.1:$(api_port "$n")\""
done
cat >"$state_dir/client.toml" <<EOF
# hsmctl on this host -> the API ports docker publishes on 127.0.0.1.
endpoints = [$endpoints]
ca = "pki/ca.pem"
cert = "pki/client.pem"
key = "pki/client.key"
# Every node certificate carries localhost; the host reaches nodes through 127.0.0.1.
tls_server_name = "localhost"
EOF

echo "--- state written to $state_dir"
echo "    back up state/pki and state/node-*/unseal.secret somewhere safe: without a"
echo "    node's unseal secret its sealed cluster key cannot be opened."
