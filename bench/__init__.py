"""Benchmarks for StreamerBrainz: ``python -m bench`` prints a table.

See ``bench/run.py`` for what is measured and against which floor.
"""
