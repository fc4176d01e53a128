"""Flows: what tieout writes where, in sync mode, and the ledger-backed pusher every flow uses.

A flow reads canonical records from the store, decides which twins are missing or out of date
in a target system, and hands `PushIntent`s to the `Pusher`. In observe mode no flow runs.
"""

# The flow definitions first: `definitions` appends the flows of `more`, which builds on its types,
# so importing either module alone must still load them in that order.
from tieout.flows import definitions as definitions
