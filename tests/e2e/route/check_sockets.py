"""Checks `ss -tanpH` snapshots taken during router traffic: nodes never talk to each other.

usage: check_sockets.py SNAPSHOTS NODES_JSON   (NODES_JSON: [{"name", "pid", "addr": "127.0.0.2:port"}])
Fails (exit 1) when no accepted connection of some node was seen (the check would be blind), when a node process owns any TCP socket other than its listener and connections accepted on it
(so it never opened a connection itself), or when any socket joins two node addresses. Prints a JSON summary.
"""
import json
import re
import sys

snaps, nodes = open(sys.argv[1]).read(), json.loads(sys.argv[2])
by_pid = {str(n["pid"]): n for n in nodes}
node_ips = {n["addr"].rsplit(":", 1)[0] for n in nodes}
seen = {n["name"]: set() for n in nodes}
bad = []
for line in snaps.splitlines():
    f = line.split()
    if len(f) < 5 or f[0] == "----":
        continue
    state, local, peer = f[0], f[3], f[4]
    lip, pip = local.rsplit(":", 1)[0], peer.rsplit(":", 1)[0]
    if lip in node_ips and pip in node_ips and lip != pip:
        bad.append(f"node-to-node socket: {line}")
    for pid in re.findall(r"pid=(\d+)", line):
        n = by_pid.get(pid)
        if not n:
            continue
        if local != n["addr"]:
            bad.append(f"{n['name']} owns a socket it did not accept: {line}")
        elif state != "LISTEN":
            seen[n["name"]].add(peer)
summary = {"node_to_node_sockets": len(bad), "peers_per_node": {k: sorted({p.rsplit(':', 1)[0] for p in v})
                                                                for k, v in seen.items()},
           "accepted_connections_seen": {k: len(v) for k, v in seen.items()}}
print(json.dumps(summary))
for b in bad[:10]:
    print(b, file=sys.stderr)
# The check must be able to fail: every node must have been seen serving connections.
blind = [k for k, v in seen.items() if not v]
if blind:
    print(f"no accepted connection of {blind} seen: the snapshots cannot show anything", file=sys.stderr)
sys.exit(1 if bad or blind else 0)
