"""dispatch-bridge: gets the right responder to a person in a behavioral-health crisis."""

__version__ = "0.1.0"
