#!/usr/bin/env python3
# Regenerate the vendored schema (dev-only; the wheel is never a dependency of spawn-tf):
#
#   pip download --no-deps -d /tmp/cdktn cdktn-provider-aws==25.8.1
#   python3 scripts/extract_provider_schema.py /tmp/cdktn/cdktn_provider_aws-25.8.1-py3-none-any.whl \
#       -o tests/data/aws_provider_schema.json
#
# With no --resources / --data-sources the types spawn-tf emits (DEFAULT_RESOURCES, DEFAULT_DATA_SOURCES) are
# extracted. The same input always gives byte-identical output.
"""Extract a reduced AWS provider schema from the jsii assembly of the ``cdktn-provider-aws`` package.

The PyPI package ``cdktn-provider-aws`` embeds an npm tarball ``cdktn_provider_aws/_jsii/provider-aws@X.jsii.tgz``.
Two of its members are read, with the standard library only (no Node, no Terraform, no network):

``package/.jsii`` (the jsii assembly, one JSON document) gives the structure:

* every resource class has base ``cdktn.TerraformResource`` (data sources: ``cdktn.TerraformDataSource``) and a
  docs summary linking ``registry.terraform.io/providers/hashicorp/aws/<version>/docs/resources/<x> aws_<x>``
  (data sources: ``/docs/data-sources/``), which names the Terraform type and the provider version;
* the ``config`` parameter of its initializer is a struct whose properties are the arguments; a property is
  required when it is not ``optional``; its Terraform (snake_case) name is the anchor of its docs link
  (``…/docs/resources/instance#max_price Instance#max_price``), since jsii names are camelCase and sometimes
  renamed (``get_password_data`` is ``fetchPasswordData``);
* a property typed as a struct is a block with at most one item (``"nesting": "single"``); an array of structs
  is a repeatable block.

``package/lib/<module>/index.js`` (the generated JavaScript of the same module) adds what the assembly lacks.
Each attribute getter is preceded by a comment ``// <snake_name> - computed: C, optional: O, required: R``:

* computed-only attributes (``arn``, ``aws_s3_objects.keys``, ``root_block_device.volume_id``, …) are the
  getters with ``computed: true, optional: false, required: false``; their exact snake_case name and type come
  from the getter body (``this.getStringAttribute('checksum_crc32c')``; a boolean getter is typed only
  ``IResolvable`` in the assembly, and camelCase cannot be turned back into ``crc32c`` reliably);
* sets: a getter ``cdktn.Fn.tolist(this.getListAttribute(…))`` reads a set of primitives, and a block list
  constructed as ``new XList(this, "name", true)`` wraps a set.

Each argument's snake_case name, and whether it is required, is cross-checked between the two members; a
mismatch stops the extraction.

Output (sorted keys, one-space indent, trailing newline)::

    {"provider": "hashicorp/aws", "provider_version": "6.69.1", "source_package": "cdktn-provider-aws 25.8.1",
     "generated_by": "scripts/extract_provider_schema.py", "resources": {TYPE: BLOCK}, "data_sources": {TYPE: BLOCK}}

    BLOCK = {"attributes": {NAME: {"type": TYPE_EXPR, "required": bool[, "computed": true][, "write_only": true]}},
             "blocks": {NAME: {"nesting": "single" | "list" | "set", "required": bool, "block": BLOCK}}}
    TYPE_EXPR = "string" | "number" | "bool" | "dynamic" | ["list" | "set" | "map", TYPE_EXPR]
              | ["object", {NAME: TYPE_EXPR}]

``"computed": true`` marks a computed-only attribute (it cannot be set, only referenced); ``"write_only": true`` an
argument the provider never stores or returns (``password_wo``; the generated getter says so). Arguments that are
optional *and* computed (``ami``, ``tags_all``, ``id``) are plain optional arguments here. ``"single"`` nesting is
a block with max_items = 1 (Terraform keeps it as a list or set of one). Plugin-Framework nested attributes, had
any selected type one, would appear as blocks: the assembly does not tell them apart, and Terraform JSON writes
both the same way. What the package carries nowhere: allowed values, deprecations, sensitivity, max_items > 1.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import tarfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENERATED_BY = "scripts/extract_provider_schema.py"

DEFAULT_RESOURCES = (
    "aws_instance",
    "aws_iam_role",
    "aws_iam_role_policy",
    "aws_iam_role_policy_attachment",
    "aws_iam_instance_profile",
    "aws_security_group",
    "aws_vpc_security_group_egress_rule",
    "aws_s3_object",
)
DEFAULT_DATA_SOURCES = (
    "aws_ssm_parameter",
    "aws_subnet",
    "aws_vpc",
    "aws_caller_identity",
    "aws_s3_objects",
    "aws_partition",
    "aws_region",
    "aws_ec2_instance_type_offerings",
    "aws_subnets",
)

ASSEMBLY_MEMBER = "package/.jsii"
BASE_CLASSES = {"resources": "cdktn.TerraformResource", "data-sources": "cdktn.TerraformDataSource"}
OUTPUT_SECTION = {"resources": "resources", "data-sources": "data_sources"}

# "Represents a {@link https://registry.terraform.io/providers/hashicorp/aws/6.69.1/docs/resources/instance aws_instance}."
TYPE_LINK = re.compile(
    r"registry\.terraform\.io/providers/(?P<provider>[\w-]+/[\w-]+)/(?P<version>[^/\s]+)"
    r"/docs/(?P<kind>resources|data-sources)/[a-z0-9_]+ (?P<type>[a-z0-9_]+)\}"
)
# "Docs at Terraform Registry: {@link https://…/docs/resources/instance#max_price Instance#max_price}."
ARGUMENT_ANCHOR = re.compile(r"/docs/(?:resources|data-sources)/[a-z0-9_]+#([a-z0-9_]+)[ }]")

JS_CLASS = re.compile(r"^class (\w+) extends [\w.]+ \{$", re.MULTILINE)
JS_GETTER = re.compile(
    r"// (?P<snake>[a-z0-9_]+) - computed: (?P<computed>true|false), optional: (?P<optional>true|false), "
    r"required: (?P<required>true|false)\n"
    r"(?:\s*_\w+(?: = (?P<init>new [^;\n]+))?;\n)?"
    r"(?:\s*/\*\*(?P<jsdoc>.*?)\*/\n)?"
    r"\s*get (?P<camel>\w+)\(\) \{\n\s*return (?P<body>[^\n]+);\n",
    re.DOTALL,
)
JS_NEW = re.compile(r'new (?P<cls>[\w.]+)\(this, "(?P<snake>[a-z0-9_]+)"(?:, (?P<is_set>true|false))?\)')
JS_ATTRIBUTE_READ = re.compile(
    r"^(?:cdktn\.Token\.as\w+\()?(?P<tolist>cdktn\.Fn\.tolist\()?this\.get(?P<kind>\w+)Attribute\('(?P<snake>[a-z0-9_]+)'\)\)?\)?$"
)
JS_DYNAMIC_READ = re.compile(r"^this\.interpolationForAttribute\('(?P<snake>[a-z0-9_]+)'\)$")
WRITE_ONLY_NOTE = "@deprecated Write-only:"
JS_FIELD_READ = re.compile(r"^this\._\w+$")

# this.get<Kind>Attribute('name') -> Terraform type
ATTRIBUTE_READ_TYPES: dict[str, Any] = {
    "String": "string",
    "Number": "number",
    "Boolean": "bool",
    "List": ["list", "string"],
    "NumberList": ["list", "number"],
    "StringMap": ["map", "string"],
    "NumberMap": ["map", "number"],
    "BooleanMap": ["map", "bool"],
    "AnyMap": ["map", "dynamic"],
}
# new cdktn.<Class>(this, "name"[, wrapsSet]) -> Terraform type (primitive collections the runtime library provides)
RUNTIME_COLLECTION_TYPES: dict[str, Any] = {
    "cdktn.StringMap": ["map", "string"],
    "cdktn.NumberMap": ["map", "number"],
    "cdktn.BooleanMap": ["map", "bool"],
    "cdktn.AnyMap": ["map", "dynamic"],
    "cdktn.StringMapList": ["list", ["map", "string"]],
    "cdktn.NumberMapList": ["list", ["map", "number"]],
    "cdktn.BooleanMapList": ["list", ["map", "bool"]],
    "cdktn.AnyMapList": ["list", ["map", "dynamic"]],
    "cdktn.StringListList": ["list", ["list", "string"]],
    "cdktn.NumberListList": ["list", ["list", "number"]],
    "cdktn.StringListMap": ["map", ["list", "string"]],
    "cdktn.NumberListMap": ["map", ["list", "number"]],
}
PRIMITIVE_TYPES = {"string": "string", "number": "number", "boolean": "bool", "any": "dynamic"}
RESOLVABLE = "cdktn.IResolvable"


class ExtractionError(Exception):
    """The package does not look the way this script expects; nothing is written."""


@dataclass(frozen=True)
class Getter:
    """One attribute getter of a generated JavaScript class, with the flags of its ``// name - computed: …`` comment."""

    snake: str
    camel: str
    computed: bool
    optional: bool
    required: bool
    body: str
    init: str | None
    write_only: bool

    @property
    def computed_only(self) -> bool:
        return self.computed and not self.optional and not self.required

    @property
    def wraps_set(self) -> bool:
        """Whether the getter reads a set (Terraform sets are exposed as lists through ``tolist``)."""
        if "cdktn.Fn.tolist(" in self.body:
            return True
        new = JS_NEW.search(self.init or "")
        return bool(new and new.group("is_set") == "true")


# --------------------------------------------------------------------------------------------- reading the package


def find_tarball(source: Path) -> tuple[Path, str | None]:
    """Return (file, member of a wheel or None) for a ``.jsii.tgz``, a package folder or a downloaded wheel."""
    if source.is_dir():
        candidates = sorted(source.glob("_jsii/*.jsii.tgz")) or sorted(source.glob("*/_jsii/*.jsii.tgz"))
        if len(candidates) != 1:
            raise ExtractionError(f"expected one _jsii/*.jsii.tgz under {source}, found {len(candidates)}")
        return candidates[0], None
    if source.name.endswith(".whl"):
        with zipfile.ZipFile(source) as wheel:
            members = sorted(n for n in wheel.namelist() if re.fullmatch(r"[^/]+/_jsii/[^/]+\.jsii\.tgz", n))
        if len(members) != 1:
            raise ExtractionError(f"expected one */_jsii/*.jsii.tgz in {source}, found {len(members)}")
        return source, members[0]
    if source.name.endswith(".jsii.tgz"):
        return source, None
    raise ExtractionError(f"{source}: give a *.jsii.tgz, the installed cdktn_provider_aws folder or the wheel")


def read_tarball_bytes(source: Path) -> bytes:
    path, wheel_member = find_tarball(source)
    if wheel_member is None:
        return path.read_bytes()
    with zipfile.ZipFile(path) as wheel:
        return wheel.read(wheel_member)


def iter_members(tarball: bytes, wanted: Iterable[str]) -> Iterator[tuple[str, bytes]]:
    """Stream the npm tarball once, yielding the named members; stops as soon as all of them were seen."""
    remaining = set(wanted)
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r|gz") as archive:
        for member in archive:
            if member.name in remaining:
                handle = archive.extractfile(member)
                if handle is None:
                    raise ExtractionError(f"{member.name} is not a regular file")
                yield member.name, handle.read()
                remaining.discard(member.name)
                if not remaining:
                    return
    if remaining:
        raise ExtractionError(f"missing from the tarball: {', '.join(sorted(remaining))}")


def parse_js_classes(source: str) -> dict[str, dict[str, Getter]]:
    """Class name -> {camelCase getter name -> Getter} for every class of one generated ``index.js``."""
    starts = [(m.start(), m.group(1)) for m in JS_CLASS.finditer(source)]
    classes: dict[str, dict[str, Getter]] = {}
    for index, (start, name) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(source)
        getters = {}
        for m in JS_GETTER.finditer(source, start, end):
            getters[m.group("camel")] = Getter(
                snake=m.group("snake"),
                camel=m.group("camel"),
                computed=m.group("computed") == "true",
                optional=m.group("optional") == "true",
                required=m.group("required") == "true",
                body=m.group("body"),
                init=m.group("init"),
                write_only=WRITE_ONLY_NOTE in (m.group("jsdoc") or ""),
            )
        classes[name] = getters
    return classes


# ------------------------------------------------------------------------------------------------ the extraction


class Extractor:
    """Turns jsii types (plus the getters of their generated JavaScript) into reduced schema blocks."""

    def __init__(self, assembly: dict[str, Any], js_modules: dict[str, dict[str, dict[str, Getter]]]) -> None:
        self.types: dict[str, Any] = assembly["types"]
        self.js_modules = js_modules  # "package/lib/instance/index.js" -> class name -> getters

    # -- lookups

    def js_getters(self, fqn: str) -> dict[str, Getter]:
        module = js_module_path(self.types[fqn])
        class_name = fqn.rsplit(".", 1)[-1]
        try:
            return self.js_modules[module][class_name]
        except KeyError:
            raise ExtractionError(f"class {class_name} not found in {module}") from None

    def getter_type(self, class_fqn: str, camel: str) -> dict[str, Any]:
        for prop in self.types[class_fqn].get("properties", []):
            if prop["name"] == camel and not prop.get("static"):
                return prop["type"]
        raise ExtractionError(f"{class_fqn} has no getter {camel}")

    def element_class(self, class_fqn: str, camel: str) -> str:
        """The output-reference class of a nested object: the getter's type, or what ``XList.get(i)`` returns."""
        fqn = self.getter_type(class_fqn, camel).get("fqn", "")
        for method in self.types.get(fqn, {}).get("methods", []):
            if method["name"] == "get" and "returns" in method:
                return method["returns"]["type"]["fqn"]
        if fqn not in self.types:
            raise ExtractionError(f"{class_fqn}.{camel}: expected a generated class, got {fqn or 'a primitive'}")
        return fqn

    def is_struct(self, type_ref: dict[str, Any]) -> bool:
        return bool(self.types.get(type_ref.get("fqn", ""), {}).get("datatype"))

    # -- arguments (jsii struct properties)

    def block(self, struct_fqn: str, class_fqn: str, stack: tuple[str, ...] = ()) -> dict[str, Any]:
        """BLOCK for the struct ``struct_fqn`` whose values are read through the generated class ``class_fqn``."""
        if struct_fqn in stack:
            raise ExtractionError(f"recursive block type {struct_fqn}; not supported")
        stack = (*stack, struct_fqn)
        getters = self.js_getters(class_fqn)
        attributes: dict[str, Any] = {}
        blocks: dict[str, Any] = {}
        argument_camels = set()
        for prop in self.types[struct_fqn].get("properties", []):
            camel = prop["name"]
            argument_camels.add(camel)
            getter = getters.get(camel)
            if getter is None:
                raise ExtractionError(f"{struct_fqn}.{camel}: no getter in the generated class {class_fqn}")
            name = argument_name(prop, struct_fqn)
            required = not prop.get("optional", False)
            if name != getter.snake or required != getter.required:
                raise ExtractionError(
                    f"{struct_fqn}.{camel}: assembly says {name!r} required={required}, "
                    f"generated code says {getter.snake!r} required={getter.required}"
                )
            type_ref = strip_resolvable(prop["type"])
            collection = type_ref.get("collection")
            if self.is_struct(type_ref) or (collection and collection["kind"] == "array" and self.is_struct(collection["elementtype"])):
                nesting = "single" if self.is_struct(type_ref) else ("set" if getter.wraps_set else "list")
                element = type_ref["fqn"] if nesting == "single" else collection["elementtype"]["fqn"]
                child = self.block(element, self.element_class(class_fqn, camel), stack)
                blocks[name] = {"nesting": nesting, "required": required, "block": child}
            else:
                attributes[name] = {"type": self.argument_type(type_ref, getter.wraps_set, struct_fqn, camel), "required": required}
                if getter.write_only:
                    attributes[name]["write_only"] = True
        for getter in getters.values():
            if getter.computed_only and getter.camel not in argument_camels:
                if getter.snake in attributes or getter.snake in blocks:
                    raise ExtractionError(f"{class_fqn}: computed {getter.snake} clashes with an argument")
                attributes[getter.snake] = {"type": self.computed_type(class_fqn, getter, stack), "required": False, "computed": True}
        return {"attributes": attributes, "blocks": blocks}

    def argument_type(self, type_ref: dict[str, Any], wraps_set: bool, where: str, camel: str) -> Any:
        type_ref = strip_resolvable(type_ref)
        if "primitive" in type_ref:
            return PRIMITIVE_TYPES[type_ref["primitive"]]
        if "collection" in type_ref:
            collection = type_ref["collection"]
            element = strip_resolvable(collection["elementtype"])
            if self.is_struct(element):
                inner = ["object", {n: a["type"] for n, a in self.object_fields(element["fqn"]).items()}]
            else:
                inner = self.argument_type(element, False, where, camel)
            kind = "map" if collection["kind"] == "map" else ("set" if wraps_set else "list")
            return [kind, inner]
        if type_ref.get("fqn") == RESOLVABLE:
            return "dynamic"
        raise ExtractionError(f"{where}.{camel}: unsupported argument type {json.dumps(type_ref, sort_keys=True)}")

    def object_fields(self, struct_fqn: str) -> dict[str, Any]:
        """Attributes of a struct used as a collection element of an attribute (not a block); types only."""
        fields = {}
        for prop in self.types[struct_fqn].get("properties", []):
            fields[argument_name(prop, struct_fqn)] = {"type": self.argument_type(prop["type"], False, struct_fqn, prop["name"])}
        return fields

    # -- computed-only attributes (getters of the generated classes)

    def computed_type(self, class_fqn: str, getter: Getter, stack: tuple[str, ...]) -> Any:
        """Type of a computed-only attribute, from the body of its getter."""
        dynamic = JS_DYNAMIC_READ.match(getter.body)
        if dynamic and dynamic.group("snake") == getter.snake:
            return "dynamic"
        read = JS_ATTRIBUTE_READ.match(getter.body)
        if read:
            return attribute_read_type(read, class_fqn, getter)
        new = JS_NEW.fullmatch(getter.init or "")
        if not (JS_FIELD_READ.match(getter.body) and new):
            raise ExtractionError(f"{class_fqn}.{getter.camel}: unsupported getter body {getter.body!r}")
        if new.group("snake") != getter.snake:
            raise ExtractionError(f"{class_fqn}.{getter.camel} reads {new.group('snake')!r}, commented {getter.snake!r}")
        if new.group("cls") in RUNTIME_COLLECTION_TYPES:
            return RUNTIME_COLLECTION_TYPES[new.group("cls")]
        element_fqn = self.element_class(class_fqn, getter.camel)
        if element_fqn in stack:
            raise ExtractionError(f"recursive object type {element_fqn}; not supported")
        inner_stack = (*stack, element_fqn)
        fields = {
            g.snake: self.computed_type(element_fqn, g, inner_stack) for g in self.js_getters(element_fqn).values() if g.computed_only
        }
        if new.group("is_set") is None:  # an output reference: a single nested object
            return ["object", fields]
        return ["set" if new.group("is_set") == "true" else "list", ["object", fields]]


def attribute_read_type(read: re.Match[str], class_fqn: str, getter: Getter) -> Any:
    """Type read by ``[cdktn.Fn.tolist(]this.get<Kind>Attribute('name')[)]``."""
    if read.group("snake") != getter.snake:
        raise ExtractionError(f"{class_fqn}.{getter.camel} reads {read.group('snake')!r}, commented {getter.snake!r}")
    kind = read.group("kind")
    if kind not in ATTRIBUTE_READ_TYPES:
        raise ExtractionError(f"{class_fqn}.{getter.camel}: unknown attribute reader get{kind}Attribute")
    value_type = ATTRIBUTE_READ_TYPES[kind]
    if not read.group("tolist"):
        return value_type
    if not (isinstance(value_type, list) and value_type[0] == "list"):
        raise ExtractionError(f"{class_fqn}.{getter.camel}: tolist() around get{kind}Attribute")
    return ["set", value_type[1]]


def strip_resolvable(type_ref: dict[str, Any]) -> dict[str, Any]:
    """``boolean | IResolvable`` -> boolean; ``IResolvable | Struct[]`` -> Struct[] (the token alternative is cdk-only)."""
    union = type_ref.get("union")
    if not union:
        return type_ref
    rest = [t for t in union["types"] if t.get("fqn") != RESOLVABLE]
    if len(rest) != 1:
        raise ExtractionError(f"unsupported union {json.dumps(type_ref, sort_keys=True)}")
    return rest[0]


def argument_name(prop: dict[str, Any], where: str) -> str:
    docs = prop.get("docs", {})
    match = ARGUMENT_ANCHOR.search(f"{docs.get('summary', '')} {docs.get('remarks', '')}")
    if not match:
        raise ExtractionError(f"{where}.{prop['name']}: no Terraform Registry anchor in its docs")
    return match.group(1)


def js_module_path(type_info: dict[str, Any]) -> str:
    """``src/instance/index.ts`` (the type's source location) -> ``package/lib/instance/index.js``.

    Large modules keep their structs in ``src/<module>/index-structs/structsN.ts`` files; the same mapping holds.
    """
    filename = type_info["locationInModule"]["filename"]
    match = re.fullmatch(r"src/([\w./-]+)\.ts", filename)
    if not match or ".." in filename:
        raise ExtractionError(f"unexpected source location {filename}")
    return f"package/lib/{match.group(1)}.js"


def module_files(types: dict[str, Any], class_fqn: str) -> set[str]:
    """The generated JavaScript files of every type in the jsii submodule of ``class_fqn``."""
    namespace = class_fqn.rsplit(".", 1)[0] + "."
    return {js_module_path(info) for fqn, info in types.items() if fqn.startswith(namespace) and "locationInModule" in info}


def index_types(assembly: dict[str, Any]) -> dict[tuple[str, str], tuple[str, re.Match[str]]]:
    """(docs kind, Terraform type) -> (class fqn, docs-link match) for every resource and data source class."""
    index: dict[tuple[str, str], tuple[str, re.Match[str]]] = {}
    for fqn, info in assembly["types"].items():
        if info.get("kind") != "class" or info.get("base") not in BASE_CLASSES.values():
            continue
        match = TYPE_LINK.search(info.get("docs", {}).get("summary", ""))
        if not match or BASE_CLASSES[match.group("kind")] != info["base"]:
            raise ExtractionError(f"{fqn}: no registry link naming its Terraform type")
        key = (match.group("kind"), match.group("type"))
        if key in index:
            raise ExtractionError(f"{key[1]} ({key[0]}) is represented by both {index[key][0]} and {fqn}")
        index[key] = (fqn, match)
    return index


def config_struct(class_info: dict[str, Any], fqn: str) -> str:
    for param in class_info.get("initializer", {}).get("parameters", []):
        if param["name"] == "config":
            return param["type"]["fqn"]
    raise ExtractionError(f"{fqn}: initializer has no config parameter")


def extract(source: Path, resources: Iterable[str], data_sources: Iterable[str]) -> dict[str, Any]:
    tarball = read_tarball_bytes(source)
    ((_, raw),) = iter_members(tarball, [ASSEMBLY_MEMBER])
    assembly = json.loads(raw)
    index = index_types(assembly)
    types = assembly["types"]

    selected: list[tuple[str, str, str]] = []  # (docs kind, type name, class fqn)
    for kind, names in (("resources", resources), ("data-sources", data_sources)):
        for name in names:
            if (kind, name) not in index:
                raise ExtractionError(f"{name}: no such {kind.rstrip('s').replace('-', ' ')} in {assembly['name']} {assembly['version']}")
            selected.append((kind, name, index[(kind, name)][0]))

    versions = {(m.group("provider"), m.group("version")) for _, m in index.values()}
    if len(versions) != 1:
        raise ExtractionError(f"the assembly links several provider versions: {sorted(versions)}")
    ((provider, provider_version),) = versions

    modules = sorted(set().union(*(module_files(types, fqn) for _, _, fqn in selected)))
    js_modules = {name: parse_js_classes(data.decode("utf-8")) for name, data in iter_members(tarball, modules)}
    extractor = Extractor(assembly, js_modules)

    python_target = assembly.get("targets", {}).get("python", {}).get("distName", assembly["name"])
    result: dict[str, Any] = {
        "provider": provider,
        "provider_version": provider_version,
        "source_package": f"{python_target} {assembly['version']}",
        "generated_by": GENERATED_BY,
        "resources": {},
        "data_sources": {},
    }
    for kind, name, fqn in selected:
        result[OUTPUT_SECTION[kind]][name] = extractor.block(config_struct(types[fqn], fqn), fqn)
    return result


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def split_names(value: str) -> list[str]:
    return [name for name in (part.strip() for part in value.split(",")) if name]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("source", type=Path, help="a provider-aws@X.jsii.tgz, the cdktn_provider_aws package folder, or the wheel")
    parser.add_argument("--resources", type=split_names, default=list(DEFAULT_RESOURCES), help="comma-separated resource types")
    parser.add_argument("--data-sources", type=split_names, default=list(DEFAULT_DATA_SOURCES), help="comma-separated data source types")
    parser.add_argument("-o", "--output", type=Path, help="output file (default: standard output)")
    args = parser.parse_args(argv)
    try:
        text = render(extract(args.source, args.resources, args.data_sources))
    except (ExtractionError, OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        print(f"extract_provider_schema: {exc}", file=sys.stderr)
        return 1
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
