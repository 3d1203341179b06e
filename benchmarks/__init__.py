"""The performance suite (issue 7): every figure of the app against a bare baseline, side by side.

Run it with ``python -m benchmarks`` (``--quick`` for tiny sizes, ``--only NAME`` for one
figure); it prints the table and writes it to ``docs/performance.md``.
"""
