"""What the fleet looks like in the operational database: stations, compressors, readings, quality."""
