#!/usr/bin/env python3
"""A client for hvrun serve's sandbox endpoints (/hvrun/v1/sandboxes),
with Python's standard library only: make a sandbox (a container or a
microVM, with limits and a time to live), run commands in it with their
output as it comes, write and read its files, extend its TTL, destroy it.

    from hvrun_sandbox import Client
    c = Client("/run/hvrun/hvrun.sock")
    box = c.create("busybox", mode="container", memory="128m", ttl_seconds=600)
    box.write("/tmp/job.sh", b"echo hello from $(hostname)\\n", mode=0o755)
    result = box.exec(["sh", "/tmp/job.sh"], timeout_seconds=10)
    print(result.exit_code, result.stdout)
    box.destroy()

Run as a script it does the same and prints what it got:
    hvrun_sandbox.py [--socket PATH] [--mode container|vm] [--image IMAGE]
"""
import argparse
import http.client
import json
import socket
import sys
import urllib.parse


class Error(Exception):
    """The server's answer to a request it refused: status and message."""

    def __init__(self, status, message):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class ExecResult:
    def __init__(self):
        self.stdout = ""
        self.stderr = ""
        self.exit_code = None
        self.timed_out = False


class Sandbox:
    def __init__(self, client, info):
        self._client = client
        self.info = info
        self.id = info["id"]
        self.name = info["name"]

    def exec(self, cmd, stdin="", env=(), workdir="", user="", timeout_seconds=0, on_output=None):
        """Runs cmd; on_output(stream, text) is called as output arrives
        ("stdout" or "stderr"). Returns an ExecResult."""
        body = {"cmd": list(cmd), "stdin": stdin, "env": list(env), "workdir": workdir, "user": user,
                "timeout_seconds": timeout_seconds}
        result = ExecResult()
        for event in self._client._stream("POST", f"/hvrun/v1/sandboxes/{self.id}/exec", body):
            for stream in ("stdout", "stderr"):
                if stream in event:
                    setattr(result, stream, getattr(result, stream) + event[stream])
                    if on_output:
                        on_output(stream, event[stream])
            if "exit_code" in event:
                result.exit_code = event["exit_code"]
                result.timed_out = event.get("timed_out", False)
        if result.exit_code is None:
            raise Error(0, "the exec's stream ended without an exit code")
        return result

    def write(self, path, data, mode=0o644):
        if isinstance(data, str):
            data = data.encode()
        query = urllib.parse.urlencode({"path": path, "mode": format(mode, "o")})
        self._client._request("PUT", f"/hvrun/v1/sandboxes/{self.id}/files?{query}", raw=data)

    def read(self, path):
        query = urllib.parse.urlencode({"path": path})
        return self._client._request("GET", f"/hvrun/v1/sandboxes/{self.id}/files?{query}", want_bytes=True)

    def extend(self, ttl_seconds):
        """The sandbox now ends ttl_seconds from now (0: never)."""
        self.info = self._client._request("POST", f"/hvrun/v1/sandboxes/{self.id}/ttl", {"ttl_seconds": ttl_seconds})
        return self.info

    def refresh(self):
        self.info = self._client._request("GET", f"/hvrun/v1/sandboxes/{self.id}")
        return self.info

    def snapshot(self, name="", leave_running=False):
        """A microVM sandbox's memory and disk, saved as snapshot `name`; it stops unless leave_running."""
        body = {"name": name, "leave_running": leave_running}
        return self._client._request("POST", f"/hvrun/v1/sandboxes/{self.id}/snapshot", body)

    def clone(self, name="", ttl_seconds=0):
        """A new sandbox that goes on from this microVM's memory as it is now (once per run)."""
        body = {"name": name, "ttl_seconds": ttl_seconds}
        return Sandbox(self._client, self._client._request("POST", f"/hvrun/v1/sandboxes/{self.id}/clone", body))

    def destroy(self):
        self._client._request("DELETE", f"/hvrun/v1/sandboxes/{self.id}")


class Client:
    def __init__(self, socket_path="/run/hvrun/hvrun.sock", timeout=300):
        self.socket_path = socket_path
        self.timeout = timeout

    def create(self, image, mode="container", memory="", cpus="", pids_limit=0, ttl_seconds=0, name="", cmd=(),
               env=()):
        body = {"image": image, "mode": mode, "memory": memory, "cpus": cpus, "pids_limit": pids_limit,
                "ttl_seconds": ttl_seconds, "name": name, "cmd": list(cmd), "env": list(env)}
        return Sandbox(self, self._request("POST", "/hvrun/v1/sandboxes", body))

    def restore(self, snapshot, name="", ttl_seconds=0):
        """A new sandbox that goes on from a snapshot (any number of them: clones)."""
        body = {"snapshot": snapshot, "name": name, "ttl_seconds": ttl_seconds}
        return Sandbox(self, self._request("POST", "/hvrun/v1/sandboxes", body))

    def snapshots(self):
        return self._request("GET", "/hvrun/v1/snapshots")

    def remove_snapshot(self, name):
        self._request("DELETE", f"/hvrun/v1/snapshots/{name}")

    def list(self):
        return [Sandbox(self, info) for info in self._request("GET", "/hvrun/v1/sandboxes")]

    def get(self, ref):
        return Sandbox(self, self._request("GET", f"/hvrun/v1/sandboxes/{ref}"))

    def _send(self, method, path, body=None, raw=None):
        conn = _UnixConnection(self.socket_path, self.timeout)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Content-Type": "application/json" if raw is None else "application/octet-stream"}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        if resp.status >= 400:
            text = resp.read().decode(errors="replace")
            try:
                message = json.loads(text).get("message", text)
            except ValueError:
                message = text
            conn.close()
            raise Error(resp.status, message)
        return conn, resp

    def _request(self, method, path, body=None, raw=None, want_bytes=False):
        conn, resp = self._send(method, path, body, raw)
        try:
            data = resp.read()
        finally:
            conn.close()
        if want_bytes:
            return data
        return json.loads(data) if data else None

    def _stream(self, method, path, body):
        conn, resp = self._send(method, path, body)
        try:
            for line in resp:
                if line.strip():
                    yield json.loads(line)
        finally:
            conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", default="/run/hvrun/hvrun.sock")
    ap.add_argument("--mode", default="container", choices=["container", "vm"])
    ap.add_argument("--image", default="busybox")
    a = ap.parse_args()
    c = Client(a.socket)
    box = c.create(a.image, mode=a.mode, memory="128m", ttl_seconds=300)
    try:
        box.write("/tmp/job.sh", "echo hello from $(uname -r); echo oops >&2; exit 3\n", mode=0o755)
        r = box.exec(["sh", "/tmp/job.sh"], timeout_seconds=60)
        print(f"sandbox {box.name} ({box.info['mode']}): exit {r.exit_code}, stdout {r.stdout!r}, stderr {r.stderr!r}")
        print(f"read back: {box.read('/tmp/job.sh').decode()!r}")
    finally:
        box.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
