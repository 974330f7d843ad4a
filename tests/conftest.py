"""Shared fixtures that start real things: an OpenSSH server, a misbehaving TCP proxy and
a PostgreSQL server.

The ``sshd`` fixture runs Debian's ``/usr/sbin/sshd`` on 127.0.0.1 with throw-away
host and user keys (never a mock: paramiko's behaviour against a real server is
what we need to trust). Without sshd the SFTP tests skip on a laptop but fail
under ``CI=true``, so CI cannot silently stop testing SFTP. The ``postgres`` fixture
does the same for PostgreSQL: a throw-away cluster (Debian's ``initdb``/``pg_ctl``) on
127.0.0.1, one fresh database per test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy.engine import Engine

from tests import moodle_background, moodlesite, scimserver
from tests.moodlesite import MoodleSite
from tests.pgsite import PG_PASSWORD_ENV, PostgresServer, pg_bin, running_postgres
from tests.scimserver import ScimServer

# Hypothesis profiles: "ci" (default under CI=true: fixed seed-free but bounded, no
# deadline flakiness on a shared 2-core machine), "dev" (quick local runs) and
# "deterministic" (derandomized, for bisecting). Choose with HYPOTHESIS_PROFILE=name.
settings.register_profile("ci", max_examples=100, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile("deterministic", derandomize=True, max_examples=100, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE",
                                     "ci" if os.environ.get("CI") else "dev"))


def pytest_configure(config: pytest.Config) -> None:
    """Keep compiled bytecode for the run, even where PYTHONDONTWRITEBYTECODE is set, and
    start the run's Moodle install in the background when the Moodle tests are selected.

    A run starts collecting workers and hundreds of ``filebridge`` subprocesses; without
    cached bytecode each of them compiles the package (and pytest rewrites every test
    module) from source again. Bytecode changes no behaviour; ``__pycache__`` is ignored
    by git.
    """
    if not hasattr(config, "workerinput"):  # the workers and subprocesses inherit this
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False
    moodle_background.begin(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the Moodle this process installed in the background, if it did."""
    moodle_background.end()


SSHD = "/usr/sbin/sshd"
RSA_PASSPHRASE = "correct horse battery staple"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path, kind: str, passphrase: str = "") -> Path:
    args = ["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-C", "filebridge-test", "-f"]
    if kind == "rsa":
        args[4:4] = ["-b", "2048", "-m", "PEM"]
    subprocess.run([*args, str(path)], check=True)
    return path


def _wait_for_banner(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("sshd did not send a banner in time")


@dataclass
class SshServer:
    """A running sshd and everything a test needs to log in to it."""

    host: str
    port: int
    user: str
    root: Path
    log: Path
    known_hosts: Path
    host_fingerprints: dict[str, str]
    ed25519_key: Path
    rsa_key: Path
    wrong_key: Path
    rsa_passphrase: str = RSA_PASSPHRASE

    def log_text(self) -> str:
        """Everything sshd has logged so far."""
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """A real OpenSSH server on 127.0.0.1 (session-scoped; SFTP is internal-sftp)."""
    if not os.path.exists(SSHD) or shutil.which("ssh-keygen") is None:
        message = f"{SSHD} or ssh-keygen not installed (apt-get install openssh-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    d = tmp_path_factory.mktemp("sshd")
    host_keys = [_keygen(d / "host_ed25519", "ed25519"), _keygen(d / "host_rsa", "rsa")]
    ed25519 = _keygen(d / "user_ed25519", "ed25519")
    rsa = _keygen(d / "user_rsa", "rsa", RSA_PASSPHRASE)
    wrong = _keygen(d / "wrong_ed25519", "ed25519")
    authorized = d / "authorized_keys"
    authorized.write_text(Path(f"{ed25519}.pub").read_text() + Path(f"{rsa}.pub").read_text())
    port = _free_port()
    config = d / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                *(f"HostKey {k}" for k in host_keys),
                f"PidFile {d / 'sshd.pid'}",
                f"AuthorizedKeysFile {authorized}",
                "StrictModes no",
                "UsePAM no",
                "PermitRootLogin yes",  # CI containers run the tests as root
                "PasswordAuthentication yes",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "Subsystem sftp internal-sftp",
                "LogLevel VERBOSE",
                "MaxStartups 100",
                "MaxAuthTries 10",
                "",
            ]
        )
    )
    if os.geteuid() == 0:
        # sshd as root insists on its privilege-separation directory (the package
        # creates it at service start, which never happened in a container).
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = d / "sshd.log"
    with open(log, "wb") as log_fh:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=log_fh)
    try:
        _wait_for_banner(port, proc)
        known_hosts = d / "known_hosts"
        fingerprints = {}
        lines = []
        for k in host_keys:
            key = paramiko.PKey.from_path(k)
            fingerprints[key.get_name()] = key.fingerprint
            lines.append(f"[127.0.0.1]:{port} {key.get_name()} {key.get_base64()}\n")
        known_hosts.write_text("".join(lines))
        yield SshServer(
            host="127.0.0.1",
            port=port,
            user=os.environ.get("USER") or _current_user(),
            root=d,
            log=log,
            known_hosts=known_hosts,
            host_fingerprints=fingerprints,
            ed25519_key=ed25519,
            rsa_key=rsa,
            wrong_key=wrong,
        )
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class PasswordUser:
    """A throwaway system account that logs in to the test sshd with a password."""

    name: str
    password: str = field(repr=False)
    home: Path


@pytest.fixture(scope="session")
def password_user() -> Iterator[PasswordUser]:
    """A real account with a random password, created only where that is acceptable.

    Creating an account changes the machine, so it happens only as root on a CI machine
    (CI=true) or when FILEBRIDGE_TEST_SYSTEM_USER=1 asks for it; it is removed afterwards.
    Elsewhere the test skips; under CI=true not being able to is a failure.
    """
    allowed = os.environ.get("CI") == "true" or os.environ.get("FILEBRIDGE_TEST_SYSTEM_USER") == "1"
    tools = all(shutil.which(t) for t in ("useradd", "chpasswd", "userdel"))
    if not (allowed and os.geteuid() == 0 and tools):
        reason = ("password login needs root and useradd "
                  "(set CI=true or FILEBRIDGE_TEST_SYSTEM_USER=1)")
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    import secrets

    name = f"fbtest{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(18)
    home = Path(tempfile.mkdtemp(prefix="filebridge-sftp-home-"))
    home.chmod(0o755)
    subprocess.run(["useradd", "--no-create-home", "--home-dir", str(home), "--shell",
                    "/bin/sh", name], check=True)
    try:
        subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)
        shutil.chown(home, user=name)
        yield PasswordUser(name, password, home)
    finally:
        # --force: sshd's session process for the login may not have exited yet.
        subprocess.run(["userdel", "--force", name], check=False, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def _current_user() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


class FaultyProxy:
    """A TCP proxy on 127.0.0.1 that misbehaves on purpose, for deadline tests.

    Modes: ``pass``; ``slow`` (server bytes throttled); ``silent_at_banner`` (accept,
    never answer); ``silent_after``
    (stop forwarding server bytes after ``after_bytes`` but keep the socket open);
    ``cut_after`` (close both sides after ``after_bytes`` server bytes). With
    ``once`` only the first connection misbehaves, so a retry goes through.
    """

    def __init__(self, target_port: int, mode: str, after_bytes: int = 0, once: bool = False):
        self.target_port, self.mode, self.after_bytes, self.once = (
            target_port,
            mode,
            after_bytes,
            once,
        )
        self.connections = 0
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            mode = self.mode if (self.connections == 1 or not self.once) else "pass"
            self._sockets.append(client)
            threading.Thread(target=self._serve, args=(client, mode), daemon=True).start()

    def _serve(self, client: socket.socket, mode: str) -> None:
        if mode == "silent_at_banner":
            _drain(client)
            return
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        self._sockets.append(upstream)
        threading.Thread(target=_pump, args=(client, upstream, None, "pass"), daemon=True).start()
        limit = None if mode in ("pass", "slow") else self.after_bytes
        _pump(upstream, client, limit, mode)

    def close(self) -> None:
        """Stop listening and drop every connection."""
        self._closed = True
        for s in [self._listener, *self._sockets]:
            try:
                s.close()
            except OSError:
                pass


def _drain(sock: socket.socket) -> None:
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass


def _pump(src: socket.socket, dst: socket.socket, limit: int | None, mode: str) -> None:
    sent = 0
    try:
        while data := src.recv(65536):
            if limit is not None and sent + len(data) >= limit:
                dst.sendall(data[: max(limit - sent, 0)])
                if mode == "cut_after":
                    for s in (src, dst):
                        s.shutdown(socket.SHUT_RDWR)
                        s.close()
                    return
                _drain(src)  # silent_after: keep the connection open, forward nothing
                return
            if mode == "slow":
                time.sleep(0.01)  # ~6 MB/s: long enough to change a file mid-download
            dst.sendall(data)
            sent += len(data)
    except OSError:
        pass
    finally:
        if mode == "pass":
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass


@pytest.fixture
def faulty_proxy(sshd: SshServer) -> Iterator[type[FaultyProxy]]:
    """A factory ``faulty_proxy(sshd_port, mode, after_bytes, once)``; all closed at teardown."""
    made: list[FaultyProxy] = []

    class _Tracked(FaultyProxy):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            made.append(self)

    yield _Tracked
    for p in made:
        p.close()


# --- a real SQLite state database ---------------------------------------------------
@pytest.fixture
def state_url(tmp_path: Path) -> str:
    """URL of a fresh SQLite state database."""
    return f"sqlite:///{tmp_path / 'state' / 'filebridge.db'}"


def _migrated(url: str) -> Iterator[Engine]:
    from filebridge.ledger import Ledger
    from filebridge.lms import SqlStore
    from filebridge.sql import open_engine

    engine = open_engine(url, busy_timeout_ms=500)
    SqlStore(engine).migrate()
    Ledger(engine).migrate()
    yield engine
    engine.dispose()


@pytest.fixture
def engine(state_url: str) -> Iterator[Engine]:
    """An engine on the fresh SQLite state database, with store and ledger migrated."""
    yield from _migrated(state_url)


@pytest.fixture
def postgres_engine(pg_url: str) -> Iterator[Engine]:
    """An engine on a fresh PostgreSQL database, with store and ledger migrated."""
    yield from _migrated(pg_url)


# For modules whose tests must hold on both databases:
#     @pytest.fixture(params=BACKENDS)
#     def engine(request): return request.getfixturevalue(request.param)
BACKENDS = ["engine", pytest.param("postgres_engine", marks=pytest.mark.postgres)]


# --- a real PostgreSQL server -------------------------------------------------------
@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A real PostgreSQL server on 127.0.0.1 (session-scoped)."""
    bin_dir = pg_bin()
    try:
        import psycopg  # noqa: F401
    except ImportError:
        bin_dir = None
    if bin_dir is None:
        message = "PostgreSQL server or psycopg not installed (apt-get install postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with running_postgres(bin_dir, tmp_path_factory.mktemp("postgres")) as server:
        # Settings files name the password by reference, as users must: ${env:...}.
        os.environ[PG_PASSWORD_ENV] = server.password
        yield server


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """URL of a fresh, empty PostgreSQL database."""
    return postgres.url(postgres.create_database())


@pytest.fixture(scope="session")
def moodle_site() -> Iterator[MoodleSite]:
    """A real Moodle 4.5 on 127.0.0.1 with REST web services (installed once per run)."""
    yield from moodlesite.start()


@pytest.fixture(scope="session")
def scim_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScimServer]:
    """A real SCIM service provider (scim2-server) on 127.0.0.1; one tenant per test."""
    yield from scimserver.start(tmp_path_factory.mktemp("scim"))


@pytest.fixture(scope="session")
def scim_server_plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScimServer]:
    """scim2-server announcing neither PATCH nor Bulk (changes go as PUT with If-Match)."""
    yield from scimserver.start(tmp_path_factory.mktemp("scim-plain"), scimserver.PLAIN_CONFIG)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """Debian's chromium, headless, driven by Playwright (a browser is never downloaded).

    Skips on a laptop without ``/usr/bin/chromium`` or the playwright package; under
    ``CI=true`` either missing is a failure.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None  # type: ignore[assignment]
    if sync_playwright is None or not os.path.exists(CHROMIUM):
        message = (f"{CHROMIUM} or the playwright package is missing "
                   "(apt-get install chromium; pip install -e '.[test]')")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


from tests.gpg_keys import gpg_keys  # noqa: E402,F401  (a fixture shared by formats and pipeline)
