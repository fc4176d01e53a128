"""Reconciliation: rules that compare the systems' canonical records, and the exception queue."""
