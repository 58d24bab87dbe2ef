"""Each organization's fleet registry (stations, compressor models, compressors) and its thresholds."""
