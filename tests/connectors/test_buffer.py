"""The connector's buffer on its own: group commit (acknowledgements only after the commit, in order),
redelivered messages recognised after a restart, online/offline reports sent before the readings
waiting with them, and what the ingest API's answers do to each."""

import functools
import gzip
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq

from altaviz.connectors.buffer import Buffer, Received, digest, read_status, request_body
from altaviz.connectors.mqtt import Message, PassCollector


def reading(k: int) -> dict[str, Any]:
    return {"compressor_id": f"C-{k % 3}", "timestamp": 1_760_000_000_000 + k * 60_000, "vibration_mms": 2.0}


def message(topic: str, payload: bytes, dup: bool = False) -> Message:
    return Message(topic, payload, dup, 1, False, 1)


def stored_rows(buffer: Buffer) -> list[dict[str, Any]]:
    """The readings in the buffer file, in order (a row of the table holds a commit's NDJSON lines)."""
    chunks = buffer._read.execute("SELECT row FROM readings ORDER BY seq")
    return [json.loads(line) for (chunk,) in chunks for line in chunk.split("\n")]


def sent_rows(request: httpx.Request) -> list[dict[str, Any]]:
    """The readings of a forwarded batch, Parquet or gzip NDJSON, with the columns it holds."""
    if request.headers["Content-Type"] == "application/vnd.apache.parquet":
        table = pq.read_table(pa.BufferReader(request.content))
        return [{k: v for k, v in row.items() if v is not None} for row in table.to_pylist()]
    assert request.headers["Content-Encoding"] == "gzip"
    return [json.loads(line) for line in gzip.decompress(request.content).decode().splitlines()]


def test_group_commit_acknowledges_after_the_commit_in_order(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path, "http://altaviz.invalid", "key", commit_delay=10.0, commit_messages=1000)
    acknowledged: list[int] = []
    durable_when_acknowledged: list[int] = []

    def acknowledge(k: int) -> None:
        acknowledged.append(k)
        durable_when_acknowledged.append(read_status(tmp_path)["buffer_depth"])

    for k in range(50):
        buffer.submit(Received(rows=[reading(k)], digests=[bytes([k])]))
        buffer.after_commit(functools.partial(acknowledge, k))
    assert acknowledged == [] and buffer.depth() == 0  # nothing acknowledged before its commit
    assert buffer.commit_pending()
    assert acknowledged == list(range(50)) and set(durable_when_acknowledged) == {50}
    assert buffer.stats.commits == 1 and buffer.stats.readings_buffered == 50
    assert stored_rows(buffer) == [reading(k) for k in range(50)]
    assert not buffer.commit_pending()


def test_the_committer_commits_a_full_group_at_once_and_a_partial_one_after_the_delay(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path, "http://altaviz.invalid", "key", commit_delay=600.0, commit_messages=10)
    committer = threading.Thread(target=buffer.run_commits, daemon=True)
    committer.start()
    full = threading.Event()
    for k in range(10):
        buffer.submit(Received(rows=[reading(k)]))
    buffer.after_commit(full.set)
    assert full.wait(30)  # not the 600 s delay: the group was full
    assert buffer.depth() == 10
    buffer.commit_delay = 0.05
    partial = threading.Event()
    for k in range(10, 13):
        buffer.submit(Received(rows=[reading(k)]))
    buffer.after_commit(partial.set)
    assert partial.wait(30)
    assert buffer.depth() == 13
    buffer.stop()
    committer.join(5)


def test_a_redelivered_message_is_stored_once_also_after_a_restart(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path, "http://altaviz.invalid", "key")

    def rows(topic: str, payload: bytes, into: Received) -> None:
        into.rows.append(json.loads(payload))

    first = message("site/C-1/telemetry", json.dumps(reading(1)).encode())
    collector = PassCollector(buffer, rows)
    collector.handle(first)
    collector.pass_end()
    buffer.commit_pending()
    # the connector dies before the PUBACK: a new one gets the message again, with DUP set
    restarted = Buffer(tmp_path, "http://altaviz.invalid", "key")
    collector = PassCollector(restarted, rows)
    collector.handle(message(first.topic, first.payload, dup=True))
    # the same payload without DUP is a new message (a device may repeat itself)
    collector.handle(message(first.topic, first.payload))
    collector.pass_end()
    restarted.commit_pending()
    assert restarted.depth() == 2
    assert restarted.stats.redeliveries_skipped == 1 and restarted.stats.messages_in == 2
    assert restarted.seen(digest(first.topic, first.payload))


def test_a_malformed_message_is_counted_with_its_topic_and_still_acknowledged(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path, "http://altaviz.invalid", "key")
    acknowledged: list[str] = []

    def rows(topic: str, payload: bytes, into: Received) -> None:
        into.rows.append(json.loads(payload))

    collector = PassCollector(buffer, rows)
    collector.handle(message("site/C-1/telemetry", b"{not json"))
    collector.pass_end()
    buffer.after_commit(lambda: acknowledged.append("bad"))
    collector.handle(message("site/C-2/telemetry", json.dumps(reading(2)).encode()))
    collector.pass_end()
    buffer.after_commit(lambda: acknowledged.append("good"))
    buffer.commit_pending()
    assert acknowledged == ["bad", "good"] and buffer.depth() == 1
    assert buffer.stats.malformed == 1
    assert buffer.stats.last_error is not None and buffer.stats.last_error.startswith("site/C-1/telemetry: ")


def test_reports_go_before_the_readings_and_answers_decide_what_stays(tmp_path: Path) -> None:
    calls: list[tuple[str, Any]] = []
    answers = {"status": [503, 200, 422], "readings": [200]}

    def server(request: httpx.Request) -> httpx.Response:
        kind = request.url.path.rsplit("/", 1)[1]
        code = answers[kind].pop(0)
        calls.append((kind, code))
        if code == 503:
            return httpx.Response(503, json={"error": "down"}, headers={"Retry-After": "0"})
        if kind == "status":
            ids = json.loads(request.content)["compressor_ids"]
            accepted = 0 if code == 422 else len(ids)
            return httpx.Response(code, json={"accepted": accepted, "refused": len(ids) - accepted})
        assert request.headers["Idempotency-Key"].startswith("cx-")
        return httpx.Response(200, json={"rows": 3, "accepted": 3, "refused": 0})

    client = httpx.Client(transport=httpx.MockTransport(server))
    buffer = Buffer(tmp_path, "http://altaviz.test", "key", client=client)
    offline = {"compressor_ids": ["C-1"], "state": "offline", "timestamp": 1, "reason": "NDEATH of S"}
    unknown = {"compressor_ids": ["NOPE"], "state": "offline", "timestamp": 2, "reason": "DDEATH of S/X"}
    buffer.submit(Received(rows=[reading(k) for k in range(3)]))
    buffer.submit(Received(statuses=[offline, unknown]))
    buffer.commit_pending()
    assert buffer.forward_once() == 0.0  # 503: the report waits, the readings behind it too
    assert buffer.depth() == 3 and read_status(tmp_path)["statuses_waiting"] == 2
    assert buffer.forward_once() is None
    assert calls == [("status", 503), ("status", 200), ("status", 422), ("readings", 200)]
    assert buffer.depth() == 0 and read_status(tmp_path)["statuses_waiting"] == 0
    assert (buffer.stats.statuses_forwarded, buffer.stats.statuses_refused) == (1, 1)
    assert buffer.stats.last_error is not None and "refused" in buffer.stats.last_error
    assert read_status(tmp_path)["forwarded_total"] == 3


def test_digests_an_older_connector_kept_are_taken_over(tmp_path: Path) -> None:
    """A buffer file of a connector before the digests were kept in commit order: its table `seen`
    (keyed by digest, with the time) becomes the new table, so its redeliveries are still recognised."""
    old = sqlite3.connect(tmp_path / "buffer.sqlite")
    old.execute("CREATE TABLE seen (digest BLOB PRIMARY KEY, at REAL NOT NULL) WITHOUT ROWID")
    rows = [(digest("t", b"late"), 2.0), (digest("t", b"early"), 1.0)]
    old.executemany("INSERT INTO seen VALUES (?, ?)", rows)
    old.commit()
    old.close()
    buffer = Buffer(tmp_path, "http://altaviz.invalid", "key")
    assert buffer.seen(digest("t", b"early")) and buffer.seen(digest("t", b"late"))
    assert not buffer.seen(digest("t", b"other"))
    tables = {name for (name,) in buffer._read.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "seen" not in tables
    order = [bytes(d) for (d,) in buffer._read.execute("SELECT digest FROM digests ORDER BY id")]
    assert order == [digest("t", b"early"), digest("t", b"late")]


def test_a_failed_commit_keeps_its_messages_and_acknowledgements_and_is_tried_again(tmp_path: Path) -> None:
    """The buffer file refuses writes for a while (here a trigger of the file's own makes SQLite abort
    them, as a full disk would): the committer records the error and tries the same messages again on
    the same connection until the file takes them; nothing is acknowledged before and nothing is lost
    or stored twice after, with messages arriving meanwhile committed behind them in order."""
    buffer = Buffer(tmp_path, "http://altaviz.invalid", "key", commit_delay=0.01)
    refuse = sqlite3.connect(tmp_path / "buffer.sqlite")
    refuse.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON readings BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    refuse.commit()
    acknowledged: list[int] = []
    committer = threading.Thread(target=buffer.run_commits, daemon=True)
    committer.start()
    for k in range(5):
        buffer.submit(Received(rows=[reading(k)], digests=[bytes([k])]))
        buffer.after_commit(functools.partial(acknowledged.append, k))
    deadline = time.monotonic() + 30
    while buffer.stats.commit_failures < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert buffer.stats.commit_failures >= 2  # tried again, still refused
    assert buffer.stats.last_error is not None and "disk full" in buffer.stats.last_error
    assert acknowledged == [] and buffer.depth() == 0 and buffer.stats.commits == 0
    assert buffer.seen(bytes([3]))  # still waiting: a redelivery of it is recognised
    for k in range(5, 8):  # arriving while the file refuses
        buffer.submit(Received(rows=[reading(k)], digests=[bytes([k])]))
        buffer.after_commit(functools.partial(acknowledged.append, k))
    refuse.execute("DROP TRIGGER refuse")
    refuse.commit()
    refuse.close()
    while len(acknowledged) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert acknowledged == list(range(8))
    assert stored_rows(buffer) == [reading(k) for k in range(8)]
    buffer.stop()
    committer.join(5)


def test_an_older_buffer_file_is_taken_over_and_batches_keep_within_batch_rows(tmp_path: Path) -> None:
    """A buffer file of a connector that kept one reading a row is forwarded as it is; a commit's
    lines are kept in chunks of at most batch_rows, and a batch takes whole chunks, in order, up to
    batch_rows readings."""
    old = sqlite3.connect(tmp_path / "buffer.sqlite")
    old.execute("CREATE TABLE readings (seq INTEGER PRIMARY KEY AUTOINCREMENT, row TEXT NOT NULL)")
    old.executemany("INSERT INTO readings (row) VALUES (?)", [(json.dumps(reading(k)),) for k in range(3)])
    old.commit()
    old.close()
    bodies: list[list[dict[str, Any]]] = []

    def server(request: httpx.Request) -> httpx.Response:
        rows = sent_rows(request)
        bodies.append(rows)
        return httpx.Response(200, json={"rows": len(rows), "accepted": len(rows), "refused": 0})

    client = httpx.Client(transport=httpx.MockTransport(server))
    buffer = Buffer(tmp_path, "http://altaviz.test", "key", batch_rows=4, client=client)
    assert buffer.depth() == 3 and read_status(tmp_path)["buffer_depth"] == 3
    buffer.submit(Received(rows=[reading(k) for k in range(3, 8)]))
    buffer.commit_pending()
    assert buffer.depth() == 8
    while buffer.depth():
        assert buffer.forward_once() is None
    assert [len(body) for body in bodies] == [3, 4, 1]
    assert [row for body in bodies for row in body] == [reading(k) for k in range(8)]
    assert read_status(tmp_path)["forwarded_total"] == 8


def test_a_batch_goes_as_parquet_unless_a_line_has_a_text_timestamp_and_the_same_lines_give_the_same_body(
    tmp_path: Path,
) -> None:
    """Readings with epoch-millisecond times (Sparkplug, OPC UA) go as Parquet, with a column for every
    sensor (null where a reading lacks it); a batch holding an RFC 3339 time (plain JSON) as the gzip
    NDJSON lines. Sent again, a batch is the same bytes (the service's idempotency record compares them)."""
    sparse = {"compressor_id": "C-1", "timestamp": 1_760_000_000_000, "gas_flow_mcf": 1e16}
    lines = [json.dumps(reading(1)), json.dumps(sparse)]
    body, headers = request_body(("\n".join(lines) + "\n").encode())
    assert headers == {"Content-Type": "application/vnd.apache.parquet"}
    table = pq.read_table(pa.BufferReader(body))
    assert (
        table.column_names[:2] == ["compressor_id", "timestamp"] and "operating_hours" in table.column_names
    )
    assert sent_rows(httpx.Request("POST", "http://x", content=body, headers=headers)) == [reading(1), sparse]
    assert request_body(("\n".join(lines) + "\n").encode()) == (body, headers)
    text_time = json.dumps(
        {"compressor_id": "C-2", "timestamp": "2026-12-06T10:00:00Z", "vibration_mms": 1.0}
    )
    ndjson = ("\n".join([*lines, text_time]) + "\n").encode()
    body, headers = request_body(ndjson)
    assert headers == {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
    assert gzip.decompress(body) == ndjson
    time.sleep(1.1)  # (gzip would write the time into its header)
    assert request_body(ndjson) == (body, headers)


class IdempotentServer:
    """The ingest API's idempotency rule as the connector meets it: a key answers the same body from
    its record, another body under it is 409 idempotency_key_reused; `fail` first answers 503."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.records: dict[str, bytes] = {}
        self.calls: list[tuple[str, int]] = []
        self.stored: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        key = request.headers["Idempotency-Key"]
        if self.fail:
            self.fail -= 1
            self.records[key] = request.content  # claimed, then the answer was lost
            self.calls.append((key, 503))
            return httpx.Response(503, json={"error": "down"}, headers={"Retry-After": "0"})
        if key in self.records and self.records[key] != request.content:
            self.calls.append((key, 409))
            body = {"error": "used with a different request body", "code": "idempotency_key_reused"}
            return httpx.Response(409, json=body)
        self.records[key] = request.content
        rows = sent_rows(request)
        self.stored += rows
        self.calls.append((key, 200))
        return httpx.Response(200, json={"rows": len(rows), "accepted": len(rows), "refused": 0})


def test_a_batch_is_resent_as_the_bytes_first_sent_even_when_its_body_would_now_be_built_otherwise(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """The body is fixed in the file with the batch: an upgrade between the first send and the retry
    (another pyarrow writes other Parquet bytes, another version picks another format) resends the
    same bytes under the same key, which the service answers from its record."""
    server = IdempotentServer(fail=1)
    buffer = Buffer(
        tmp_path, "http://altaviz.test", "key", client=httpx.Client(transport=httpx.MockTransport(server))
    )
    buffer.add([reading(k) for k in range(3)])
    assert buffer.forward_once() == 0.0
    first_body = server.records[server.calls[0][0]]
    buffer.client.close()
    monkeypatch.setattr(
        "altaviz.connectors.buffer.request_body",
        lambda ndjson: (
            gzip.compress(ndjson, mtime=0),
            {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
        ),
    )
    again = Buffer(
        tmp_path, "http://altaviz.test", "key", client=httpx.Client(transport=httpx.MockTransport(server))
    )
    assert again.forward_once() is None
    assert [code for _, code in server.calls] == [503, 200] and server.calls[0][0] == server.calls[1][0]
    assert server.records[server.calls[1][0]] == first_body and server.stored == [
        reading(k) for k in range(3)
    ]
    assert again.depth() == 0 and again.stats.batches_rekeyed == 0


def test_a_batch_an_older_connector_fixed_without_its_body_goes_under_a_new_key_if_the_old_one_is_taken(
    tmp_path: Path,
) -> None:
    """A buffer of a connector that kept no body with its batch: the body is built now; when the server
    holds the batch's key for the other form the older connector sent (409 idempotency_key_reused),
    the batch takes a new key and goes at once, and the readings behind it follow (never stuck)."""
    old = sqlite3.connect(tmp_path / "buffer.sqlite")
    old.executescript(
        "CREATE TABLE readings (seq INTEGER PRIMARY KEY AUTOINCREMENT, row TEXT NOT NULL,"
        " n INTEGER NOT NULL DEFAULT 1);"
        "CREATE TABLE batches (id INTEGER PRIMARY KEY, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,"
        " key TEXT NOT NULL);"
        "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);"
    )
    old.executemany("INSERT INTO readings (row) VALUES (?)", [(json.dumps(reading(k)),) for k in range(3)])
    old.execute("INSERT INTO batches (first_seq, last_seq, key) VALUES (1, 3, 'cx-older-1-3')")
    old.execute("INSERT INTO meta VALUES ('connector_id', 'older')")
    old.commit()
    old.close()
    server = IdempotentServer()
    server.records["cx-older-1-3"] = b"the older connector's gzip body, with a time in its header"
    buffer = Buffer(
        tmp_path,
        "http://altaviz.test",
        "key",
        batch_rows=3,
        client=httpx.Client(transport=httpx.MockTransport(server)),
    )
    buffer.add([reading(k) for k in range(3, 5)])
    assert buffer.forward_once() == 0.0  # refused for its key: a new one, and at once again
    assert buffer.stats.batches_rekeyed == 1 and "HTTP 409" in (buffer.stats.last_error or "")
    while buffer.depth():
        assert buffer.forward_once() is None
    assert [c for _, c in server.calls] == [409, 200, 200]
    assert [k for k, _ in server.calls][:2] == ["cx-older-1-3", "cx-older-1-3-again1"]
    assert server.stored == [reading(k) for k in range(5)]
    assert read_status(tmp_path)["forwarded_total"] == 5
