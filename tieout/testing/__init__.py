"""Test helpers tieout ships for connector authors: the connector contract suite."""
