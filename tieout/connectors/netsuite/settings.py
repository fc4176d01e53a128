"""Settings of the NetSuite connector: where the account is, how it authenticates, and its limits."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator

from tieout.connectors.base import ConnectorSettings

TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"  # noqa: S105 (a URL path, not a secret)
RESTLET_PATH = "/app/site/hosting/restlet.nl"


class NetSuiteSettings(ConnectorSettings):
    """One NetSuite account.

    Authentication is OAuth 2.0 client credentials: NetSuite's machine-to-machine flow (a JWT
    assertion signed with the private key of a certificate uploaded to the integration record,
    `certificate_id` + `private_key_pem`) or, where the account allows it, HTTP Basic with the
    integration's `client_id` and `client_secret`. `concurrency_limit` is the account's limit on
    requests in flight, shared by every connector of this process for the same `account_id`.
    """

    account_id: str = Field(min_length=1)
    base_url: str = Field(min_length=1, description="e.g. https://1234567.suitetalk.api.netsuite.com")
    token_url: str | None = None
    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    certificate_id: str | None = None
    private_key_pem: SecretStr | None = None
    jwt_algorithm: Literal[
        "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"
    ] = "PS256"
    scopes: tuple[str, ...] = ("rest_webservices",)
    auth_method: Literal["jwt", "basic"] | None = None
    ca_bundle: str | None = None
    account_timezone: str = "UTC"
    concurrency_limit: int = Field(default=5, ge=1)
    page_size: int = Field(default=1000, ge=1, le=1000)
    timeout_seconds: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    backoff_base_seconds: float = Field(default=0.5, ge=0)
    backoff_max_seconds: float = Field(default=60.0, gt=0)
    token_refresh_margin_seconds: int = Field(default=60, ge=0)
    assertion_lifetime_seconds: int = Field(default=300, ge=30, le=3600)
    restlet_url: str | None = None
    """The account's RESTlet endpoint (https://{account}.restlets.api.netsuite.com/app/site/hosting/restlet.nl)."""
    void_script_id: str = "customscript_tieout_void"
    void_deployment_id: str = "customdeploy_tieout_void"
    """The RESTlet that voids a transaction (`N/transaction` void): REST record services cannot void."""

    @field_validator("account_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _credentials(self) -> NetSuiteSettings:
        method = self.method
        if method == "jwt" and (self.certificate_id is None or self.private_key_pem is None):
            raise ValueError("JWT authentication needs certificate_id and private_key_pem")
        if method == "basic" and self.client_secret is None:
            raise ValueError("basic authentication needs client_secret")
        return self

    @property
    def method(self) -> Literal["jwt", "basic"]:
        if self.auth_method is not None:
            return self.auth_method
        return "jwt" if self.certificate_id is not None or self.private_key_pem is not None else "basic"

    @property
    def resolved_token_url(self) -> str:
        return self.token_url or self.base_url.rstrip("/") + TOKEN_PATH

    @property
    def resolved_restlet_url(self) -> str:
        return self.restlet_url or self.base_url.rstrip("/") + RESTLET_PATH

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.account_timezone)
