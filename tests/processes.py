"""The processes tests and the bench start (gunicorn, Dramatiq workers) and what /proc says about
them: CPU time and resident memory. Shared by tests/ and bench/ (the tests import nothing from bench/)."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
http = requests.Session()
http.trust_env = False  # the servers are local: never through a proxy from the environment


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """utime + stime of a process, from /proc/<pid>/stat (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def children(pid):
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rpartition(")")[2].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def descendants(pid):
    found = children(pid)
    for child in list(found):
        found += descendants(child)
    return found


def stop(process, log):
    """SIGTERM, then SIGKILL after 30 s; close its log."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log.close()


class Worker:
    """The Dramatiq worker (`manage.py rundramatiq`, the Procfile's `worker`): plugins run there when
    there is a broker."""

    def __init__(self, env, log_dir, processes=1, threads=8):
        self.log = open(Path(log_dir) / "worker.log", "ab")
        command = [sys.executable, "manage.py", "rundramatiq", "--skip-logging", "--processes", str(processes),
                   "--threads", str(threads)]
        self.process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)

    def cpu_seconds(self):
        return sum(cpu_seconds(pid) for pid in [self.process.pid, *descendants(self.process.pid)])

    def stop(self):
        stop(self.process, self.log)


def wait_ready(process, url, name, timeout, ready=lambda: True, every=0.2):
    """Until `url`/healthz answers 200 (and `ready()`); RuntimeError naming `name` if `process` exits
    first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited at start")
        try:
            if http.get(f"{url}/healthz", timeout=1).status_code == 200 and ready():
                return
        except requests.RequestException:
            pass
        time.sleep(every)
    raise RuntimeError(f"{name} did not start in {timeout}s")


def self_signed_certificate(key_path, certificate_path):
    """A key and a certificate for 127.0.0.1 that no system store trusts (its own issuer, usable as a CA file)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    Path(key_path).write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    Path(certificate_path).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


class Gunicorn:
    """A gunicorn master and its workers, serving `config.wsgi` on a free local port."""

    def __init__(self, name, env, args, log_dir, workers, port=None):
        self.name, self.workers_expected = name, workers
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_dir) / f"{name}.log"
        self.log = open(self.log_path, "ab")
        # No control socket: its default path is shared by every gunicorn on the machine.
        command = [GUNICORN, *args, "-b", f"127.0.0.1:{self.port}", "-w", str(workers), "--no-control-socket", "config.wsgi"]
        self.process = subprocess.Popen(
            command, env={**env, "PORT": str(self.port)}, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT
        )
        try:
            self._wait_ready()
        except Exception:
            self.stop()
            raise

    def _wait_ready(self, timeout=60):
        wait_ready(self.process, self.url, f"{self.name} (see {self.log_path})", timeout,
                   ready=lambda: len(self.workers()) == self.workers_expected)

    def workers(self):
        return children(self.process.pid)

    def cpu_seconds(self):
        return sum(cpu_seconds(pid) for pid in self.workers())

    def rss_mb(self):
        return [round(rss_mb(pid), 1) for pid in self.workers()]

    def stop(self):
        stop(self.process, self.log)


def delete_keys(client, pattern) -> int:
    """Delete a run's Redis keys (`pattern`, e.g. its prefix and `*`): a shared Redis may hold many
    other keys, so SCAN a thousand at a time and delete in batches of as many."""
    keys = list(client.scan_iter(pattern, count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start:start + 1000])
    return len(keys)
