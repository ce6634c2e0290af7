"""The one compiled part: the decoder's safety scan (dispatch_bridge/contracts/_scan.c). Everything else is in
pyproject.toml. ``optional``: where no C compiler is at hand the package installs without it and uses the same
scan in pure Python (dispatch_bridge.contracts.structs), slower by about 1.2 us per event."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("dispatch_bridge.contracts._scan", ["dispatch_bridge/contracts/_scan.c"], optional=True)])
