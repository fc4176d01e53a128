"""Local emulators of Salesforce, Metronome, Stripe and NetSuite, and the scenario generator.

The sandbox is tieout's embedded default target: `make demo`, the test suite and users rehearsing
their configuration all run against it. Each emulator lives in its own subpackage with a
`state` module (in-memory records, a Python API for seeding) and an `app` module (the vendor's
HTTP API as an ASGI app). `server` runs an app on loopback, `faults` injects failures.
"""
