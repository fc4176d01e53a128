"""The sObject definitions the emulator serves: objects, key prefixes, fields and their types.

Field names follow the Salesforce v59 standard objects (and the spec in specs/salesforce), plus the
org's custom fields that hold cross-system ids and AR figures. The org is multi-currency, so every
object carries `CurrencyIsoCode`. Lookups by name are case-insensitive, as in SOQL and the REST API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FieldType = Literal[
    "id",
    "string",
    "textarea",
    "email",
    "phone",
    "url",
    "picklist",
    "currency",
    "double",
    "percent",
    "int",
    "date",
    "datetime",
    "boolean",
    "reference",
]
NUMERIC_TYPES = frozenset({"currency", "double", "percent", "int"})
TEXT_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "picklist"})

USER_ID = "005Hs00000IntgUSRA"  # the integration user every record is owned and modified by
CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF", "SEK")
ORG_CURRENCY = "USD"

# StageName -> (probability, IsClosed, IsWon, ForecastCategoryName), the default sales process.
OPPORTUNITY_STAGES: dict[str, tuple[int, bool, bool, str]] = {
    "Prospecting": (10, False, False, "Pipeline"),
    "Qualification": (10, False, False, "Pipeline"),
    "Needs Analysis": (20, False, False, "Pipeline"),
    "Value Proposition": (50, False, False, "Pipeline"),
    "Id. Decision Makers": (60, False, False, "Pipeline"),
    "Perception Analysis": (70, False, False, "Pipeline"),
    "Proposal/Price Quote": (75, False, False, "Pipeline"),
    "Negotiation/Review": (90, False, False, "Commit"),
    "Closed Won": (100, True, True, "Closed"),
    "Closed Lost": (0, True, False, "Omitted"),
}
CONTRACT_STATUSES = {"Draft": "Draft", "In Approval Process": "InApproval", "Activated": "Activated"}
ORDER_STATUSES = {"Draft": "Draft", "Activated": "Activated"}


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: FieldType
    label: str = ""
    reference_to: str | None = None
    relationship_name: str | None = None
    external_id: bool = False
    unique: bool = False
    createable: bool = True
    updateable: bool = True
    required: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    length: int = 0
    custom: bool = False
    name_field: bool = False
    auto_number: bool = False
    default: object = None

    @property
    def display_label(self) -> str:
        return self.label or self.name.removesuffix("__c").removesuffix("Id").replace("_", " ")


@dataclass
class ObjectDef:
    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: list[FieldDef]
    by_lower: dict[str, FieldDef] = field(default_factory=dict)
    relationships: dict[str, FieldDef] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_lower = {f.name.lower(): f for f in self.fields}
        self.relationships = {
            f.relationship_name.lower(): f for f in self.fields if f.relationship_name is not None
        }

    def field(self, name: str) -> FieldDef | None:
        return self.by_lower.get(name.lower())

    @property
    def external_id_fields(self) -> list[FieldDef]:
        return [f for f in self.fields if f.external_id]


def _text(name: str, length: int = 255, **kwargs: object) -> FieldDef:
    return FieldDef(name, "string", length=length, **kwargs)  # type: ignore[arg-type]


def _ext(name: str) -> FieldDef:
    return FieldDef(name, "string", length=255, external_id=True, unique=True, custom=True)


def _ref(name: str, target: str, **kwargs: object) -> FieldDef:
    relationship = name[:-2] if name.endswith("Id") else name
    return FieldDef(name, "reference", reference_to=target, relationship_name=relationship, **kwargs)  # type: ignore[arg-type]


def _read_only(name: str, type_: FieldType, **kwargs: object) -> FieldDef:
    return FieldDef(name, type_, createable=False, updateable=False, **kwargs)  # type: ignore[arg-type]


def _system_fields(prefix_fields: list[FieldDef], *, owned: bool = True) -> list[FieldDef]:
    head = [FieldDef("Id", "id", label="Record ID", createable=False, updateable=False, length=18)]
    tail = [
        _read_only("IsDeleted", "boolean", label="Deleted"),
        FieldDef(
            "CurrencyIsoCode",
            "picklist",
            label="Currency ISO Code",
            picklist=CURRENCIES,
            restricted=True,
            length=3,
            default=ORG_CURRENCY,
        ),
        _read_only("CreatedDate", "datetime"),
        _read_only("CreatedById", "reference", reference_to="User", length=18),
        _read_only("LastModifiedDate", "datetime"),
        _read_only("LastModifiedById", "reference", reference_to="User", length=18),
        _read_only("SystemModstamp", "datetime", label="System Modstamp"),
    ]
    owner = [FieldDef("OwnerId", "reference", reference_to="User", length=18, default=USER_ID)]
    return head + prefix_fields + (owner if owned else []) + tail


def _address(prefix: str) -> list[FieldDef]:
    return [
        FieldDef(f"{prefix}Street", "textarea", length=255),
        _text(f"{prefix}City", 40),
        _text(f"{prefix}State", 80),
        _text(f"{prefix}PostalCode", 20),
        _text(f"{prefix}Country", 80),
    ]


def _build() -> dict[str, ObjectDef]:
    account = ObjectDef(
        "Account",
        "Account",
        "Accounts",
        "001",
        _system_fields(
            [
                _text("Name", required=True, name_field=True, label="Account Name"),
                _text("AccountNumber", 40),
                FieldDef("Type", "picklist", picklist=("Prospect", "Customer - Direct", "Partner", "Other")),
                _ref("ParentId", "Account", label="Parent Account ID"),
                *_address("Billing"),
                *_address("Shipping"),
                FieldDef("Phone", "phone", length=40),
                FieldDef("Website", "url", length=255),
                FieldDef("Industry", "picklist", picklist=("Technology", "Finance", "Retail", "Healthcare")),
                FieldDef("AnnualRevenue", "currency"),
                FieldDef("NumberOfEmployees", "int"),
                FieldDef("Description", "textarea", length=32000),
                _ext("NetSuite_Id__c"),
                _ext("Metronome_Customer_Id__c"),
                _ext("Stripe_Customer_Id__c"),
                _ext("Billing_Customer_Id__c"),
                _ext("External_Id__c"),
                FieldDef("AR_Balance__c", "currency", custom=True, label="AR Balance"),
                FieldDef("Days_Past_Due__c", "double", custom=True, label="Days Past Due"),
                FieldDef("Subsidiary__c", "string", length=255, custom=True),
            ]
        ),
    )
    contact = ObjectDef(
        "Contact",
        "Contact",
        "Contacts",
        "003",
        _system_fields(
            [
                _ref("AccountId", "Account"),
                _text("FirstName", 40),
                _text("LastName", 80, required=True),
                _read_only("Name", "string", length=121, name_field=True, label="Full Name"),
                FieldDef("Email", "email", length=80),
                FieldDef("Phone", "phone", length=40),
                _text("Title", 128),
                *_address("Mailing"),
                _ext("External_Id__c"),
            ]
        ),
    )
    opportunity = ObjectDef(
        "Opportunity",
        "Opportunity",
        "Opportunities",
        "006",
        _system_fields(
            [
                _ref("AccountId", "Account"),
                _text("Name", 120, required=True, name_field=True),
                FieldDef(
                    "StageName",
                    "picklist",
                    picklist=tuple(OPPORTUNITY_STAGES),
                    restricted=True,
                    required=True,
                    label="Stage",
                ),
                FieldDef("Amount", "currency"),
                FieldDef("Probability", "percent"),
                FieldDef("CloseDate", "date", required=True),
                FieldDef("Type", "picklist", picklist=("New Business", "Existing Business", "Renewal")),
                _text("NextStep"),
                FieldDef("LeadSource", "picklist", picklist=("Web", "Partner", "Referral", "Other")),
                _read_only("IsClosed", "boolean", label="Closed"),
                _read_only("IsWon", "boolean", label="Won"),
                _read_only(
                    "ForecastCategoryName", "picklist", picklist=("Pipeline", "Commit", "Closed", "Omitted")
                ),
                _read_only("HasOpportunityLineItem", "boolean", label="Has Line Item"),
                _ref("Pricebook2Id", "Pricebook2", label="Price Book ID"),
                FieldDef("Description", "textarea", length=32000),
                _ext("Metronome_Contract_Id__c"),
                _ext("External_Id__c"),
            ]
        ),
    )
    line_item = ObjectDef(
        "OpportunityLineItem",
        "Opportunity Product",
        "Opportunity Product",
        "00k",
        _system_fields(
            [
                _ref("OpportunityId", "Opportunity", required=True, updateable=False),
                _ref("PricebookEntryId", "PricebookEntry", required=True, updateable=False),
                _ref("Product2Id", "Product2", createable=False, updateable=False),
                _read_only("ProductCode", "string", length=255),
                _read_only("Name", "string", length=376, name_field=True),
                FieldDef("Quantity", "double", required=True),
                FieldDef("UnitPrice", "currency", label="Sales Price"),
                _read_only("ListPrice", "currency"),
                FieldDef("TotalPrice", "currency"),
                FieldDef("Discount", "percent"),
                FieldDef("ServiceDate", "date"),
                _text("Description"),
                _ext("External_Id__c"),
            ],
            owned=False,
        ),
    )
    product = ObjectDef(
        "Product2",
        "Product",
        "Products",
        "01t",
        _system_fields(
            [
                _text("Name", required=True, name_field=True, label="Product Name"),
                _text("ProductCode"),
                FieldDef("Description", "textarea", length=4000),
                FieldDef("IsActive", "boolean", default=False, label="Active"),
                FieldDef("Family", "picklist", picklist=("Platform", "Usage", "Support", "Services")),
                FieldDef("ExternalId", "string", length=255, external_id=True, label="External ID"),
                _text("QuantityUnitOfMeasure"),
                _text("StockKeepingUnit", 180),
                _ext("Metronome_Product_Id__c"),
                _ext("NetSuite_Id__c"),
            ],
            owned=False,
        ),
    )
    pricebook = ObjectDef(
        "Pricebook2",
        "Price Book",
        "Price Books",
        "01s",
        _system_fields(
            [
                _text("Name", required=True, name_field=True, label="Price Book Name"),
                FieldDef("IsActive", "boolean", default=False, label="Active"),
                _read_only("IsStandard", "boolean", label="Is Standard Price Book"),
                _text("Description"),
            ],
            owned=False,
        ),
    )
    pricebook_entry = ObjectDef(
        "PricebookEntry",
        "Price Book Entry",
        "Price Book Entries",
        "01u",
        _system_fields(
            [
                _read_only("Name", "string", length=255, name_field=True, label="Product Name"),
                _ref("Pricebook2Id", "Pricebook2", required=True, updateable=False),
                _ref("Product2Id", "Product2", required=True, updateable=False),
                FieldDef("UnitPrice", "currency", required=True, label="List Price"),
                FieldDef("IsActive", "boolean", default=False, label="Active"),
                FieldDef("UseStandardPrice", "boolean", default=False),
                _read_only("ProductCode", "string", length=255),
            ],
            owned=False,
        ),
    )
    contract = ObjectDef(
        "Contract",
        "Contract",
        "Contracts",
        "800",
        _system_fields(
            [
                _ref("AccountId", "Account", required=True),
                _ref("Pricebook2Id", "Pricebook2", label="Price Book ID"),
                FieldDef("StartDate", "date", label="Contract Start Date"),
                FieldDef("ContractTerm", "int", label="Contract Term (months)"),
                _read_only("EndDate", "date", label="Contract End Date"),
                FieldDef(
                    "Status", "picklist", picklist=tuple(CONTRACT_STATUSES), restricted=True, default="Draft"
                ),
                _read_only("StatusCode", "picklist", picklist=tuple(CONTRACT_STATUSES.values())),
                _read_only("ContractNumber", "string", length=30, name_field=True, auto_number=True),
                _read_only("ActivatedDate", "datetime"),
                FieldDef("SpecialTerms", "textarea", length=4000),
                FieldDef("Description", "textarea", length=32000),
                *_address("Billing"),
                _ext("Metronome_Contract_Id__c"),
                _ext("External_Id__c"),
            ]
        ),
    )
    order = ObjectDef(
        "Order",
        "Order",
        "Orders",
        "801",
        _system_fields(
            [
                _ref("AccountId", "Account", required=True),
                _ref("ContractId", "Contract"),
                _ref("Pricebook2Id", "Pricebook2", label="Price Book ID"),
                FieldDef("EffectiveDate", "date", required=True, label="Order Start Date"),
                FieldDef("EndDate", "date", label="Order End Date"),
                FieldDef(
                    "Status", "picklist", picklist=tuple(ORDER_STATUSES), restricted=True, required=True
                ),
                _read_only("StatusCode", "picklist", picklist=tuple(ORDER_STATUSES.values())),
                _read_only("OrderNumber", "string", length=30, name_field=True, auto_number=True),
                _read_only("TotalAmount", "currency", label="Order Amount"),
                FieldDef("Type", "picklist", picklist=("New", "Renewal", "Amendment")),
                _text("Name", 80),
                _text("PoNumber", 80),
                FieldDef("Description", "textarea", length=32000),
                _read_only("ActivatedDate", "datetime"),
                _ext("Metronome_Contract_Id__c"),
                _ext("External_Id__c"),
            ]
        ),
    )
    order_item = ObjectDef(
        "OrderItem",
        "Order Product",
        "Order Products",
        "802",
        _system_fields(
            [
                _ref("OrderId", "Order", required=True, updateable=False),
                _ref("PricebookEntryId", "PricebookEntry", required=True, updateable=False),
                _ref("Product2Id", "Product2", createable=False, updateable=False),
                FieldDef("Quantity", "double", required=True),
                FieldDef("UnitPrice", "currency", required=True),
                _read_only("ListPrice", "currency"),
                _read_only("TotalPrice", "currency"),
                FieldDef("ServiceDate", "date", label="Start Date"),
                FieldDef("EndDate", "date"),
                _text("Description"),
                _read_only("OrderItemNumber", "string", length=10, name_field=True, auto_number=True),
                _ext("External_Id__c"),
            ],
            owned=False,
        ),
    )
    objects = [
        account,
        contact,
        opportunity,
        line_item,
        product,
        pricebook,
        pricebook_entry,
        contract,
        order,
        order_item,
    ]
    return {o.name.lower(): o for o in objects}


OBJECTS: dict[str, ObjectDef] = _build()
BY_PREFIX: dict[str, ObjectDef] = {o.key_prefix: o for o in OBJECTS.values()}


def object_named(name: str) -> ObjectDef | None:
    return OBJECTS.get(name.lower())
