"""Field connectors: MQTT (Sparkplug B, JSON) and OPC UA into POST /api/ingest/readings (issue 20)."""
