"""The Salesforce connector (simple-salesforce, REST API v59.0, Bulk API 2.0 for backfills).

Streams: `accounts` (Account -> Customer; pushable) and `opportunities` (Opportunity with its line
items -> Contract). Modules, one job each: `settings` (typed settings), `soql` (query text with
escaped values), `client` (the SDK with retries, call budget and API allocation), `errors`
(exception translation), `bulk` (Bulk API 2.0 backfills in cursor order), `writes` (upserts and
sObject Collections), `connector` (the Connector itself).
"""

from __future__ import annotations

from .connector import SalesforceConnector
from .settings import SalesforceSettings

__all__ = ["SalesforceConnector", "SalesforceSettings"]
