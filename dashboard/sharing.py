"""Who may use the app: closed to other machines by default, shared only with a password.

The app is *shared* when Streamlit listens beyond the loopback interface (`server.address`:
`.streamlit/config.toml` says "localhost"; `--server.address 0.0.0.0` shares it). A shared app
asks for the password (HMF_PASSWORD, else `password` in `.streamlit/secrets.toml`) before it
shows anything, refuses to serve at all without one, and limits what visitors may use
(`SharedLimits`). Plain decisions, no Streamlit: `dashboard.gate` renders them.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from hmf_core import RunLimits

PASSWORD_VARIABLE = "HMF_PASSWORD"
SECRETS_KEY = "password"  # in .streamlit/secrets.toml
SHARE_COMMAND = "streamlit run dashboard/app.py --server.address 0.0.0.0"
_PROCESS_KEY = secrets.token_bytes(32)  # fingerprints of the password, this process only


def is_loopback(address: str | None) -> bool:
    """Whether a server listening on `address` is reachable from this machine only: a loopback
    IP (127.0.0.0/8, ::1), or a name that resolves to loopback addresses alone ("localhost").
    Unset or empty (Streamlit then listens on every interface), a wildcard (0.0.0.0, ::), any
    other address, a name that does not resolve, or a unix socket: not loopback."""
    text = (address or "").strip().removeprefix("[").removesuffix("]")
    if not text or text.startswith("unix://"):
        return False
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        pass  # a host name
    try:
        found = socket.getaddrinfo(text, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    resolved = {info[4][0].split("%")[0] for info in found}
    return bool(resolved) and all(ipaddress.ip_address(ip).is_loopback for ip in resolved)


def configured_password(environ: Mapping[str, str], secrets_file: Mapping) -> str | None:
    """The password: $HMF_PASSWORD, else `password` in secrets.toml; None when neither is set
    to non-blank text."""
    for candidate in (environ.get(PASSWORD_VARIABLE), secrets_file.get(SECRETS_KEY)):
        if isinstance(candidate, str) and candidate.strip():
            return candidate
    return None


def password_matches(given: str, password: str) -> bool:
    """Compared in constant time (hmac.compare_digest), as UTF-8 bytes."""
    return hmac.compare_digest(given.encode("utf-8"), password.encode("utf-8"))


def fingerprint(password: str) -> str:
    """What a session keeps once admitted (never the password): a keyed hash that changes when
    the password changes, so a new password signs every session out."""
    return hmac.new(_PROCESS_KEY, password.encode("utf-8"), hashlib.sha256).hexdigest()


NO_PASSWORD = (
    "This app is served beyond this machine (server.address {address}) but no password is "
    'set, so it shows nothing. Set one and restart: put `password = "..."` in '
    "`.streamlit/secrets.toml` (beside config.toml), or start it with the environment variable "
    f"{PASSWORD_VARIABLE}. To keep it to this machine instead, start it without "
    '`--server.address` (config.toml\'s `address = "localhost"`).'
)


# --- limits while shared ------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    variable: str
    default: float
    meaning: str  # for a refusal of a bad value

    def read(self, environ: Mapping[str, str]) -> float:
        """The variable's value (a positive number), its default when unset; ValueError naming
        the variable and what it holds otherwise."""
        text = environ.get(self.variable, "").strip()
        if not text:
            return self.default
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not value > 0 or value == float("inf"):
            raise ValueError(f"{self.variable} must be {self.meaning}, found {text[:40]!r}")
        return value


UPLOAD_MB = Setting("HMF_SHARED_UPLOAD_MB", 200, "a number of megabytes above 0")
TRAININGS = Setting("HMF_SHARED_TRAININGS", 2, "a whole number of trainings, 1 or more")
RUNS_GB = Setting("HMF_SHARED_RUNS_GB", 20, "a number of gigabytes above 0")


@dataclass(frozen=True)
class SharedLimits:
    """What visitors of a shared app may use (none of it applies to an app kept local)."""

    upload_mb: int  # per uploaded file
    trainings: int  # at once; more wait in a queue
    runs_bytes: int  # disk the runs folder may use before a new training is refused

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SharedLimits:
        trainings = TRAININGS.read(environ)
        if trainings != int(trainings):
            raise ValueError(f"{TRAININGS.variable} must be {TRAININGS.meaning}, found {trainings}")
        return cls(
            upload_mb=max(1, round(UPLOAD_MB.read(environ))),
            trainings=int(trainings),
            runs_bytes=int(RUNS_GB.read(environ) * 1e9),
        )

    def run_limits(self) -> RunLimits:
        return RunLimits(self.trainings, self.runs_bytes, RUNS_GB.variable)


@dataclass(frozen=True)
class Access:
    """Where the app stands: shared or not, and with which password and limits."""

    address: str | None
    shared: bool
    password: str | None
    limits: SharedLimits | None  # None while not shared

    @classmethod
    def decide(
        cls, address: str | None, environ: Mapping[str, str], secrets_file: Mapping
    ) -> Access:
        shared = not is_loopback(address)
        return cls(
            address=address,
            shared=shared,
            password=configured_password(environ, secrets_file),
            limits=SharedLimits.from_env(environ) if shared else None,
        )

    def run_limits(self) -> RunLimits:
        """What `hmf_core.runs.manager.start_run` enforces: nothing while the app is local."""
        return self.limits.run_limits() if self.limits else RunLimits()
