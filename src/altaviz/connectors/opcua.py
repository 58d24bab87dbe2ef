"""OPC UA connector: a subscription with one monitored item per node the mapping names ([opcua.nodes]),
not polling. Changes are gathered per device and written to the buffer once per publishing interval as one
reading (the latest value of each sensor that changed, at the newest source timestamp among them), so the
sensors of one sample arrive as one row. The client reconnects by itself (asyncua's supervisor, which also
re-creates the subscription); a first connection that fails is retried with back-off. Both back-offs
wait at most the mapping's [opcua] reconnect_max_ms (30 s by default) between attempts. Security: a policy
string as asyncua takes it ("Basic256Sha256,SignAndEncrypt,client-cert.pem,client-key.pem") and a
username/password."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime
from typing import Any

from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.common.subscription import DataChangeNotif

from altaviz.connectors.buffer import Buffer
from altaviz.connectors.mapping import Mapping
from altaviz.ingest.client import backoff

log = logging.getLogger("altaviz.connectors")


class OpcUaConnector:
    def __init__(
        self,
        mapping: Mapping,
        buffer: Buffer,
        endpoint: str,
        *,
        username: str | None = None,
        password: str | None = None,
        security: str | None = None,
    ) -> None:
        if not mapping.opcua_nodes:
            raise ValueError('the mapping file has no [opcua.nodes] ("<node id>" = "<device>|<metric>")')
        self.mapping = mapping
        self.buffer = buffer
        self.stats = buffer.stats
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.security = security
        self.interval = mapping.opcua_interval_ms / 1000.0
        self.reconnect_max = mapping.opcua_reconnect_max_ms / 1000.0
        self.pending: dict[str, tuple[datetime, dict[str, float]]] = {}
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    # the subscription handler (asyncua calls it for every change)
    def datachange_notification(self, node: Node, val: Any, data: DataChangeNotif) -> None:
        self.stats.add(messages_in=1)
        node_id = node.nodeid.to_string()
        try:
            device, metric = self.mapping.opcua_nodes[node_id]
            compressor = self.mapping.compressor(device)
            reading = self.mapping.reading(metric, val)
            if compressor is None or reading is None:
                self.stats.add(unmapped=1)
                return
            value = data.monitored_item.Value
            at = value.SourceTimestamp or value.ServerTimestamp or datetime.now(UTC)
            if at.tzinfo is None:
                at = at.replace(tzinfo=UTC)
            with self.lock:
                newest, values = self.pending.get(compressor, (at, {}))
                values[reading[0]] = reading[1]
                self.pending[compressor] = (max(newest, at), values)
        except Exception as error:
            self.stats.add(malformed=1)
            self.stats.error(f"{node_id}: {error.__class__.__name__}: {error}")
            log.warning("bad value from %s: %s", node_id, error)

    def flush(self) -> None:
        with self.lock:
            pending, self.pending = self.pending, {}
        rows = [
            {"compressor_id": compressor, "timestamp": at.isoformat().replace("+00:00", "Z"), **values}
            for compressor, (at, values) in pending.items()
        ]
        self.buffer.add(rows)

    async def _session(self) -> None:
        client = Client(self.endpoint)
        if self.username:
            client.set_user(self.username)
        if self.password:
            client.set_password(self.password)
        if self.security:
            await client.set_security_string(self.security)
        await client.connect(auto_reconnect=True, reconnect_max_delay=self.reconnect_max)
        try:
            subscription = await client.create_subscription(self.mapping.opcua_interval_ms, self)
            nodes = [client.get_node(node_id) for node_id in self.mapping.opcua_nodes]
            await subscription.subscribe_data_change(nodes)
            self.connected.set()
            log.info("subscribed to %d nodes of %s", len(nodes), self.endpoint)
            while not self._stop.is_set():
                await asyncio.sleep(self.interval)
                self.flush()
        finally:
            self.flush()
            await client.disconnect()

    async def _main(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                await self._session()
                return
            except Exception as error:
                attempt += 1
                self.connected.clear()
                self.stats.error(f"{self.endpoint}: {error.__class__.__name__}: {error}")
                log.warning("OPC UA connection to %s failed: %s", self.endpoint, error)
                await asyncio.sleep(backoff(attempt, cap=self.reconnect_max))

    def start(self) -> None:
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main()), name="altaviz-opcua", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
