"""The compiled parts: two hot loops in C, each with the same code in pure Python beside it. Everything else is in
pyproject.toml. ``optional``: where no C compiler is at hand the package installs without them and uses the
pure-Python code, with the same answers (tests/test_compiled.py holds them to it):

- ``dispatch_bridge.contracts._scan``: the decoder's safety scans before msgspec (about 1.2 us per event);
- ``dispatch_bridge.triage._text``: normalising a narrative's new text for the keyword automaton (about 4 us per
  1 KB of text read).
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("dispatch_bridge.contracts._scan", ["dispatch_bridge/contracts/_scan.c"], optional=True),
    Extension("dispatch_bridge.triage._text", ["dispatch_bridge/triage/_text.c"], optional=True),
])
