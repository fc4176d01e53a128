"""Flows: what tieout writes where, in sync mode, and the ledger-backed pusher every flow uses.

A flow reads canonical records from the store, decides which twins are missing or out of date
in a target system, and hands `PushIntent`s to the `Pusher`. In observe mode no flow runs.
"""
