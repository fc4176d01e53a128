"""Describe results: the global object list, each object's describe (fields, types, external ids) and basic info."""

from __future__ import annotations

from typing import Any

from .schema import OBJECTS, FieldDef, ObjectDef
from .state import API_VERSION

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "textarea": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "url": "xsd:string",
    "picklist": "xsd:string",
    "currency": "xsd:double",
    "double": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "boolean": "xsd:boolean",
}
_CHILD_RELATIONSHIPS = {
    "Account": [
        ("Contact", "AccountId", "Contacts"),
        ("Opportunity", "AccountId", "Opportunities"),
        ("Contract", "AccountId", "Contracts"),
        ("Order", "AccountId", "Orders"),
        ("Account", "ParentId", "ChildAccounts"),
    ],
    "Opportunity": [("OpportunityLineItem", "OpportunityId", "OpportunityLineItems")],
    "Order": [("OrderItem", "OrderId", "OrderItems")],
    "Contract": [("Order", "ContractId", "Orders")],
    "Product2": [("PricebookEntry", "Product2Id", "PricebookEntries")],
    "Pricebook2": [("PricebookEntry", "Pricebook2Id", "PricebookEntries")],
}


def _urls(obj: ObjectDef) -> dict[str, str]:
    base = f"/services/data/v{API_VERSION}/sobjects/{obj.name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def global_entry(obj: ObjectDef) -> dict[str, Any]:
    return {
        "activateable": False,
        "associateEntityType": None,
        "associateParentEntity": None,
        "createable": True,
        "custom": False,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": True,
        "deprecatedAndHidden": False,
        "feedEnabled": False,
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": obj.key_prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": True,
        "mergeable": obj.name in ("Account", "Contact"),
        "mruEnabled": True,
        "name": obj.name,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": True,
        "triggerable": True,
        "undeletable": True,
        "updateable": True,
        "urls": _urls(obj),
    }


def describe_global() -> dict[str, Any]:
    return {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [global_entry(o) for o in OBJECTS.values()]}


def describe_field(field: FieldDef) -> dict[str, Any]:
    numeric = field.type in ("currency", "double", "percent")
    text_length = field.length if field.type not in ("id", "reference") or field.length else 18
    is_text = field.type in ("string", "textarea", "email", "phone", "url", "picklist", "id", "reference")
    return {
        "aggregatable": field.type != "textarea",
        "aiPredictionField": False,
        "autoNumber": field.auto_number,
        "byteLength": text_length * 3 if is_text else 0,
        "calculated": False,
        "calculatedFormula": None,
        "cascadeDelete": False,
        "caseSensitive": False,
        "compoundFieldName": None,
        "controllerName": None,
        "createable": field.createable,
        "custom": field.custom,
        "defaultValueFormula": None,
        "defaultedOnCreate": field.default is not None or not field.createable,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": 9 if field.type == "int" else 0,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": field.external_id,
        "extraTypeInfo": None,
        "filterable": field.type != "textarea",
        "filteredLookupInfo": None,
        "groupable": field.type not in ("textarea", "currency", "double", "percent", "datetime"),
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": field.type == "id" or field.external_id or field.auto_number,
        "inlineHelpText": None,
        "label": field.display_label,
        "length": text_length if is_text else 0,
        "mask": None,
        "maskType": None,
        "name": field.name,
        "nameField": field.name_field,
        "namePointing": False,
        "nillable": not field.required and field.type not in ("id", "boolean") and field.createable,
        "permissionable": field.custom or (field.createable and not field.required),
        "picklistValues": [
            {
                "active": True,
                "defaultValue": value == field.default,
                "label": value,
                "validFor": None,
                "value": value,
            }
            for value in field.picklist
        ],
        "polymorphicForeignKey": False,
        "precision": 18 if numeric else 0,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": [field.reference_to] if field.reference_to else [],
        "relationshipName": field.relationship_name,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": field.restricted,
        "scale": 2 if numeric else 0,
        "searchPrefilterable": field.type == "reference",
        "soapType": _SOAP_TYPES[field.type],
        "sortable": field.type != "textarea",
        "type": field.type,
        "unique": field.unique,
        "updateable": field.updateable,
        "writeRequiresMasterRead": False,
    }


def describe_object(obj: ObjectDef) -> dict[str, Any]:
    children = [
        {
            "cascadeDelete": child in ("OpportunityLineItem", "OrderItem", "Contact", "Opportunity"),
            "childSObject": child,
            "deprecatedAndHidden": False,
            "field": field,
            "junctionIdListNames": [],
            "junctionReferenceTo": [],
            "relationshipName": name,
            "restrictedDelete": False,
        }
        for child, field, name in _CHILD_RELATIONSHIPS.get(obj.name, [])
    ]
    return {
        **global_entry(obj),
        "actionOverrides": [],
        "childRelationships": children,
        "compactLayoutable": True,
        "defaultImplementation": None,
        "extendedBy": None,
        "extendsInterfaces": None,
        "fields": [describe_field(f) for f in obj.fields],
        "implementedBy": None,
        "implementsInterfaces": None,
        "listviewable": None,
        "lookupLayoutable": None,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "recordTypeInfos": [],
        "searchLayoutable": True,
        "sobjectDescribeOption": "FULL",
        "supportedScopes": [{"label": "All records", "name": "everything"}],
        "urls": {
            **_urls(obj),
            "quickActions": f"/services/data/v{API_VERSION}/sobjects/{obj.name}/quickActions",
        },
    }
