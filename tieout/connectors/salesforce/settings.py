"""Settings of the Salesforce connector: where the org is, how to reach it, and how hard to use it."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from tieout.connectors.base import ConnectorSettings

from .soql import check_field_name


class SalesforceSettings(ConnectorSettings):
    """One org, reached with an OAuth access token (session id) on its instance URL.

    - `page_size`: the REST query batch size (`Sforce-Query-Options: batchSize`, 200..2000);
      None keeps each stream's own (2,000 for both; line items are read apart from the pages).
    - `bulk_threshold`: a backfill (no `since`) whose `COUNT()` exceeds this runs as a Bulk
      API 2.0 query job instead of REST paging; None never uses Bulk (and skips the count).
    - `api_reserve`: calls of the org's daily API allocation left untouched; the run's call
      budget shrinks to what `Sforce-Limit-Info` says is left minus this.
    - `filters`: per stream, extra `field = value` conditions (values are escaped; field names
      must be plain API names). A record that stops matching simply stops coming.
    - `extra_fields`: per stream, more fields to select (say an org's own custom id fields,
      named to the mappers through `custom_fields.salesforce`).
    - `upsert_field`: the Account external-id field that pushes without an `Id` upsert on.
    """

    instance_url: str
    session_id: SecretStr
    api_version: str = "59.0"
    ca_bundle: str | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    backoff_base_seconds: float = Field(default=0.5, ge=0)
    backoff_max_seconds: float = Field(default=60.0, ge=0)
    page_size: int | None = Field(default=None, ge=200, le=2000)
    bulk_threshold: int | None = Field(default=50_000, ge=0)
    bulk_results_page_size: int = Field(default=50_000, ge=1)
    bulk_poll_seconds: float = Field(default=2.0, ge=0)
    bulk_max_wait_seconds: float = Field(default=3600.0, gt=0)
    api_reserve: int = Field(default=1000, ge=0)
    filters: dict[str, dict[str, str | int | bool]] = Field(default_factory=dict)
    extra_fields: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    upsert_field: str = "External_Id__c"

    @field_validator("filters")
    @classmethod
    def _plain_field_names(
        cls, filters: dict[str, dict[str, str | int | bool]]
    ) -> dict[str, dict[str, str | int | bool]]:
        for conditions in filters.values():
            for name in conditions:
                check_field_name(name)
        return filters

    @field_validator("extra_fields")
    @classmethod
    def _plain_extra_fields(cls, extra: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for names in extra.values():
            for name in names:
                check_field_name(name)
        return extra

    @field_validator("upsert_field")
    @classmethod
    def _plain_upsert_field(cls, name: str) -> str:
        return check_field_name(name)
