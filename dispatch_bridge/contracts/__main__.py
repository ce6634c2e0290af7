"""``python -m dispatch_bridge.contracts`` regenerates the committed JSON Schemas."""

from dispatch_bridge.contracts.schemas import write_all

for path in write_all():
    print(path)
