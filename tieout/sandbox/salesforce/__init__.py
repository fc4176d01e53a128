"""Emulator of the Salesforce REST API, version 59.0 (Winter '24), for simple-salesforce and tieout.

Serves a multi-currency org with Account, Contact, Opportunity, OpportunityLineItem, Product2,
Pricebook2, PricebookEntry, Contract, Order and OrderItem: describe, record CRUD, upsert by external
id, sObject Collections, SOQL `query`/`queryAll` with cursor paging, `updated`/`deleted`,
`/limits` with the daily API allocation, and Bulk API 2.0 query jobs. Must be served over TLS,
since simple-salesforce only builds https URLs.
"""

from __future__ import annotations

from .app import build_app, client_settings, render_fault
from .state import API_VERSION, SalesforceState

__all__ = ["API_VERSION", "SalesforceState", "build_app", "client_settings", "render_fault"]
