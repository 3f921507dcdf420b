"""Pure parsers for /proc and /sys files: text in, frozen typed records out, no I/O.

Each module parses one kind of file and names it in its docstring. Units are converted here,
once, with named constants (jiffies to seconds, kB to bytes, ...); fields carry the unit.
"""
