"""``$metadata``: an OData v4 CSDL (EDMX) document rendered from entity-set declarations."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sandbox.simulators.odata.values import PRIMITIVES


@dataclass(frozen=True)
class NavigationProperty:
    """A navigation from one entity type to another; ``constraints`` pairs (own property, target property)."""

    name: str
    target: str
    collection: bool
    partner: str | None = None
    constraints: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class EntitySet:
    """One entity set and its entity type, for ``edmx``; ``properties`` maps name → Edm or enum type."""

    name: str
    entity_type: str
    keys: tuple[str, ...]
    properties: Mapping[str, str]
    navigation: tuple[NavigationProperty, ...] = ()


@dataclass(frozen=True)
class Action:
    """An action, bound to an entity type (``binding``) or unbound, with ``parameters`` (name, type)."""

    name: str
    binding: str | None = None
    parameters: tuple[tuple[str, str], ...] = ()
    returns: str | None = None


def edmx(namespace: str, entity_sets: Sequence[EntitySet], *, enums: Mapping[str, Mapping[str, int]] | None = None,
         actions: Sequence[Action] = (), container: str = "Resources") -> str:
    """An OData v4 CSDL (EDMX) document describing the sets, their keys, property types and actions.

    Enum and entity types live in ``namespace``; property types given as bare enum names are qualified.
    """
    edmx_ns = "http://docs.oasis-open.org/odata/ns/edmx"
    edm_ns = "http://docs.oasis-open.org/odata/ns/edm"
    root = ET.Element("edmx:Edmx", {"Version": "4.0", "xmlns:edmx": edmx_ns})
    services = ET.SubElement(root, "edmx:DataServices")
    schema = ET.SubElement(services, "Schema", {"Namespace": namespace, "xmlns": edm_ns})
    enums = enums or {}

    def qualified(type_name: str) -> str:
        if type_name in PRIMITIVES or "." in type_name:
            return type_name
        return f"{namespace}.{type_name}"

    for entity_set in entity_sets:
        entity = ET.SubElement(schema, "EntityType", {"Name": entity_set.entity_type})
        key = ET.SubElement(entity, "Key")
        for name in entity_set.keys:
            ET.SubElement(key, "PropertyRef", {"Name": name})
        for name, type_name in entity_set.properties.items():
            attributes = {"Name": name, "Type": qualified(type_name)}
            if name in entity_set.keys:
                attributes["Nullable"] = "false"
            if type_name == "Edm.Decimal":
                attributes.update({"Precision": "32", "Scale": "16"})
            ET.SubElement(entity, "Property", attributes)
        for navigation in entity_set.navigation:
            target = qualified(navigation.target)
            attributes = {"Name": navigation.name, "Type": f"Collection({target})" if navigation.collection else target}
            if navigation.partner:
                attributes["Partner"] = navigation.partner
            element = ET.SubElement(entity, "NavigationProperty", attributes)
            for own, referenced in navigation.constraints:
                ET.SubElement(element, "ReferentialConstraint", {"Property": own, "ReferencedProperty": referenced})
    for enum_name, members in enums.items():
        enum = ET.SubElement(schema, "EnumType", {"Name": enum_name})
        for member, value in members.items():
            ET.SubElement(enum, "Member", {"Name": member, "Value": str(value)})
    for action in actions:
        element = ET.SubElement(schema, "Action", {"Name": action.name, "IsBound": str(action.binding is not None)
                                                   .lower()})
        if action.binding is not None:
            ET.SubElement(element, "Parameter", {"Name": "_this", "Type": qualified(action.binding)})
        for name, type_name in action.parameters:
            ET.SubElement(element, "Parameter", {"Name": name, "Type": qualified(type_name)})
        if action.returns:
            ET.SubElement(element, "ReturnType", {"Type": qualified(action.returns)})
    box = ET.SubElement(schema, "EntityContainer", {"Name": container})
    for entity_set in entity_sets:
        element = ET.SubElement(box, "EntitySet", {"Name": entity_set.name,
                                                   "EntityType": qualified(entity_set.entity_type)})
        for navigation in entity_set.navigation:
            target_set = next((s.name for s in entity_sets if s.entity_type == navigation.target), None)
            if target_set:
                ET.SubElement(element, "NavigationPropertyBinding", {"Path": navigation.name, "Target": target_set})
    return '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="unicode")
