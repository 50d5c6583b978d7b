"""Clients for the router e2e tests (python3 standard library only).

  drive.py place ROUTER PROMPTS.json          completions for prompts tagged with their cluster's node; prints JSON
                                              {"total", "correct", "by_domain": {...}} (placement vs the plan)
  drive.py concurrent ROUTER N PROMPTS.json   N streaming chat sessions at once, two turns each; prints JSON
                                              {"completed", "failed", "nodes": {...}, "repinned": k, "errors": [...]}
"""
import json
import sys
import threading
import time
import urllib.request


def post(router, path, body, headers=None, timeout=120):
    req = urllib.request.Request(router + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    return urllib.request.urlopen(req, timeout=timeout)


def place(router, prompts_file):
    prompts = json.load(open(prompts_file))
    by_domain, correct = {}, 0
    for p in prompts:
        with post(router, "/v1/completions", {"prompt": p["prompt"], "max_tokens": 2, "temperature": 0}) as r:
            node = r.headers["X-Banyan-Node"]
            json.load(r)
        d = by_domain.setdefault(p["domain"], {"expected": p["node"], "got": {}})
        d["got"][node] = d["got"].get(node, 0) + 1
        correct += node == p["node"]
    print(json.dumps({"total": len(prompts), "correct": correct, "by_domain": by_domain}))


def stream_chat(router, messages, user):
    """One streaming turn: returns (node, placement, text, saw_done, error)."""
    body = {"messages": messages, "stream": True, "max_tokens": 12, "temperature": 0, "user": user}
    text, done, error = "", False, None
    with post(router, "/v1/chat/completions", body) as r:
        node, placement = r.headers["X-Banyan-Node"], r.headers["X-Banyan-Placement"]
        buf = b""
        while True:
            chunk = r.read1(65536)
            if not chunk:
                break
            buf += chunk
            while b"\n\n" in buf:
                ev, buf = buf.split(b"\n\n", 1)
                for line in ev.decode().splitlines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        continue
                    j = json.loads(data)
                    if "error" in j:
                        error = j["error"]
                    else:
                        for c in j.get("choices", []):
                            text += c.get("delta", {}).get("content") or ""
    return node, placement, text, done, error


def concurrent(router, n, prompts_file):
    prompts = json.load(open(prompts_file))
    results, lock = [], threading.Lock()

    def session(i):
        p = prompts[i % len(prompts)]["prompt"][:200] if prompts else "hello"
        msgs = [{"role": "user", "content": f"[{i}] {p}"}]
        try:
            n1, pl1, t1, d1, e1 = stream_chat(router, msgs, f"conc-{i}")
            msgs += [{"role": "assistant", "content": t1}, {"role": "user", "content": "more"}]
            n2, pl2, t2, d2, e2 = stream_chat(router, msgs, f"conc-{i}")
            ok = d1 and d2 and not e1 and not e2
            with lock:
                results.append({"i": i, "ok": ok, "node": n1, "node2": n2, "pl2": pl2, "err": e1 or e2})
        except Exception as e:  # noqa: BLE001 - reported, counted as a failure
            with lock:
                results.append({"i": i, "ok": False, "err": repr(e)})

    t0 = time.time()
    threads = [threading.Thread(target=session, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    nodes = {}
    for r in results:
        if r["ok"]:
            nodes[r["node"]] = nodes.get(r["node"], 0) + 1
    print(json.dumps({"completed": sum(r["ok"] for r in results), "failed": sum(not r["ok"] for r in results),
                      "nodes": nodes, "seconds": round(time.time() - t0, 2),
                      "repinned": sum(1 for r in results if r["ok"] and (r["node2"] != r["node"] or r["pl2"] != "pinned")),
                      "errors": [r["err"] for r in results if not r["ok"]][:5]}))


if __name__ == "__main__":
    if sys.argv[1] == "place":
        place(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "concurrent":
        concurrent(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(__doc__)
