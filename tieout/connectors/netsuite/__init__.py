"""NetSuite connector (SuiteTalk REST: OAuth 2.0 M2M, SuiteQL pulls, record-service upserts by externalId).

Modules: `settings` (account, credentials, limits), `auth` (token source), `limiter` (the account's
shared concurrency limit), `suiteql` (quoting and key-set paged queries), `queries` (each stream's
SuiteQL), `push` (upsert rules), `connector` (the `Connector`).
"""

from __future__ import annotations

from tieout.connectors.netsuite.connector import NetSuiteConnector
from tieout.connectors.netsuite.settings import NetSuiteSettings

__all__ = ["NetSuiteConnector", "NetSuiteSettings"]
