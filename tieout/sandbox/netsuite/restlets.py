"""The RESTlet an account deploys so tieout can void transactions, which REST record services cannot.

NetSuite voids a transaction only through the UI or SuiteScript (`N/transaction`'s
`transaction.void`); an integration deploys a small RESTlet that calls it. The emulator runs that
script at `POST /app/site/hosting/restlet.nl?script=customscript_tieout_void&deploy=customdeploy_tieout_void`
with the body `{"recordtype": "invoice", "id": "123"}`, under the same OAuth 2.0 bearer token as
the REST services, and answers `{"id", "recordtype", "voided": true}`. Errors come back as a
RESTlet's do: `{"error": {"code", "message"}}` with the HTTP status of the failure.
"""

from __future__ import annotations

from typing import Any

from tieout.sandbox.netsuite import records
from tieout.sandbox.netsuite.errors import NetSuiteError, invalid_content
from tieout.sandbox.netsuite.state import NetSuiteState

RESTLET_PATH = "/app/site/hosting/restlet.nl"
VOID_SCRIPT = "customscript_tieout_void"
VOID_DEPLOYMENT = "customdeploy_tieout_void"


def restlet_error(exc: NetSuiteError) -> dict[str, Any]:
    return {"error": {"code": exc.code, "message": exc.detail}}


def run(state: NetSuiteState, script: str | None, deployment: str | None, body: Any) -> dict[str, Any]:
    """Run the deployed script `script`/`deployment` on `body`."""
    if (script, deployment) != (VOID_SCRIPT, VOID_DEPLOYMENT):
        raise NetSuiteError(
            400, "INVALID_SCRIPT_DEPLOYMENT_ID", f"No RESTlet deployment {deployment!r} of script {script!r}."
        )
    if not isinstance(body, dict):
        raise invalid_content("The RESTlet expects a JSON object.")
    record = records.lookup(str(body.get("recordtype") or ""))
    record_id = str(body.get("id") or "")
    if record.txn_type is None:
        raise invalid_content(f"Records of type {record.name} cannot be voided.")
    if not record_id.isdigit():
        raise invalid_content("id must be the internal id of the transaction.")
    voided = state.void_transaction(int(record_id), record.txn_type)
    return {"id": voided["id"], "recordtype": record.name, "voided": True}
