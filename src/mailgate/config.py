"""Typed settings, read from the environment (``MAILGATE_*``) with sensible defaults."""

from __future__ import annotations

import ipaddress
import math
import os
import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mailgate.errors import ConfigurationError

DEFAULT_HTTP = "127.0.0.1:8025"
DEFAULT_SMTP = "127.0.0.1:2525"


def parse_listen(value: str, setting: str) -> tuple[str, int]:
    """``host:port`` → (host, port), naming the setting when it is malformed."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigurationError(setting, f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


@dataclass(slots=True)
class Settings:
    """Everything an operator can set. Build with :meth:`from_env`."""

    data_dir: Path
    database_url: str
    secret_key: str
    http: tuple[str, int] = ("127.0.0.1", 8025)
    smtp: tuple[str, int] = ("127.0.0.1", 2525)
    #: PEM certificate and key: the listener offers STARTTLS when both are set.
    smtp_tls: tuple[Path, Path] | None = None
    smtp_lmtp: bool = False  # MAILGATE_SMTP_PROTOCOL=lmtp: behind an MTA that speaks LMTP
    #: Listener processes ``serve`` runs on the one SMTP port, SO_REUSEPORT
    #: (MAILGATE_LISTENER_PROCESSES; from_env's default: 1 on SQLite, else the CPUs).
    listener_processes: int = 1
    #: ``mailgate worker`` processes serve starts beside its own workers (one GIL each).
    worker_processes: int = 0
    blob_store: str = "database"  # "database" | "files": see docs/storage.md
    max_message_bytes: int = 25 * 1024 * 1024
    message_lifetime_seconds: int = 5 * 24 * 3600
    retry_base_seconds: float = 60.0
    retry_max_seconds: float = 3600.0
    lease_seconds: float = 300.0
    #: One worker polls each IMAP/POP3 source; another takes over this long after it dies.
    source_lease_seconds: float = 60.0
    #: Inbound processing: failed attempts before a message is dead-lettered, and the
    #: first retry delay (doubling, capped at retry_max_seconds).
    inbound_max_attempts: int = 5
    inbound_retry_seconds: float = 30.0
    worker_batch: int = 200
    #: Messages a worker process may have between the start of their delivery and the
    #: commit of their result (0: no bound): what one SIGKILL can send twice.
    delivery_window: int = 128
    worker_concurrency: int = 16  # webhook deliveries in flight
    #: A receiving domain that throttles us is left alone this long, doubling per
    #: throttling reply up to the cap, and then gets at most ``throttle_concurrency``
    #: halved messages per claim for a while (docs/transports.md).
    throttle_base_seconds: float = 60.0
    throttle_max_seconds: float = 6 * 3600.0
    throttle_concurrency: int = 8
    hostname: str = "localhost"
    #: Earlier secret keys, newest first: still decrypt and verify, never sign (rotation).
    old_secret_keys: tuple[str, ...] = ()
    #: CIDRs a workspace may point transports, sources and webhooks at although they are
    #: loopback, private, link-local or multicast (MAILGATE_ALLOW_PRIVATE_NETWORKS).
    allow_private_networks: tuple[str, ...] = ()
    #: ``host:port`` of the DNS server mailgate asks for the hosts of transports, sources
    #: and webhooks (MAILGATE_DNS_RESOLVER); None: the operating system's resolver.
    dns_resolver: tuple[str, int] | None = None
    #: Inbound authentication (inbound/authentication.py): the authserv-id whose topmost
    #: Authentication-Results field is trusted (MAILGATE_TRUSTED_AUTHSERV_ID), and whether
    #: mailgate computes SPF/DKIM/DMARC itself otherwise (MAILGATE_INBOUND_AUTH: compute|off).
    trusted_authserv_id: str | None = None
    inbound_auth: str = "compute"
    #: The host the MX records of sending domains point at (MAILGATE_INBOUND_HOST): where
    #: mailgate receives bounces, replies and DMARC reports; empty: ``hostname``.
    inbound_host: str = ""
    max_recipients: int = 500  # per message, To + Cc + Bcc
    max_name_length: int = 200  # names of workspaces, teams, keys, transports, sources
    max_page_size: int = 500  # ?limit= on every list
    #: Request bodies on keyed routes; 0: 1.5 × max_message_bytes + 1 MiB (api/limits.py).
    max_request_bytes: int = 0
    #: RFC 3834 §2 breaker: this many automatic messages from one correspondent per window.
    automatic_limit: int = 10
    automatic_window_seconds: int = 3600
    #: Base of the List-Unsubscribe links (MAILGATE_PUBLIC_URL); None: http://MAILGATE_HTTP.
    public_url: str | None = None
    #: This many proven soft bounces (4.x.x) of one address within the window (days)
    #: suppress it for MAILGATE_SOFT_BOUNCE_SUPPRESS_DAYS (docs/unsubscribe.md).
    soft_bounce_limit: int = 5
    soft_bounce_window_days: int = 7
    soft_bounce_suppress_days: int = 14
    #: Customers publish a CNAME to ``<selector>.<domain>.dkim.<this>`` instead of the key
    #: (MAILGATE_DKIM_DELEGATION_DOMAIN); None: they publish the key itself. docs/domains.md.
    dkim_delegation_domain: str | None = None
    #: How long a rotated-out DKIM key stays published (and verifiable) after its
    #: successor signs (MAILGATE_DKIM_RETIRE_AFTER, seconds; default 7 days).
    dkim_retire_after_seconds: int = 7 * 24 * 3600
    #: Helper processes that DKIM-sign large batches off the worker's GIL
    #: (MAILGATE_DKIM_SIGN_PROCESSES); 0: sign in the worker itself.
    dkim_sign_processes: int = 0
    #: Operations (docs/deploy.md): /metrics without a key (MAILGATE_METRICS_PUBLIC), where
    #: processes keep their metric values (MAILGATE_METRICS_DIR; None: DATA_DIR/metrics),
    #: log lines as json or console (MAILGATE_LOG_FORMAT; "": json unless stderr is a
    #: terminal) and the level (MAILGATE_LOG_LEVEL).
    metrics_public: bool = False
    metrics_dir: Path | None = None
    log_format: str = ""
    log_level: str = "INFO"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def public_base(self) -> str:
        """Where people reach mailgate's public pages (the List-Unsubscribe links)."""
        host, port = self.http
        return self.public_url or f"http://{f'[{host}]' if ':' in host else host}:{port}"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, *, create: bool = True) -> Settings:
        """Read ``MAILGATE_*`` variables; create the data directory and key file if asked."""
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("MAILGATE_DATA_DIR", "./data")).expanduser().resolve()
        if create:
            data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        database_url = env.get("MAILGATE_DATABASE_URL") or f"sqlite:///{data_dir / 'mailgate.db'}"
        if database_url.startswith(("postgres://", "postgresql://")):
            # psycopg 3 is the driver we ship; spare operators the dialect+driver syntax.
            database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
        if not create and not data_dir.is_dir() and _needs_data_dir(env, database_url):
            # Run from the wrong directory, a command must not make a new ./data (with a
            # new key and an empty database) and run happily against it.
            raise ConfigurationError(
                "MAILGATE_DATA_DIR",
                f"{data_dir} does not exist: set MAILGATE_DATA_DIR (and MAILGATE_DATABASE_URL) "
                "to the installation's, or run `mailgate init` to prepare a new one",
            )
        secret_key = env.get("MAILGATE_SECRET_KEY") or _key_file(data_dir, create)
        check_secret_key(secret_key)
        cert = env.get("MAILGATE_SMTP_TLS_CERT") or None
        key = env.get("MAILGATE_SMTP_TLS_KEY") or None
        if bool(cert) != bool(key):
            missing = "MAILGATE_SMTP_TLS_KEY" if cert else "MAILGATE_SMTP_TLS_CERT"
            raise ConfigurationError(missing, "set both the certificate and its key, or neither")
        protocol = env.get("MAILGATE_SMTP_PROTOCOL", "smtp").lower()
        if protocol not in ("smtp", "lmtp"):
            raise ConfigurationError("MAILGATE_SMTP_PROTOCOL", "must be 'smtp' or 'lmtp'")
        blob_store = env.get("MAILGATE_BLOB_STORE", "database")
        if blob_store not in ("database", "files"):
            raise ConfigurationError("MAILGATE_BLOB_STORE", "must be 'database' or 'files'")
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            secret_key=secret_key,
            http=parse_listen(env.get("MAILGATE_HTTP", DEFAULT_HTTP), "MAILGATE_HTTP"),
            smtp=parse_listen(env.get("MAILGATE_SMTP", DEFAULT_SMTP), "MAILGATE_SMTP"),
            smtp_tls=(Path(cert), Path(key)) if cert and key else None,
            smtp_lmtp=protocol == "lmtp",
            listener_processes=_listener_processes(env, database_url),
            worker_processes=_worker_processes(env),
            blob_store=blob_store,
            max_message_bytes=_int(env, "MAILGATE_MAX_MESSAGE_BYTES", 25 * 1024 * 1024),
            message_lifetime_seconds=_int(env, "MAILGATE_MESSAGE_LIFETIME", 5 * 24 * 3600),
            retry_base_seconds=float(_int(env, "MAILGATE_RETRY_BASE", 60)),
            lease_seconds=float(_int(env, "MAILGATE_LEASE_SECONDS", 300)),
            source_lease_seconds=float(_int(env, "MAILGATE_SOURCE_LEASE_SECONDS", 60)),
            inbound_max_attempts=_int(env, "MAILGATE_INBOUND_MAX_ATTEMPTS", 5),
            inbound_retry_seconds=float(_int(env, "MAILGATE_INBOUND_RETRY_BASE", 30)),
            worker_batch=_int(env, "MAILGATE_WORKER_BATCH", 200),
            delivery_window=_int(env, "MAILGATE_DELIVERY_WINDOW", 128),
            worker_concurrency=_int(env, "MAILGATE_WORKER_CONCURRENCY", 16),
            throttle_base_seconds=float(_int(env, "MAILGATE_THROTTLE_BASE", 60)),
            throttle_max_seconds=float(_int(env, "MAILGATE_THROTTLE_MAX", 6 * 3600)),
            throttle_concurrency=_int(env, "MAILGATE_THROTTLE_CONCURRENCY", 8),
            hostname=env.get("MAILGATE_HOSTNAME", "localhost"),
            old_secret_keys=_list(env, "MAILGATE_OLD_SECRET_KEYS"),
            allow_private_networks=_networks(env),
            dns_resolver=(
                parse_listen(env["MAILGATE_DNS_RESOLVER"], "MAILGATE_DNS_RESOLVER")
                if env.get("MAILGATE_DNS_RESOLVER")
                else None
            ),
            inbound_host=env.get("MAILGATE_INBOUND_HOST", "").strip().rstrip(".").lower(),
            max_recipients=_int(env, "MAILGATE_MAX_RECIPIENTS", 500),
            max_name_length=_name_length(env),
            max_page_size=_int(env, "MAILGATE_MAX_PAGE_SIZE", 500),
            max_request_bytes=_int(env, "MAILGATE_MAX_REQUEST_BYTES", 0),
            automatic_limit=_int(env, "MAILGATE_AUTOMATIC_LIMIT", 10),
            automatic_window_seconds=_int(env, "MAILGATE_AUTOMATIC_WINDOW", 3600),
            trusted_authserv_id=env.get("MAILGATE_TRUSTED_AUTHSERV_ID", "").strip().lower() or None,
            inbound_auth=_inbound_auth(env),
            public_url=_public_url(env),
            soft_bounce_limit=_int(env, "MAILGATE_SOFT_BOUNCE_LIMIT", 5),
            soft_bounce_window_days=_int(env, "MAILGATE_SOFT_BOUNCE_WINDOW", 7),
            soft_bounce_suppress_days=_int(env, "MAILGATE_SOFT_BOUNCE_SUPPRESS_DAYS", 14),
            dkim_delegation_domain=(
                env.get("MAILGATE_DKIM_DELEGATION_DOMAIN", "").strip().strip(".").lower() or None
            ),
            dkim_retire_after_seconds=_int(env, "MAILGATE_DKIM_RETIRE_AFTER", 7 * 24 * 3600),
            dkim_sign_processes=_int(env, "MAILGATE_DKIM_SIGN_PROCESSES", 0),
            metrics_public=_bool(env, "MAILGATE_METRICS_PUBLIC"),
            metrics_dir=(
                Path(env["MAILGATE_METRICS_DIR"]).expanduser().resolve()
                if env.get("MAILGATE_METRICS_DIR")
                else None
            ),
            log_format=_choice(env, "MAILGATE_LOG_FORMAT", ("", "json", "console")),
            log_level=_choice(
                env, "MAILGATE_LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), default="INFO"
            ),
        )


def _inbound_auth(env: dict[str, str]) -> str:
    raw = env.get("MAILGATE_INBOUND_AUTH", "").strip().lower() or "compute"
    if raw not in ("compute", "off"):
        raise ConfigurationError(
            "MAILGATE_INBOUND_AUTH", f"expected compute or off, got {raw!r}"
        )
    return raw


def _bool(env: dict[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigurationError(name, f"expected true or false, got {raw!r}")


def _choice(env: dict[str, str], name: str, allowed: tuple[str, ...], default: str = "") -> str:
    raw = env.get(name, "").strip()
    value = (raw.upper() if allowed[-1].isupper() else raw.lower()) or default
    if value not in allowed:
        raise ConfigurationError(
            name, f"expected one of {', '.join(a for a in allowed if a)}, got {raw!r}"
        )
    return value


def _listener_processes(env: dict[str, str], database_url: str) -> int:
    # On SQLite the processes' commits take turns on one file: two processes halve each
    # group and double the fsyncs per message, which is what limits the listener there
    # (docs/performance.md, "Inbound"); on PostgreSQL each commits on its own.
    cpus = 1 if database_url.startswith("sqlite") else len(os.sched_getaffinity(0))
    n = _int(env, "MAILGATE_LISTENER_PROCESSES", cpus)
    if not 1 <= n <= 64:
        raise ConfigurationError("MAILGATE_LISTENER_PROCESSES", f"expected 1 to 64, got {n}")
    return n


def _worker_processes(env: dict[str, str]) -> int:
    # serve's own process accepts the API's mail and delivers too; a second core only
    # helps delivery from another process (docs/performance.md, "Outbound").
    n = _int(env, "MAILGATE_WORKER_PROCESSES", len(os.sched_getaffinity(0)) - 1)
    if not 0 <= n <= 64:
        raise ConfigurationError("MAILGATE_WORKER_PROCESSES", f"expected 0 to 64, got {n}")
    return n


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(name, f"expected a whole number, got {raw!r}") from None


def _public_url(env: dict[str, str]) -> str | None:
    raw = env.get("MAILGATE_PUBLIC_URL", "").strip().rstrip("/")
    if not raw:
        return None
    if not raw.startswith(("https://", "http://")) or any(c in raw for c in " <>\"'"):
        raise ConfigurationError(
            "MAILGATE_PUBLIC_URL",
            f"expected an http(s) URL such as https://mail.acme.com, got {raw!r}",
        )
    return raw


#: The width of every name column (store/models.py): a longer limit could not be stored.
NAME_COLUMN = 200


def _name_length(env: dict[str, str]) -> int:
    value = _int(env, "MAILGATE_MAX_NAME_LENGTH", NAME_COLUMN)
    if not 1 <= value <= NAME_COLUMN:
        raise ConfigurationError(
            "MAILGATE_MAX_NAME_LENGTH", f"must be between 1 and {NAME_COLUMN}, got {value}"
        )
    return value


def _list(env: dict[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated setting; blanks dropped."""
    return tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())


def _networks(env: dict[str, str]) -> tuple[str, ...]:
    name = "MAILGATE_ALLOW_PRIVATE_NETWORKS"
    values = _list(env, name)
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ConfigurationError(
                name, f"{value!r} is not a network: write CIDRs such as 10.0.0.0/8,::1/128"
            ) from None
    return values


def _needs_data_dir(env: dict[str, str], database_url: str) -> bool:
    """Whether this configuration keeps anything in the data directory."""
    return (
        not env.get("MAILGATE_SECRET_KEY")
        or database_url.startswith("sqlite")
        or env.get("MAILGATE_BLOB_STORE", "database") == "files"
    )


MIN_KEY_LENGTH = 32
MIN_KEY_BITS_PER_CHAR = 3.0


def check_secret_key(key: str) -> None:
    """Refuse a secret key that is short or repetitive (it signs and encrypts everything).

    The estimate is the key's own character entropy (Shannon, over its character
    counts) times its length: ``secrets.token_urlsafe(32)`` scores ~200 bits,
    ``openssl rand -hex 32`` ~240, a word repeated or a run of one digit far less.
    """
    counts = Counter(key)
    per_char = max(0.0, -sum(n / len(key) * math.log2(n / len(key)) for n in counts.values()))
    if len(key) < MIN_KEY_LENGTH or per_char < MIN_KEY_BITS_PER_CHAR:
        raise ConfigurationError(
            "MAILGATE_SECRET_KEY",
            f"too weak ({len(key)} characters, {per_char * len(key):.0f} bits estimated): use "
            f"at least {MIN_KEY_LENGTH} random characters, e.g. the output of "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`, or unset it "
            "and let `mailgate init` generate DATA_DIR/secret.key",
        )


def _key_file(data_dir: Path, create: bool) -> str:
    """The generated secret key, kept beside the data with mode 0600."""
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_text().strip()
    if not create:
        raise ConfigurationError(
            "MAILGATE_SECRET_KEY", f"not set and {path} does not exist: run `mailgate init`"
        )
    key = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key
