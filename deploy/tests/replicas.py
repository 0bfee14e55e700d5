"""Real `embed serve` replicas and a real nginx in front of them, on 127.0.0.1, for the deploy
tests: start, wait until healthy, stop by signal, read memory use. The `embed` binary is
EMBED_BIN (`cargo xtask test-python` builds it); nginx is Debian's (`.ci/run` installs it).
Nothing here knows what the tests check."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import List, Optional

MODEL = "all-MiniLM-L6-v2"


def embed_bin() -> str:
    path = os.environ.get("EMBED_BIN")
    if not path or not Path(path).is_file():
        raise RuntimeError(f"EMBED_BIN must name the embed binary (found {path!r}): run `cargo xtask test-python`")
    return path


def nginx_bin() -> str:
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None)
    if path is None:
        raise RuntimeError("nginx is not installed: `apt-get install nginx-light` (.ci/run installs it)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str, timeout: float = 2.0):
    """(status, body) of a GET on 127.0.0.1:port, or (None, error) when nothing answers."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        conn.close()
        return response.status, body
    except OSError as error:
        return None, repr(error)


def wait_until(predicate, what: str, timeout: float, process: Optional[subprocess.Popen] = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        time.sleep(0.05)
    raise RuntimeError(f"{what}: not within {timeout} s")


class Replica:
    """One `embed serve` process on a fixed port (a restart reuses it)."""

    def __init__(self, port: int, model_cache_dir: str, log_dir: Path, extra_args: Optional[List[str]] = None,
                 env: Optional[dict] = None, prefix: Optional[List[str]] = None) -> None:
        self.port = port
        # A command that runs `embed serve` (its arguments follow), e.g. one that confines it.
        self.prefix = prefix or []
        self.model_cache_dir = model_cache_dir
        self.log_dir = log_dir
        self.extra_args = extra_args or []
        self.env = env or {}
        self.process: Optional[subprocess.Popen] = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = open(self.log_dir / f"replica-{self.port}-{self.starts}.log", "wb")
        env = dict(os.environ, MODEL_CACHE_DIR=self.model_cache_dir, EMBED_OFFLINE="1", **self.env)
        self.process = subprocess.Popen(
            [*self.prefix, embed_bin(), "serve", "--model", MODEL, "--host", "127.0.0.1", "--port", str(self.port), *self.extra_args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log.close()

    def wait_healthy(self, timeout: float = 60.0) -> None:
        wait_until(lambda: get(self.port, "/health")[0] == 200, f"replica on {self.port} healthy", timeout, self.process)

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def peak_rss_bytes(self) -> int:
        """The process's peak resident memory (VmHWM)."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmHWM in /proc/PID/status")

    def thread_names(self) -> List[str]:
        """The names of the process's threads (as the kernel keeps them, 15 characters)."""
        assert self.process is not None
        return [(task / "comm").read_text().strip() for task in Path(f"/proc/{self.process.pid}/task").iterdir()]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


NGINX_CONF = """\
{user}worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    # One line per request: the upstreams tried, comma-separated, and each one's status.
    log_format upstreams '$status "$upstream_addr" "$upstream_status"';
    access_log {dir}/access.log upstreams;
    upstream embed {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 2m;
        location / {{
            proxy_pass http://embed;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # An embedding request can be sent again: a replica that closed, reset or refused
            # the connection, or answered 502/503/504 (shutting down), hands it to the next.
            proxy_next_upstream error timeout http_502 http_503 http_504 non_idempotent;
            proxy_next_upstream_tries 3;
            proxy_connect_timeout 1s;
            proxy_read_timeout 60s;
        }}
    }}
}}
"""


class Nginx:
    """nginx on 127.0.0.1 balancing over the replicas' ports, in the foreground."""

    def __init__(self, upstream_ports: List[int], directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in upstream_ports)
        # As root, nginx's workers would switch to `nobody`, who cannot enter the test's folder.
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = NGINX_CONF.format(user=user, dir=directory, servers=servers, port=self.port)
        self.conf = directory / "nginx.conf"
        self.conf.write_text(conf)
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> None:
        log = open(self.directory / "nginx.out", "wb")
        self.process = subprocess.Popen(
            [nginx_bin(), "-p", str(self.directory), "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        wait_until(lambda: get(self.port, "/health")[0] == 200, f"nginx on {self.port}", 15.0, self.process)

    def upstream_log(self) -> List[str]:
        return (self.directory / "access.log").read_text().splitlines()

    def thread_names(self) -> List[str]:
        """The names of the process's threads (as the kernel keeps them, 15 characters)."""
        assert self.process is not None
        return [(task / "comm").read_text().strip() for task in Path(f"/proc/{self.process.pid}/task").iterdir()]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def post_embed(conn: http.client.HTTPConnection, texts: List[str]):
    """(status, parsed body) of POST /embed on a persistent connection."""
    conn.request("POST", "/embed", body=json.dumps({"inputs": texts}), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    body = response.read()
    return response.status, body
