"""Benchmarks for StreamerBrainz: ``python -m bench`` prints a table.

See ``bench/run.py`` for the list of measurements (one module each) and
each module's docstring for what it measures and against which floor.
"""
