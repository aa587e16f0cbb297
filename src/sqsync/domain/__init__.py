"""The warehouse's own vocabulary: plain records, statuses and problem codes.

Everything here is plain values (dataclasses, strings, numbers), with no I/O and no
dependency on Squarespace's API models or the store, so the store, the jobs and the
command line can all share it (see ``tests/test_layering.py`` for the import rule).
"""
