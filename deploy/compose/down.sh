#!/usr/bin/env bash
# Stops the compose cluster.
#   ./down.sh           stop and remove the containers and networks; keep the data volumes
#                       and ./state, so ./up.sh brings the same cluster back
#   ./down.sh --purge   also delete the data volumes and ./state (PKI, unseal secrets):
#                       every key in the cluster is gone for good
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in
    "")
        compose down
        ;;
    --purge)
        compose down -v
        if [ -e "$state_dir" ]; then
            # The node directories belong to the container's uid.
            if [ "$(id -u)" = 0 ]; then rm -rf "$state_dir"; else sudo -n rm -rf "$state_dir"; fi
        fi
        echo "--- removed the data volumes and $state_dir"
        ;;
    *)
        echo "usage: $0 [--purge]" >&2
        exit 2
        ;;
esac
