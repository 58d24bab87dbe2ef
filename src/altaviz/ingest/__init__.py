"""Readings in: the landing format, the row checks and the atomic landing write (issue 16, SPEC §8).

Below both api/ and pipeline/: the API, the upload page and the CLI judge and write through this
package; the pipeline stays the only reader of landing files. Nothing here imports the pipeline.
"""
