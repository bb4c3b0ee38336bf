#!/usr/bin/python3
"""Load on hvrun serve: 50 containers, then 20 clients at once sending 200
requests in all (inspect, logs, top-level lists, exec, stop/kill/wait,
delete) over the Docker API, standard library only. Checks that every
request was answered as expected, that nothing is left (containers, the
server's fds and threads back to where they were) and that the server's RSS
did not keep what the load took. Prints one line per check; exit 1 if any
failed.

Usage: serve_load.py SOCKET SERVER_PID
"""
import http.client
import json
import os
import socket
import sys
import threading
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=120)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(120)
        self.sock.connect(self.path)


def call(sock, method, path, body=None):
    c = UnixConnection(sock)
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    c.request(method, "/v1.41" + path, body=data, headers=headers)
    r = c.getresponse()
    out = r.read()
    c.close()
    return r.status, out


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return int(fields["VmRSS"].split()[0]), int(fields["Threads"]), fds


def main():
    sock, pid = sys.argv[1], int(sys.argv[2])
    failures = []

    def check(name, ok, detail=""):
        print(("ok: " if ok else "FAIL: ") + name + ("" if ok else " (" + detail + ")"))
        if not ok:
            failures.append(name)

    # Warm up the server's allocator and code paths once, then take its measure.
    status, _ = call(sock, "GET", "/containers/json?all=1")
    # (once that connection's thread has ended: the server alone)
    for _ in range(50):
        rss0, threads0, fds0 = proc_status(pid)
        if threads0 == 1:
            break
        time.sleep(0.1)

    ids = []
    for i in range(50):
        status, out = call(sock, "POST", f"/containers/create?name=load{i}",
                           {"Image": "busybox", "Cmd": ["sh", "-c", f"echo hello {i}; exec sleep 600"]})
        if status == 201:
            ids.append(json.loads(out)["Id"])
    check("50 containers created", len(ids) == 50, f"{len(ids)} created")
    started = sum(1 for i in ids if call(sock, "POST", f"/containers/{i}/start")[0] == 204)
    check("and started", started == 50, f"{started} started")

    # 20 clients, 10 requests each, at once.
    results = []
    lock = threading.Lock()

    def client(n):
        mine = []
        for k in range(10):
            cid = ids[(n * 10 + k) % 50]
            kind = k % 5
            try:
                if kind == 0:
                    st, out = call(sock, "GET", f"/containers/{cid}/json")
                    ok = st == 200 and json.loads(out)["State"]["Running"]
                elif kind == 1:
                    st, out = call(sock, "GET", f"/containers/{cid}/logs?stdout=1")
                    ok = st == 200 and b"hello" in out
                elif kind == 2:
                    st, out = call(sock, "GET", "/containers/json")
                    ok = st == 200 and len(json.loads(out)) >= 1
                elif kind == 3:
                    st, out = call(sock, "POST", f"/containers/{cid}/exec", {"Cmd": ["true"]})
                    ok = st == 201
                    if ok:
                        eid = json.loads(out)["Id"]
                        st, out = call(sock, "POST", f"/exec/{eid}/start", {"Detach": False})
                        st2, out2 = call(sock, "GET", f"/exec/{eid}/json")
                        ok = st == 200 and st2 == 200 and json.loads(out2)["ExitCode"] == 0
                else:
                    st, out = call(sock, "GET", "/_ping")
                    ok = st == 200 and out == b"OK"
            except Exception as e:  # noqa: BLE001 - a lost request is what this counts
                ok, st = False, str(e)
            mine.append((kind, ok, st))
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad = [r for r in results if not r[1]]
    check("200 concurrent requests from 20 clients all answered as expected", len(results) == 200 and not bad,
          f"{len(results)} answered, {len(bad)} wrong: {bad[:5]}")

    # Everything removed, by 10 clients at once.
    def remover(part):
        for cid in part:
            call(sock, "DELETE", f"/containers/{cid}?force=1")

    parts = [ids[i::10] for i in range(10)]
    ts = [threading.Thread(target=remover, args=(p,)) for p in parts]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    status, out = call(sock, "GET", "/containers/json?all=1")
    check("no container is left", status == 200 and json.loads(out) == [], out[:200])

    # A connection's thread ends just after its client has read the answer:
    # give the last ones up to 5 s.
    for _ in range(50):
        rss1, threads1, fds1 = proc_status(pid)
        if fds1 == fds0 and threads1 == threads0:
            break
        time.sleep(0.1)
    print(f"server: RSS {rss0} -> {rss1} KiB, threads {threads0} -> {threads1}, fds {fds0} -> {fds1}")
    check("the server's fds are back where they were", fds1 == fds0, f"{fds0} -> {fds1}")
    check("its threads too", threads1 == threads0, f"{threads0} -> {threads1}")
    check("its RSS did not keep the load (at most +16 MiB)", rss1 - rss0 <= 16 * 1024, f"{rss0} -> {rss1} KiB")
    status, out = call(sock, "GET", "/_ping")
    check("it still answers", status == 200 and out == b"OK")
    print("SERVE-LOAD: " + ("PASS" if not failures else f"{len(failures)} FAILED"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
