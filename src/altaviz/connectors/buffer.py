"""The connector's durable buffer and its forwarder to POST /api/ingest/readings.

Every reading is written to a SQLite file (WAL, synchronous=FULL: on disk before the broker's message
is acknowledged as handled) and leaves it only once Altaviz has answered the batch that carried it.
A batch is fixed in the file (its first and last sequence numbers) before it is sent the first time,
and its Idempotency-Key comes from the connector's id and that range: after a crash or a restart the
same batch goes again with the same key and body, and the server answers it from its idempotency
record instead of storing it twice. Batches leave one at a time in sequence order, so in order per
compressor. 429/5xx/no answer: the batch waits (Retry-After, else exponential back-off up to 60 s) and
goes again; any other refusal (a revoked key) is recorded as the last error and retried every minute
without dropping anything.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from altaviz.ingest.client import INGEST_PATH, backoff, ndjson_body, post_once

log = logging.getLogger("altaviz.connectors")

SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (seq INTEGER PRIMARY KEY AUTOINCREMENT, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (id INTEGER PRIMARY KEY, first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL, key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS births (source TEXT PRIMARY KEY, payload BLOB NOT NULL);
"""
FATAL_RETRY_SECONDS = 60.0


@dataclass
class Stats:
    """What a connector has done since it started (forwarded_total also across restarts)."""

    messages_in: int = 0
    readings_buffered: int = 0
    readings_forwarded: int = 0
    readings_refused: int = 0
    batches_forwarded: int = 0
    batches_replayed: int = 0
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


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30.0, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(SCHEMA)
    return db


class Buffer:
    """The on-disk queue: `add` from the receiving side, `forward_once`/`run` from the sending side."""

    def __init__(
        self,
        directory: Path,
        url: str,
        api_key: str,
        stats: Stats | None = None,
        *,
        batch_rows: int = 5000,
        linger: float = 0.2,
        client: httpx.Client | None = None,
    ) -> None:
        self.directory = directory
        self.path = directory / "buffer.sqlite"
        self.status_path = directory / "status.json"
        self.stats = stats or Stats()
        self.url = url.rstrip("/") + INGEST_PATH
        self.headers = {"x-api-key": api_key}
        self.batch_rows = batch_rows
        self.linger = linger
        self.client = client or httpx.Client(timeout=60.0)
        self._write = connect(self.path)
        self._read = connect(self.path)
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._attempts = 0
        row = self._read.execute("SELECT value FROM meta WHERE name = 'connector_id'").fetchone()
        if row is None:
            self.connector_id = uuid.uuid4().hex[:12]
            self._read.execute("INSERT INTO meta VALUES ('connector_id', ?)", (self.connector_id,))
        else:
            self.connector_id = row[0]
        self.stats.buffer_depth = self.depth()

    def depth(self) -> int:
        return int(self._read.execute("SELECT count(*) FROM readings").fetchone()[0])

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Keep readings on disk (durable when this returns)."""
        if not rows:
            return
        with self._write_lock:
            self._write.execute("BEGIN IMMEDIATE")
            self._write.executemany(
                "INSERT INTO readings (row) VALUES (?)",
                [(json.dumps(r, separators=(",", ":")),) for r in rows],
            )
            self._write.execute("COMMIT")
        self.stats.add(readings_buffered=len(rows), buffer_depth=len(rows))
        self._wake.set()

    def save_birth(self, source: str, payload: bytes | None) -> None:
        """Keep (or with None, forget) a Sparkplug birth certificate: a restarted connector decodes the
        DDATA the broker kept for it (by alias) without waiting for a rebirth."""
        with self._write_lock:
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

    def _open_batch(self) -> tuple[int, int, str] | None:
        db = self._read
        open_batch = db.execute("SELECT first_seq, last_seq, key FROM batches ORDER BY id LIMIT 1").fetchone()
        if open_batch is not None:
            return int(open_batch[0]), int(open_batch[1]), str(open_batch[2])
        bounds = db.execute(
            "SELECT min(seq), max(seq) FROM (SELECT seq FROM readings ORDER BY seq LIMIT ?)",
            (self.batch_rows,),
        ).fetchone()
        if bounds[0] is None:
            return None
        first, last = int(bounds[0]), int(bounds[1])
        key = f"cx-{self.connector_id}-{first}-{last}"
        with self._write_lock:
            self._write.execute(
                "INSERT INTO batches (first_seq, last_seq, key) VALUES (?, ?, ?)", (first, last, key)
            )
        return first, last, key

    def forward_once(self) -> float | None:
        """Send the oldest batch once. None: sent (or nothing to send); else seconds to wait."""
        batch = self._open_batch()
        if batch is None:
            return None
        first, last, key = batch
        rows = [
            json.loads(text)
            for (text,) in self._read.execute(
                "SELECT row FROM readings WHERE seq BETWEEN ? AND ? ORDER BY seq", (first, last)
            )
        ]
        body, headers = ndjson_body(rows)
        outcome = post_once(self.client, self.url, body, {**self.headers, **headers, "Idempotency-Key": key})
        if outcome.answer is None:
            self._attempts += 1
            self.stats.add(send_failures=1)
            self.stats.error(f"batch {key} ({len(rows)} readings): {outcome.problem}")
            log.warning("forwarding %s failed: %s", key, outcome.problem)
            if not outcome.retryable:
                return FATAL_RETRY_SECONDS
            return outcome.wait if outcome.wait is not None else backoff(self._attempts)
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
            buffer_depth=-len(rows),
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
            elif self.depth() < self.batch_rows:
                self._wake.clear()
                self._wake.wait(self.linger if self.depth() else 1.0)
                if self.depth() and self.depth() < self.batch_rows:
                    self._stop.wait(self.linger)
        self.write_status()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="altaviz-forwarder", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()


def read_status(directory: Path) -> dict[str, Any]:
    """The connector's counters from its buffer directory (for `altaviz connect status`)."""
    status_path = directory / "status.json"
    data: dict[str, Any] = json.loads(status_path.read_text()) if status_path.exists() else {}
    path = directory / "buffer.sqlite"
    if path.exists():
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
        try:
            data["buffer_depth"] = int(db.execute("SELECT count(*) FROM readings").fetchone()[0])
            total = db.execute("SELECT value FROM meta WHERE name = 'forwarded_total'").fetchone()
            data["forwarded_total"] = int(total[0]) if total else 0
        finally:
            db.close()
    return data
