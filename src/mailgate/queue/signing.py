"""DKIM signing in the worker: which key signs a claimed message, and the signing itself.

The last step before the bytes leave (queue/delivery.py calls :func:`sign_batch`
right before the transports): whatever mailgate added earlier (List-Unsubscribe,
Message-ID, ...) is covered, and nothing is added after it.

A message is signed when its From domain — or, when From is not the workspace's
(the ``on_behalf_of`` sender policy keeps the author in From), its Sender domain —
is a sending domain *of the message's own workspace* with an active key, or a
sub-domain of one (relaxed DMARC alignment, RFC 7489 §3.1.1). Another
workspace's domain never signs: a tenant cannot borrow someone else's reputation.
"""

from __future__ import annotations

import atexit
import email.utils
import logging
import multiprocessing
import os
import threading
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from sqlalchemy.orm import Session

from mailgate.crypto import SecretBox
from mailgate.errors import SecretUnreadable
from mailgate.outbound import dkim_sign
from mailgate.outbound.dkim_sign import SigningKey
from mailgate.queue.outbox import Claimed
from mailgate.store.context import Context
from mailgate.store.models import DkimKey, SendingDomain

#: Loaded private keys by (key id, sealed token): decrypting and loading an RSA key
#: costs milliseconds, signing far less, so each key is opened once per process. A
#: token re-sealed under a new secret key is a new entry; retired keys are erased.
_LOADED: dict[tuple[str, str], tuple[SigningKey, bytes]] = {}
_MAX_LOADED = 4096
#: A batch with at least this many messages to sign goes to the helper processes
#: (MAILGATE_DKIM_SIGN_PROCESSES); smaller ones are not worth the round trip.
POOL_MIN_BATCH = 8

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Unsigned:
    """Why a message that must be signed could not be (delivery waits for the fix)."""

    reason: str


def author_domains(raw: bytes) -> list[str]:
    """The From domain(s), then the Sender domain: the candidates for d=, A-labels."""
    fields, _ = dkim_sign.split(dkim_sign.crlf(raw))
    out: list[str] = []
    for wanted in (b"from", b"sender"):
        for field in fields:
            if dkim_sign.field_name(field) != wanted:
                continue
            value = field.split(b":", 1)[1].decode("utf-8", "replace")
            for _, address in email.utils.getaddresses([value.replace("\r\n", "")]):
                domain = _a_label(address.rpartition("@")[2])
                if domain and domain not in out:
                    out.append(domain)
    return out


def _a_label(domain: str) -> str:
    domain = domain.strip().strip(".").lower()
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return ""


def _ancestors(domain: str) -> list[str]:
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def sign_batch(app: Context, claimed: Iterable[Claimed]) -> dict[str, bytes | Unsigned]:
    """Signed bytes (or why not) for each claimed message that has a key; id → result."""
    wanted = {c.id: author_domains(c.raw) for c in claimed}
    by_id = {c.id: c for c in claimed}
    names = {a for ds in wanted.values() for d in ds for a in _ancestors(d)}
    if not names:
        return {}
    with app.sessions() as session:
        rows = _active_keys(session, names, {c.workspace_id for c in by_id.values()})
    out: dict[str, bytes | Unsigned] = {}
    jobs: dict[str, list[tuple[SigningKey, bytes, DkimKey]]] = {}
    for msg_id, domains in wanted.items():
        ws = by_id[msg_id].workspace_id
        keys = _pick(rows, ws, domains)
        if not keys:
            continue
        try:
            jobs[msg_id] = [(*_load(app.secrets, domain, key), key) for domain, key in keys]
        except (SecretUnreadable, ValueError) as e:
            text = e.message if isinstance(e, SecretUnreadable) else str(e)
            out[msg_id] = Unsigned(f"DKIM key of {keys[0][0]} unreadable: {text}")
    processes = app.settings.dkim_sign_processes
    if processes > 0 and len(jobs) >= POOL_MIN_BATCH:
        try:
            out.update(_sign_in_pool(processes, {i: by_id[i].raw for i in jobs}, jobs))
            return out
        except (BrokenProcessPool, OSError) as e:  # never hold mail back for the helpers
            log.warning("DKIM helper processes failed (%r): signing in the worker", e)
            _drop_pool()
    for msg_id, loaded in jobs.items():
        out[msg_id] = dkim_sign.sign(by_id[msg_id].raw, [k for k, _, _ in loaded])
    return out


_POOL: tuple[int, int, ProcessPoolExecutor] | None = None  # (pid, size, pool)
_POOL_LOCK = threading.Lock()


def _pool(size: int) -> ProcessPoolExecutor:
    """This process's helper pool (spawned, not forked: the worker has threads)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL[0] != os.getpid() or _POOL[1] != size:
            ctx = multiprocessing.get_context("spawn")
            _POOL = (os.getpid(), size, ProcessPoolExecutor(size, mp_context=ctx))
        return _POOL[2]


def _drop_pool() -> None:
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None and _POOL[0] == os.getpid():
            _POOL[2].shutdown(wait=True, cancel_futures=True)
        _POOL = None


atexit.register(_drop_pool)


def _sign_in_pool(
    size: int,
    raws: dict[str, bytes],
    jobs: dict[str, list[tuple[SigningKey, bytes, DkimKey]]],
) -> dict[str, bytes]:
    ids = list(jobs)
    chunks = [ids[i::size] for i in range(size)]
    futures = []
    for chunk in filter(None, chunks):
        specs: dict[str, dkim_sign.KeySpec] = {}
        for msg_id in chunk:
            for k, pem, row in jobs[msg_id]:
                specs[row.id] = (row.id, k.domain, k.selector, k.algorithm, pem)
        work = [(raws[m], [row.id for _, _, row in jobs[m]]) for m in chunk]
        futures.append((chunk, _pool(size).submit(dkim_sign.sign_jobs, specs, work)))
    out: dict[str, bytes] = {}
    for chunk, future in futures:
        out.update(zip(chunk, future.result(), strict=True))
    return out


def _pick(
    rows: dict[tuple[str, str], list[DkimKey]], workspace_id: str, domains: list[str]
) -> list[tuple[str, DkimKey]]:
    """The keys of the first candidate domain (nearest registered ancestor) that has any."""
    for domain in domains:
        for name in _ancestors(domain):
            keys = rows.get((workspace_id, name))
            if keys:
                return [(name, k) for k in keys]
    return []


def _active_keys(
    session: Session, names: set[str], workspaces: set[str]
) -> dict[tuple[str, str], list[DkimKey]]:
    query = (
        session.query(SendingDomain.workspace_id, SendingDomain.name, DkimKey)
        .join(DkimKey, DkimKey.domain_id == SendingDomain.id)
        .filter(
            SendingDomain.name.in_(names),
            SendingDomain.workspace_id.in_(workspaces),
            DkimKey.state == "active",
        )
        # RSA first: receivers that stop at the first signature know RSA (RFC 8463 §4).
        .order_by(DkimKey.algorithm.desc(), DkimKey.activated_at.desc())
    )
    rows: dict[tuple[str, str], list[DkimKey]] = {}
    for ws, name, key in query:
        same = rows.setdefault((ws, name), [])
        if all(k.algorithm != key.algorithm for k in same):  # newest active per algorithm
            same.append(key)
        session.expunge(key)
    return rows


def _load(box: SecretBox, domain: str, key: DkimKey) -> tuple[SigningKey, bytes]:
    """The loaded key and its PEM (for the helper processes), decrypted once per key."""
    cached = _LOADED.get((key.id, key.private_key))
    if cached is not None:
        return cached
    pem = str(box.decrypt(key.private_key).get("pem", "")).encode()
    loaded = dkim_sign.load_key(domain, key.selector, key.algorithm, pem), pem
    if len(_LOADED) >= _MAX_LOADED:
        _LOADED.clear()
    _LOADED[(key.id, key.private_key)] = loaded
    return loaded
