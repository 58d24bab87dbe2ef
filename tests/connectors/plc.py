"""A station PLC for the OPC UA test: an asyncua server exposing COMP-001/COMP-002 Suction (kPa) and
DischargeTemp (°C) as variables. Run as `python -m tests.connectors.plc PORT`; each stdin line
{"values": {"COMP-001.Suction": 400.0, ...}, "at": "<ISO time>"} writes the values at that source
time and answers "ok" on stdout. A process of its own, so that the test can power-cycle it (SIGKILL)."""

import asyncio
import json
import sys
from typing import Any

from asyncua import ua
from asyncua.server.server import Server

UNITS = ("COMP-001", "COMP-002")


async def main(port: int) -> None:
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/station/")
    ns = await server.register_namespace("urn:station-7")
    variables: dict[str, Any] = {}
    for unit in UNITS:
        folder = await server.nodes.objects.add_folder(ua.NodeId(ua.String(unit), ua.Int16(ns)), unit)
        for tag in ("Suction", "DischargeTemp"):
            variables[f"{unit}.{tag}"] = await folder.add_variable(
                ua.NodeId(ua.String(f"{unit}.{tag}"), ua.Int16(ns)), tag, 0.0
            )
    await server.start()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        command = json.loads(line)
        at = ua.DateTime.fromisoformat(command["at"])
        for name, value in command["values"].items():
            await variables[name].write_value(
                ua.DataValue(ua.Variant(value, ua.VariantType.Double), SourceTimestamp=at, ServerTimestamp=at)
            )
        print("ok", flush=True)
    await server.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
