"""The connector's durable buffer and its forwarder to the ingest API.

Every reading is written to a SQLite file (WAL, synchronous=FULL) before the message that carried it
is acknowledged to the broker, and leaves the file only once Altaviz has answered the batch that
carried it.

**Group commit.** Messages are not committed one by one (one fsync each: 1,300 readings/s). The
receiving side `submit`s what each message holds (readings, Sparkplug births, online/offline
reports, the message's digest) and hands its acknowledgement to `after_commit`; a committer thread
writes everything submitted since its last commit in one transaction — as soon as COMMIT_MESSAGES
messages are waiting or COMMIT_DELAY after the first of them — and only then sends the
acknowledgements, in the order the messages came. A crash before the commit loses no acknowledged
message: the broker sends the unacknowledged ones again. The digests of the last RECENT_DIGESTS
committed messages are kept (in commit order in the file, and in memory): a message the broker sends
again (its DUP flag set: the connector died or lost the connection between the commit and the
acknowledgement) is recognised and not stored twice. Such a message is one of the last committed
ones — acknowledgements leave after each commit, and the broker sends at most Receive Maximum
(MQTT 5, at most 65,535) or its own in-flight limit (3.1.1) unacknowledged messages ahead — so a
window of 200,000 covers it. A commit that fails (a full disk) acknowledges nothing and keeps what it
took at the head of the queue: the committer tries it again each second, on the same connection.
The readings are kept as the NDJSON lines the connectors made them into, a commit's lines in chunks of
at most batch_rows (a row of the table each, with its count).

**Forwarding.** A batch (whole chunks, up to batch_rows readings) is fixed in the file before it is
sent the first time: its first and last chunk, its request body (Parquet, or gzip NDJSON:
`request_body`) and its Idempotency-Key, which comes from the connector's id and that range. After a
crash or a restart the same batch goes again with the same key and the very bytes first sent (also
after an upgrade that would build the body differently), and the server answers it from its
idempotency record instead of storing it twice. A batch fixed by an older connector without its body
gets one built now; should the server hold its key for other bytes (409 `idempotency_key_reused`: the
older connector sent it in another form), the batch takes a new key and goes again, so the buffer is
never stuck behind it; if the first form had landed, silver keeps the earliest copy of each reading and
quarantines the second as a duplicate. Batches leave one at a time in sequence order, so in
order per compressor. Online/offline reports (POST /api/ingest/status) go before the readings waiting
with them: an offline compressor shows at once even behind a backlog. 429/5xx/no answer: the request
waits (Retry-After, else exponential back-off up to 60 s) and goes again; any other refusal of
readings (a revoked key) is recorded as the last error and retried every minute without dropping
anything; a refused report (a compressor the organization does not know) is logged and dropped.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import logging
import sqlite3
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from altaviz.connectors.mapping import SENSORS
from altaviz.ingest.client import INGEST_PATH, Outcome, backoff, post_once

log = logging.getLogger("altaviz.connectors")

SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (seq INTEGER PRIMARY KEY AUTOINCREMENT, row TEXT NOT NULL,
    n INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS batches (id INTEGER PRIMARY KEY, first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL, key TEXT NOT NULL, body BLOB, headers TEXT);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS births (source TEXT PRIMARY KEY, payload BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS statuses (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS digests (id INTEGER PRIMARY KEY, digest BLOB NOT NULL);
"""
STATUS_PATH = "/api/ingest/status"
FATAL_RETRY_SECONDS = 60.0
COMMIT_DELAY = 0.02  # seconds a message may wait for others to share its commit
COMMIT_MESSAGES = 5000  # a commit as soon as this many messages wait
COMMIT_RETRY_SECONDS = 1.0  # wait after a failed commit before the next try
RECENT_DIGESTS = 200_000  # digests of the last committed messages kept (redeliveries recognised)


DIGEST_BYTES = 16


def digest(topic: str, payload: bytes) -> bytes:
    return hashlib.blake2b(topic.encode() + b"\0" + payload, digest_size=DIGEST_BYTES).digest()


@dataclass
class Stats:
    """What a connector has done since it started (forwarded_total also across restarts)."""

    messages_in: int = 0
    readings_buffered: int = 0
    readings_forwarded: int = 0
    readings_refused: int = 0
    batches_forwarded: int = 0
    batches_replayed: int = 0
    batches_rekeyed: int = 0
    commits: int = 0
    commit_failures: int = 0
    redeliveries_skipped: int = 0
    statuses_forwarded: int = 0
    statuses_refused: int = 0
    malformed: int = 0
    unmapped: int = 0
    rebirth_requests: int = 0
    send_failures: int = 0
    buffer_depth: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    last_forward_at: float | None = None
    offline: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, count in counts.items():
                setattr(self, name, getattr(self, name) + count)

    def error(self, message: str) -> None:
        with self.lock:
            self.last_error = message
            self.last_error_at = time.time()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            data = {k: v for k, v in self.__dict__.items() if k != "lock"}
            data["offline"] = dict(self.offline)
            return data


@dataclass(frozen=True)
class Batch:
    """A batch as fixed in the file: its chunks' range, Idempotency-Key, request body and headers."""

    first: int
    last: int
    key: str
    body: bytes
    headers: dict[str, str]
    count: int


@dataclass
class Received:
    """What messages leave in the buffer (all of it, or none of it, in one commit): one message's, or
    those of a whole read pass of the MQTT client (`messages` of them, their `digests` in order)."""

    rows: list[dict[str, Any]] = field(default_factory=list)  # readings as objects (JSON, OPC UA)
    lines: list[str] = field(default_factory=list)  # readings as NDJSON lines already (Sparkplug)
    births: list[tuple[str, bytes | None]] = field(default_factory=list)  # None: forget the source's
    statuses: list[dict[str, Any]] = field(default_factory=list)  # POST /api/ingest/status bodies
    digests: list[bytes] = field(default_factory=list)
    messages: int = 1

    def extend(self, other: Received) -> None:
        self.rows += other.rows
        self.lines += other.lines
        self.births += other.births
        self.statuses += other.statuses
        self.digests += other.digests
        self.messages += other.messages


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30.0, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(SCHEMA)
    if "n" not in {str(c[1]) for c in db.execute("PRAGMA table_info(readings)")}:  # an older connector's
        db.execute("ALTER TABLE readings ADD COLUMN n INTEGER NOT NULL DEFAULT 1")  # one reading a row
    if "body" not in {str(c[1]) for c in db.execute("PRAGMA table_info(batches)")}:  # batches without body
        db.execute("ALTER TABLE batches ADD COLUMN body BLOB")
        db.execute("ALTER TABLE batches ADD COLUMN headers TEXT")
    return db


class Buffer:
    """The on-disk queue: `submit`/`add` on the receiving side, `forward_once`/`run` on the sending side."""

    def __init__(
        self,
        directory: Path,
        url: str,
        api_key: str,
        stats: Stats | None = None,
        *,
        batch_rows: int = 20_000,
        linger: float = 0.2,
        commit_delay: float = COMMIT_DELAY,
        commit_messages: int = COMMIT_MESSAGES,
        client: httpx.Client | None = None,
    ) -> None:
        self.directory = directory
        self.path = directory / "buffer.sqlite"
        self.status_path = directory / "status.json"
        self.stats = stats or Stats()
        base = url.rstrip("/")
        self.url = base + INGEST_PATH
        self.status_url = base + STATUS_PATH
        self.headers = {"x-api-key": api_key}
        self.batch_rows = batch_rows
        self.linger = linger
        self.commit_delay = commit_delay
        self.commit_messages = commit_messages
        self.client = client or httpx.Client(timeout=60.0)
        self._write = connect(self.path)
        self._read = connect(self.path)
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._attempts = 0
        # group commit: what was submitted since the last commit, and the acknowledgements after it
        self._pending: list[Received | Callable[[], None]] = []
        self._pending_messages = 0
        self._pending_since = 0.0
        self._pending_lock = threading.Condition()
        self._recent: OrderedDict[bytes, None] = OrderedDict()
        self._commits = 0
        self._load_digests()
        row = self._read.execute("SELECT value FROM meta WHERE name = 'connector_id'").fetchone()
        if row is None:
            self.connector_id = uuid.uuid4().hex[:12]
            self._read.execute("INSERT INTO meta VALUES ('connector_id', ?)", (self.connector_id,))
        else:
            self.connector_id = row[0]
        self.stats.buffer_depth = self.depth()

    def depth(self) -> int:
        return int(self._read.execute("SELECT coalesce(sum(n), 0) FROM readings").fetchone()[0])

    def _load_digests(self) -> None:
        """The digests of the last RECENT_DIGESTS committed messages, oldest first, into memory (a
        buffer of an older connector kept them a day in a table `seen`, keyed by digest: taken over)."""
        with self._write_lock:
            db = self._write
            old = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'seen'").fetchone()
            if old is not None:
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT INTO digests (digest) SELECT digest FROM seen ORDER BY at")
                db.execute("DROP TABLE seen")
                db.execute("COMMIT")
        newest_first = self._read.execute(
            "SELECT digest FROM digests ORDER BY id DESC LIMIT ?", (RECENT_DIGESTS,)
        ).fetchall()
        for (message_digest,) in reversed(newest_first):
            self._recent[bytes(message_digest)] = None

    # --- the receiving side ----------------------------------------------------------------------------

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Keep readings on disk now, in a transaction of their own (durable when this returns)."""
        if rows:
            self._commit([Received(rows=rows)])

    def submit(self, received: Received) -> None:
        """Queue what a message holds for the next group commit."""
        with self._pending_lock:
            first = not self._pending
            if first:
                self._pending_since = time.monotonic()
            self._pending.append(received)
            self._pending_messages += received.messages
            if first or self._pending_messages >= self.commit_messages:
                self._pending_lock.notify()  # (not for each message: a wakeup of the committer each)

    def after_commit(self, acknowledge: Callable[[], None]) -> None:
        """Run `acknowledge` once everything submitted before it is committed (in submission order)."""
        with self._pending_lock:
            first = not self._pending
            if first:
                self._pending_since = time.monotonic()
                self._pending_lock.notify()  # else the committer is counting down to its commit already
            self._pending.append(acknowledge)

    def seen(self, message_digest: bytes) -> bool:
        """Whether a message with this digest was committed (one of the last RECENT_DIGESTS) or waits
        for its commit already."""
        if message_digest in self._recent:
            return True
        with self._pending_lock:
            return any(isinstance(p, Received) and message_digest in p.digests for p in self._pending)

    def commit_pending(self) -> bool:
        """Commit what waits, then acknowledge it. False when nothing waited. A commit that fails (a
        full disk, an I/O error) rolls back and raises with what it took put back at the head of the
        queue, acknowledgements included: the committer tries it again (with what arrived since) on the
        same connection. Nothing of it was acknowledged, so nothing is lost even if the connector dies
        meanwhile, and the broker sends no more than its in-flight limit (Receive Maximum) ahead, which
        bounds what waits in memory while the disk refuses."""
        with self._pending_lock:
            taken, self._pending = self._pending, []
            taken_messages, self._pending_messages = self._pending_messages, 0
        if not taken:
            return False
        try:
            self._commit([p for p in taken if isinstance(p, Received)])
        except BaseException:
            with self._pending_lock:
                self._pending[:0] = taken
                self._pending_messages += taken_messages
                self._pending_since = time.monotonic()
            raise
        for item in taken:
            if not isinstance(item, Received):
                item()
        return True

    def run_commits(self) -> None:
        """The committer: a commit as soon as `commit_messages` wait or `commit_delay` after the first."""
        while True:
            with self._pending_lock:
                while not self._pending and not self._stop.is_set():
                    self._pending_lock.wait(1.0)
                while (
                    self._pending_messages < self.commit_messages
                    and not self._stop.is_set()
                    and (left := self._pending_since + self.commit_delay - time.monotonic()) > 0
                ):
                    self._pending_lock.wait(left)
                stopping = self._stop.is_set()
            try:
                self.commit_pending()
            except Exception as error:  # a full disk: record it; nothing was acknowledged, all of it
                log.exception("buffer commit failed")  # waits again for the next try
                self.stats.add(commit_failures=1)
                self.stats.error(f"buffer commit: {error}")
                self._stop.wait(COMMIT_RETRY_SECONDS)
            if stopping:
                self.commit_pending()
                return

    def _commit(self, received: list[Received]) -> None:
        lines: list[str] = []
        for item in received:
            lines += [json.dumps(row, separators=(",", ":")) for row in item.rows]
            lines += item.lines
        digests = [d for item in received for d in item.digests]
        # the readings as the NDJSON the request carries, in chunks of at most batch_rows lines, a row
        # of the table each: no row of the table, and no step of SQLite, per reading
        chunks = [
            ("\n".join(lines[at : at + self.batch_rows]), len(lines[at : at + self.batch_rows]))
            for at in range(0, len(lines), self.batch_rows)
        ]
        with self._write_lock:
            db = self._write
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT INTO readings (row, n) VALUES (?, ?)", chunks)
                for item in received:
                    for source, payload in item.births:
                        self._save_birth(source, payload)
                    for body in item.statuses:
                        db.execute("INSERT INTO statuses (body) VALUES (?)", (json.dumps(body),))
                # appended in commit order (a table keyed by the digest took a write of most of its
                # pages at each commit), as one blob cut apart by a counter
                if digests:
                    db.execute(
                        "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < ?) "
                        "INSERT INTO digests (digest) SELECT substr(?, i * ? + 1, ?) FROM k",
                        (len(digests), b"".join(digests), DIGEST_BYTES, DIGEST_BYTES),
                    )
                self._commits += 1
                if self._commits % 100 == 0:
                    db.execute(
                        "DELETE FROM digests WHERE id <= (SELECT max(id) FROM digests) - ?", (RECENT_DIGESTS,)
                    )
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # (an I/O error may have rolled it back already)
                    db.execute("ROLLBACK")
                raise
        for message_digest in digests:
            self._recent[message_digest] = None
        while len(self._recent) > RECENT_DIGESTS:
            self._recent.popitem(last=False)
        self.stats.add(readings_buffered=len(lines), buffer_depth=len(lines), commits=1)
        self._wake.set()

    def _save_birth(self, source: str, payload: bytes | None) -> None:
        """Keep (or with None, forget) a Sparkplug birth certificate: a restarted connector decodes the
        DDATA the broker kept for it (by alias) without waiting for a rebirth."""
        if payload is None:
            self._write.execute(
                "DELETE FROM births WHERE source = ? OR source LIKE ?", (source, source + "/%")
            )
        else:
            self._write.execute(
                "INSERT INTO births VALUES (?, ?) "
                "ON CONFLICT(source) DO UPDATE SET payload = excluded.payload",
                (source, payload),
            )

    def births(self) -> dict[str, bytes]:
        return {str(k): bytes(v) for k, v in self._read.execute("SELECT source, payload FROM births")}

    # --- the sending side ------------------------------------------------------------------------------

    def _open_batch(self) -> Batch | None:
        """The batch to send: the one fixed earlier (with the body first sent), else the next one, fixed
        now, body and all, before it leaves."""
        db = self._read
        query = "SELECT id, first_seq, last_seq, key, body, headers FROM batches ORDER BY id LIMIT 1"
        open_batch = db.execute(query).fetchone()
        if open_batch is not None:
            batch_id, first, last, key, body, headers = open_batch
            if body is not None:
                return Batch(first, last, key, bytes(body), json.loads(headers), self._count(first, last))
            batch = self._built(first, last, key)  # fixed by an older connector, which kept no body
            with self._write_lock:
                self._write.execute(
                    "UPDATE batches SET body = ?, headers = ? WHERE id = ?",
                    (batch.body, json.dumps(batch.headers), batch_id),
                )
            return batch
        first = last = None
        count = 0  # chunks in order while they fit in batch_rows readings (the first one always)
        for seq, n in db.execute("SELECT seq, n FROM readings ORDER BY seq LIMIT ?", (self.batch_rows,)):
            if first is not None and count + n > self.batch_rows:
                break
            first = seq if first is None else first
            last, count = seq, count + n
        if first is None or last is None:
            return None
        batch = self._built(first, last, f"cx-{self.connector_id}-{first}-{last}")
        with self._write_lock:
            self._write.execute(
                "INSERT INTO batches (first_seq, last_seq, key, body, headers) VALUES (?, ?, ?, ?, ?)",
                (first, last, batch.key, batch.body, json.dumps(batch.headers)),
            )
        return batch

    def _count(self, first: int, last: int) -> int:
        query = "SELECT coalesce(sum(n), 0) FROM readings WHERE seq BETWEEN ? AND ?"
        return int(self._read.execute(query, (first, last)).fetchone()[0])

    def _built(self, first: int, last: int, key: str) -> Batch:
        # the rows are stored as the JSON lines the request carries: no decoding on the way out
        chunks = self._read.execute(
            "SELECT row, n FROM readings WHERE seq BETWEEN ? AND ? ORDER BY seq", (first, last)
        ).fetchall()
        body, headers = request_body(("\n".join(text for text, _ in chunks) + "\n").encode())
        return Batch(first, last, key, body, headers, sum(int(n) for _, n in chunks))

    def _rekey(self, batch: Batch) -> None:
        """A new Idempotency-Key for a batch whose key the server holds for another body."""
        base, _, tries = batch.key.partition("-again")
        key = f"{base}-again{int(tries or 0) + 1}"
        with self._write_lock:
            self._write.execute("UPDATE batches SET key = ? WHERE key = ?", (key, batch.key))
        self.stats.add(batches_rekeyed=1)
        log.warning("batch %s: the server holds its key for another body; sent again as %s", batch.key, key)

    def _failed(self, what: str, outcome: Outcome) -> float:
        self._attempts += 1
        self.stats.add(send_failures=1)
        self.stats.error(f"{what}: {outcome.problem}")
        log.warning("forwarding %s failed: %s", what, outcome.problem)
        if not outcome.retryable:
            return FATAL_RETRY_SECONDS
        return outcome.wait if outcome.wait is not None else backoff(self._attempts)

    def forward_status(self) -> float | None:
        """Send the oldest online/offline report once. None: sent, dropped or none; else seconds to wait."""
        row = self._read.execute("SELECT id, body FROM statuses ORDER BY id LIMIT 1").fetchone()
        if row is None:
            return None
        report_id, body = int(row[0]), str(row[1])
        headers = {**self.headers, "Content-Type": "application/json"}
        outcome = post_once(self.client, self.status_url, body.encode(), headers, settled_by="accepted")
        if outcome.answer is None and outcome.retryable:
            return self._failed(f"status report {report_id}", outcome)
        self._attempts = 0
        if outcome.answer is None or outcome.answer.get("refused"):
            problem = outcome.problem or f"refused: {outcome.answer}"
            self.stats.add(statuses_refused=1)
            self.stats.error(f"status report {report_id}: {problem}")
            log.warning("status report %s not (fully) accepted: %s", body, problem)
        if outcome.answer is not None and outcome.answer.get("accepted"):
            self.stats.add(statuses_forwarded=1)
        with self._write_lock:
            self._write.execute("DELETE FROM statuses WHERE id = ?", (report_id,))
        return None

    def forward_once(self) -> float | None:
        """Send the waiting reports, then the oldest batch, once. None: sent (or nothing to send); else
        seconds to wait."""
        while (wait := self.forward_status()) is None:
            if self._read.execute("SELECT 1 FROM statuses LIMIT 1").fetchone() is None:
                break
        if wait is not None:
            return wait
        batch = self._open_batch()
        if batch is None:
            return None
        first, last, key, count = batch.first, batch.last, batch.key, batch.count
        headers = {**self.headers, **batch.headers, "Idempotency-Key": key}
        outcome = post_once(self.client, self.url, batch.body, headers)
        if outcome.answer is None:
            wait = self._failed(f"batch {key} ({count} readings)", outcome)
            if outcome.code == "idempotency_key_reused":
                self._rekey(batch)
                return 0.0
            return wait
        self._attempts = 0
        with self._write_lock:
            self._write.execute("BEGIN IMMEDIATE")
            self._write.execute("DELETE FROM readings WHERE seq BETWEEN ? AND ?", (first, last))
            self._write.execute("DELETE FROM batches WHERE key = ?", (key,))
            self._write.execute(
                "INSERT INTO meta VALUES ('forwarded_total', ?) ON CONFLICT(name) DO UPDATE "
                "SET value = CAST(value AS INTEGER) + excluded.value",
                (str(int(outcome.answer.get("accepted", 0))),),
            )
            self._write.execute("COMMIT")
        self.stats.add(
            readings_forwarded=int(outcome.answer.get("accepted", 0)),
            readings_refused=int(outcome.answer.get("refused", 0)),
            batches_forwarded=1,
            batches_replayed=int(outcome.replayed),
            buffer_depth=-count,
        )
        with self.stats.lock:
            self.stats.last_forward_at = time.time()
        return None

    def write_status(self) -> None:
        data = self.stats.snapshot()
        data["buffer_depth"] = self.depth()
        data["connector_id"] = self.connector_id
        data["written_at"] = time.time()
        staging = self.status_path.with_name(".status.json.tmp")
        staging.write_text(json.dumps(data, indent=1))
        staging.replace(self.status_path)

    def run(self) -> None:
        """Forward until stop(): batches as they fill, a partial one after `linger` seconds."""
        last_status = 0.0
        while not self._stop.is_set():
            if time.monotonic() - last_status > 1.0:
                self.write_status()
                last_status = time.monotonic()
            try:
                wait = self.forward_once()
            except Exception as error:  # never let the forwarder die: record and go on
                log.exception("forwarder error")
                self.stats.error(f"forwarder: {error}")
                wait = 5.0
            if wait is not None:
                self._stop.wait(wait)
                continue
            with self.stats.lock:
                depth = self.stats.buffer_depth
            if depth < self.batch_rows:
                self._wake.clear()
                self._wake.wait(self.linger if depth else 1.0)
                with self.stats.lock:
                    depth = self.stats.buffer_depth
                if depth and depth < self.batch_rows and not self._has_statuses():
                    self._stop.wait(self.linger)
        self.write_status()

    def _has_statuses(self) -> bool:
        return self._read.execute("SELECT 1 FROM statuses LIMIT 1").fetchone() is not None

    def start(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self.run_commits, name="altaviz-committer", daemon=True),
            threading.Thread(target=self.run, name="altaviz-forwarder", daemon=True),
        ]
        for thread in threads:
            thread.start()
        return threads

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        with self._pending_lock:
            self._pending_lock.notify_all()


PARQUET_SCHEMA = pa.schema(
    [("compressor_id", pa.string()), ("timestamp", pa.int64()), *((name, pa.float64()) for name in SENSORS)]
)


def request_body(ndjson: bytes) -> tuple[bytes, dict[str, str]]:
    """A batch's request body and its content headers: Parquet when every line reads as a reading with
    an epoch-millisecond timestamp (Sparkplug's, OPC UA's: Arrow's JSON reader in C, no Python object
    per reading; the service reads Parquet for several times less CPU than NDJSON), else (RFC 3339
    text a JSON payload carried) the NDJSON lines gzip-compressed. Both are the same bytes for the same
    lines (no time in the gzip header): a batch sent again after no answer is the request the service
    may already hold under its Idempotency-Key, which it answers from its record."""
    try:
        table = pa_json.read_json(
            pa.BufferReader(ndjson),
            read_options=pa_json.ReadOptions(use_threads=False),
            parse_options=pa_json.ParseOptions(
                explicit_schema=PARQUET_SCHEMA, unexpected_field_behavior="error"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        body = gzip.compress(ndjson, compresslevel=1, mtime=0)
        return body, {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
    out = pa.BufferOutputStream()
    pq.write_table(table, out, compression="zstd")
    return out.getvalue().to_pybytes(), {"Content-Type": "application/vnd.apache.parquet"}


def read_status(directory: Path) -> dict[str, Any]:
    """The connector's counters from its buffer directory (for `altaviz connect status`)."""
    status_path = directory / "status.json"
    data: dict[str, Any] = json.loads(status_path.read_text()) if status_path.exists() else {}
    path = directory / "buffer.sqlite"
    if path.exists():
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
        try:
            try:
                depth = db.execute("SELECT coalesce(sum(n), 0) FROM readings").fetchone()[0]
            except sqlite3.OperationalError:  # a buffer of an older connector (one reading a row)
                depth = db.execute("SELECT count(*) FROM readings").fetchone()[0]
            data["buffer_depth"] = int(depth)
            total = db.execute("SELECT value FROM meta WHERE name = 'forwarded_total'").fetchone()
            data["forwarded_total"] = int(total[0]) if total else 0
            with contextlib.suppress(sqlite3.OperationalError):  # a buffer of an older connector
                data["statuses_waiting"] = int(db.execute("SELECT count(*) FROM statuses").fetchone()[0])
        finally:
            db.close()
    return data
