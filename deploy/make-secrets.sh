#!/bin/sh
# Create everything a haplane cluster needs to start, in DIR (mode 0700, files 0600):
#   cluster_secret            the Raft secret (every replica)
#   tokens                    TOKEN,USER,ROLE lines (every replica)
#   admin_token, node_token   one token each (clients, agents)
#   ca.pem, ca-key.pem        a private CA (keep ca-key.pem offline once certificates are made)
#   server.pem, server-key.pem  one HTTPS certificate valid for HOSTS
#   agent.pem, agent-key.pem    the agents' log servers' certificate, valid for AGENT_HOSTS
#   client.json               a client config for this host: endpoints, tokenFile, ca
# Usage: deploy/make-secrets.sh DIR [HOSTS] [ENDPOINTS]
#   HOSTS     names/addresses in the certificate (default r1,r2,r3,localhost,127.0.0.1: compose; keep
#             127.0.0.1: kubectl reaches the replicas through the agents' API load balancers there)
#   ENDPOINTS for client.json (default https://127.0.0.1:7001,https://127.0.0.1:7002,https://127.0.0.1:7003)
# Existing files are kept (re-running is safe); delete one to regenerate it.
# Env: HAPLANE (default "haplane"; e.g. "python3 -m haplane" from a checkout); AGENT_HOSTS
#   (default HAPLANE_SUBNET_PREFIX.1, i.e. 172.31.250.1: where compose's agents serve logs)
set -eu
dir="${1:?usage: make-secrets.sh DIR [HOSTS] [ENDPOINTS]}"
hosts="${2:-r1,r2,r3,localhost,127.0.0.1}"
endpoints="${3:-https://127.0.0.1:7001,https://127.0.0.1:7002,https://127.0.0.1:7003}"
haplane="${HAPLANE:-haplane}"
umask 077
mkdir -p "$dir"
chmod 700 "$dir"
rand() { head -c 32 /dev/urandom | base64 | tr -d '/+=\n'; }
[ -s "$dir/cluster_secret" ] || rand >"$dir/cluster_secret"
if [ ! -s "$dir/tokens" ]; then
    admin="$(rand)"; node="$(rand)"; viewer="$(rand)"
    printf '%s,admin,admin\n%s,node,node\n%s,viewer,viewer\n' "$admin" "$node" "$viewer" >"$dir/tokens"
    printf '%s\n' "$admin" >"$dir/admin_token"
    printf '%s\n' "$node" >"$dir/node_token"
fi
agent_hosts="${AGENT_HOSTS:-${HAPLANE_SUBNET_PREFIX:-172.31.250}.1}"
[ -s "$dir/server.pem" ] || $haplane certs generate --dir "$dir" --hosts "$hosts" >/dev/null
[ -s "$dir/agent.pem" ] || $haplane certs generate --dir "$dir" --hosts "$agent_hosts" --name agent >/dev/null
chmod 600 "$dir"/*.pem
if [ ! -s "$dir/client.json" ]; then
    eps="$(printf '%s' "$endpoints" | sed 's/[^,][^,]*/"&"/g')"
    printf '{"endpoints": [%s], "tokenFile": "admin_token", "ca": "ca.pem"}\n' "$eps" >"$dir/client.json"
fi
echo "$dir: cluster_secret tokens admin_token node_token ca.pem server.pem server-key.pem agent.pem agent-key.pem client.json"
