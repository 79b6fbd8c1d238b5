"""Check compiled Terraform JSON against the AWS provider schema vendored in tests/data/aws_provider_schema.json.

``check_root(documents)`` takes the parsed ``*.tf.json`` documents of one Terraform root (file name -> dict) and
returns human-readable problems, ``"<file>: <address>: <problem>"``; an empty list means none were found. The
vendored schema is written by scripts/extract_provider_schema.py (see its header for how to regenerate it).

What is checked:

* top-level keys are Terraform's block types (``resource``, ``data``, ``locals``, …) or the ``"//"`` comment;
* every resource and data source type is in the schema: the extracted ``aws_*`` types plus Terraform's built-in
  ``terraform_data`` (``input``, ``triggers_replace``) and ``terraform_remote_state``; any other type, ``aws_*``
  or not, is reported (extend the extract when spawn-tf starts emitting a new type); no address is declared twice;
* every argument of a body is a known attribute or block of its type; computed-only attributes (``arn``) cannot be
  set; a required attribute must be present and not ``null``, a required block present;
* literal values have the attribute's type, recursively through lists, sets, maps and objects. A string holding a
  ``${…}`` interpolation or ``%{…}`` directive may stand for any type and is not checked (``$${`` and ``%%{`` are
  escapes, not templates). Terraform would convert some literals silently; these rules are stricter on purpose:
  a JSON number or ``true``/``false`` for a string attribute is reported (write ``"5"``), while number-like
  strings (``"20"``) for number attributes and ``"true"``/``"false"`` for bool attributes are accepted, since
  Terraform parses them the same way and templates produce them;
* an attribute given a JSON object where it expects a primitive or list ("attribute written as a block"), and a
  block given anything but an object or an array of objects, are reported. Terraform JSON writes one block as an
  object and zero or more blocks as an array of objects, so both forms are accepted for every block; a block with
  at most one item (``"nesting": "single"``) may not be given an array of two or more. ``dynamic`` blocks are
  checked against the block they generate;
* meta-arguments: ``count`` (a non-negative integer or template), ``for_each`` (a template or a JSON object, not an
  array), not both; ``provider`` (``aws`` or ``aws.<alias>``); ``depends_on`` (references to declared resources);
  ``lifecycle`` with ``create_before_destroy`` and ``prevent_destroy`` (JSON booleans), ``ignore_changes``
  (``"all"`` or argument names of the same resource), ``replace_triggered_by`` (references to declared resources),
  ``precondition`` / ``postcondition`` (``condition`` and ``error_message``); data sources take the same
  meta-arguments but only the two condition blocks in ``lifecycle``. ``region`` is no meta-argument: in AWS
  provider 6 it is an ordinary argument of the regional types (not of IAM's), and the schema says which;
* ``"//"`` (the Terraform JSON comment property) is ignored wherever a block body or label level is expected;
* references found in templates (``${aws_iam_role.agent.arn}``, ``${data.aws_s3_objects.done.keys}``) and in
  ``depends_on`` / ``replace_triggered_by``: the resource or data source must be declared in this root, the
  attribute after it must exist in its schema, and a resource with ``count`` or ``for_each`` must be indexed
  (``aws_instance.run[each.key].id``) before an attribute is read. Only managed types of the providers named in
  KNOWN_PREFIXES are matched outside ``data.``, so ``for`` variables such as ``run_info.index`` are left alone;
  data sources scoped inside a ``check`` block count as declared for the whole root (a simplification).

Not checked: allowed values (enums), conflicting arguments, list lengths other than single blocks, the contents
of ``terraform``, ``provider``, ``variable``, ``output`` and ``module`` blocks, and anything needing evaluation.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "data" / "aws_provider_schema.json"

COMMENT = "//"
TOP_LEVEL_KEYS = frozenset(
    {
        "terraform",
        "provider",
        "variable",
        "locals",
        "output",
        "module",
        "resource",
        "data",
        "ephemeral",
        "check",
        "moved",
        "import",
        "removed",
        COMMENT,
    }
)
META_ARGUMENTS = frozenset({"count", "for_each", "provider", "depends_on", "lifecycle"})
RESOURCE_LIFECYCLE = frozenset(
    {"create_before_destroy", "prevent_destroy", "ignore_changes", "replace_triggered_by", "precondition", "postcondition"}
)
DATA_LIFECYCLE = frozenset({"precondition", "postcondition"})
CONDITION_KEYS = frozenset({"condition", "error_message"})
DYNAMIC_KEYS = frozenset({"for_each", "iterator", "labels", "content"})
CHECK_KEYS = frozenset({"data", "assert"})
# Managed types whose references are recognised without a "data." prefix.
KNOWN_PREFIXES = ("aws_", "terraform_")


def _attribute(type_expr: Any, *, required: bool = False, computed: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": type_expr, "required": required}
    if computed:
        entry["computed"] = True
    return entry


# Terraform's built-in provider (terraform.io/builtin/terraform): the part spawn-tf and its tests use.
BUILTIN_RESOURCES: dict[str, Any] = {
    "terraform_data": {
        "attributes": {
            "input": _attribute("dynamic"),
            "triggers_replace": _attribute("dynamic"),
            "id": _attribute("string", computed=True),
            "output": _attribute("dynamic", computed=True),
        },
        "blocks": {},
    },
}
BUILTIN_DATA_SOURCES: dict[str, Any] = {
    "terraform_remote_state": {
        "attributes": {
            "backend": _attribute("string", required=True),
            "config": _attribute("dynamic"),
            "defaults": _attribute("dynamic"),
            "workspace": _attribute("string"),
            "outputs": _attribute("dynamic", computed=True),
        },
        "blocks": {},
    },
}

_ESCAPES = re.compile(r"\$\$\{|%%\{")
_TEMPLATE = re.compile(r"\$\{|%\{")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_PROVIDER_REF = re.compile(r"[a-z][a-z0-9_-]*(?:\.[A-Za-z_][\w-]*)?")
# data.TYPE.NAME, TYPE.NAME, with an optional index ([…], one level of nested brackets) or splat, then an attribute.
_REFERENCE = re.compile(
    r"(?<![\w.\"-])(?P<data>data\.)?(?P<type>[a-z][a-z0-9]*_[a-z0-9_]+)\.(?P<name>[A-Za-z_][\w-]*)"
    r"(?P<index>\[[^\[\]]*(?:\[[^\[\]]*\][^\[\]]*)*\]|\.\*)?"
    r"(?:\.(?P<attr>[A-Za-z_]\w*))?"
)


@functools.cache
def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    """The vendored schema, read once."""
    return json.loads(path.read_text(encoding="utf-8"))


def check_root(documents: dict[str, dict[str, Any]], schema: dict[str, Any] | None = None) -> list[str]:
    """Problems found in the ``.tf.json`` documents of one root (file name -> parsed JSON); [] when none."""
    checker = _RootChecker(load_schema() if schema is None else schema)
    for file_name in sorted(documents):
        checker.check_document(file_name, documents[file_name])
    checker.check_references()
    return checker.problems


# ------------------------------------------------------------------------------------------------- helpers


def is_template(value: str) -> bool:
    """Whether a JSON string holds a ``${…}`` interpolation or ``%{…}`` directive (escapes excluded)."""
    return bool(_TEMPLATE.search(_ESCAPES.sub("", value)))


def interpolations(value: str) -> list[str]:
    """The expression text inside each ``${…}`` / ``%{…}`` of a template, nested braces and quotes respected."""
    found = []
    i = 0
    while i < len(value):
        if value.startswith(("$${", "%%{"), i):
            i += 3
        elif value.startswith(("${", "%{"), i):
            end = _closing_brace(value, i + 2)
            found.append(value[i + 2 : end])
            i = end + 1
        else:
            i += 1
    return found


def _closing_brace(value: str, start: int) -> int:
    """Index of the ``}`` closing a template sequence whose body starts at ``start`` (len(value) if unclosed)."""
    depth, in_string, j = 1, False, start
    while j < len(value):
        char = value[j]
        if in_string:
            if char == "\\":
                j += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{}":
            depth += 1 if char == "{" else -1
            if depth == 0:
                return j
        j += 1
    return len(value)


def _objects(value: Any) -> list[dict[str, Any]] | None:
    """A JSON object, or an array of objects, as a list of objects; None for anything else."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return list(value)
    return None


def _describe(value: Any) -> str:
    if value is True or value is False:
        return f"the JSON {'true' if value else 'false'}"
    if isinstance(value, int | float):
        return f"the JSON number {json.dumps(value)}"
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON array"
    return f"the string {json.dumps(value)}"


def _type_name(type_expr: Any) -> str:
    if isinstance(type_expr, str):
        return type_expr
    kind, inner = type_expr
    if kind == "object":
        return "object({" + ", ".join(f"{k}: {_type_name(v)}" for k, v in sorted(inner.items())) + "})"
    return f"{kind}({_type_name(inner)})"


def type_problems(value: Any, type_expr: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(sub-path, problem) for each place where a literal ``value`` does not fit ``type_expr``."""
    if value is None or type_expr == "dynamic" or (isinstance(value, str) and is_template(value)):
        return
    if isinstance(type_expr, str):
        message = _primitive_problem(value, type_expr)
        if message:
            yield path, message
        return
    kind, inner = type_expr
    if not isinstance(value, dict if kind in ("map", "object") else list):
        yield path, f"expected {_type_name(type_expr)}, got {_describe(value)}"
    else:
        yield from _element_problems(value, kind, inner, path)


def _element_problems(value: list[Any] | dict[str, Any], kind: str, inner: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from type_problems(item, inner, f"{path}[{index}]")
        return
    for key, item in value.items():
        if kind == "map":
            yield from type_problems(item, inner, f"{path}[{json.dumps(key)}]")
        elif key in inner:
            yield from type_problems(item, inner[key], f"{path}.{key}")
        else:
            yield f"{path}.{key}", f"unknown object attribute (expected one of {', '.join(sorted(inner))})"


def _primitive_problem(value: Any, type_expr: str) -> str | None:
    if type_expr == "string":
        fits = isinstance(value, str)
    elif type_expr == "number":
        fits = not isinstance(value, bool) and (
            isinstance(value, int | float) or (isinstance(value, str) and bool(_NUMBER.fullmatch(value)))
        )
    elif type_expr == "bool":
        fits = isinstance(value, bool) or value in ("true", "false")
    else:
        raise ValueError(f"unknown type expression {type_expr!r}")
    if fits:
        return None
    hint = ""
    if isinstance(value, dict):
        hint = " (an attribute, not a block)"
    elif type_expr == "string" and not isinstance(value, list):
        hint = f" (write {json.dumps(json.dumps(value))})"
    return f"expected {type_expr}, got {_describe(value)}{hint}"


def _merge_bodies(bodies: list[dict[str, Any]], problem: Any) -> dict[str, Any]:
    """Terraform JSON may split one body over an array of objects; an argument set twice is an error."""
    merged: dict[str, Any] = {}
    for body in bodies:
        for key, value in body.items():
            if key in merged and key != COMMENT:
                problem(f"{key}: set more than once")
            merged[key] = value
    return merged


# ------------------------------------------------------------------------------------------------- the checker


class _RootChecker:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.schemas = {
            "resource": {**schema["resources"], **BUILTIN_RESOURCES},
            "data": {**schema["data_sources"], **BUILTIN_DATA_SOURCES},
        }
        self.provider = f"{schema['provider']} {schema['provider_version']}"
        self.problems: list[str] = []
        # (mode, type, name) -> (file, repeated: whether it has count or for_each)
        self.declared: dict[tuple[str, str, str], tuple[str, bool]] = {}
        # (file, where, expression text) for every interpolation and bare reference string
        self.expressions: list[tuple[str, str, str]] = []

    def report(self, file_name: str, where: str, message: str) -> None:
        self.problems.append(f"{file_name}: {where}: {message}" if where else f"{file_name}: {message}")

    # -- documents

    def check_document(self, file_name: str, document: Any) -> None:
        if not isinstance(document, dict):
            self.report(file_name, "", f"a .tf.json document must be a JSON object, got {_describe(document)}")
            return
        for key in document:
            if key not in TOP_LEVEL_KEYS:
                self.report(
                    file_name, key, f"unknown top-level block type (expected one of {', '.join(sorted(TOP_LEVEL_KEYS - {COMMENT}))})"
                )
        self._collect_expressions(file_name, "", document)
        for mode in ("resource", "data"):
            if mode in document:
                self._check_section(file_name, mode, mode, document[mode])
        if "check" in document:
            self._check_checks(file_name, document["check"])

    def _labels(self, file_name: str, where: str, value: Any) -> Iterator[tuple[str, Any]]:
        """(label, value) pairs of one label level: an object, or an array of objects; "//" skipped."""
        objects = _objects(value)
        if objects is None:
            self.report(file_name, where, f"expected a JSON object (or an array of objects), got {_describe(value)}")
            return
        for obj in objects:
            for label, inner in obj.items():
                if label != COMMENT:
                    yield label, inner

    def _check_section(self, file_name: str, mode: str, where: str, section: Any) -> None:
        for type_name, by_name in self._labels(file_name, where, section):
            for name, bodies in self._labels(file_name, f"{where}.{type_name}", by_name):
                address = f"{where}.{type_name}.{name}"
                objects = _objects(bodies)
                if objects is None:
                    self.report(file_name, address, f"a body must be a JSON object, got {_describe(bodies)}")
                    continue
                body = _merge_bodies(objects, lambda message, a=address: self.report(file_name, a, message))
                self._check_block_instance(file_name, address, body, mode=mode, type_name=type_name, name=name)

    def _check_checks(self, file_name: str, checks: Any) -> None:
        for name, bodies in self._labels(file_name, "check", checks):
            where = f"check.{name}"
            for body in _objects(bodies) or []:
                for key, value in body.items():
                    if key == COMMENT:
                        continue
                    if key not in CHECK_KEYS:
                        self.report(file_name, f"{where}.{key}", "unknown in a check block (expected data or assert)")
                    elif key == "data":
                        self._check_section(file_name, "data", f"{where}.data", value)
                    else:
                        self._check_conditions(file_name, f"{where}.assert", value)
            if _objects(bodies) is None:
                self.report(file_name, where, f"a check body must be a JSON object, got {_describe(bodies)}")

    def _check_block_instance(self, file_name: str, address: str, body: dict[str, Any], *, mode: str, type_name: str, name: str) -> None:
        key = (mode, type_name, name)
        repeated = "count" in body or "for_each" in body
        if key in self.declared:
            self.report(file_name, address, f"declared more than once (also in {self.declared[key][0]})")
        self.declared[key] = (file_name, repeated)
        block_schema = self.schemas[mode].get(type_name)
        if block_schema is None:
            kind = "resource" if mode == "resource" else "data source"
            origin = f"not in the {self.provider} extract" if type_name.startswith("aws_") else "no schema for its provider"
            self.report(
                file_name,
                address,
                f"unknown {kind} type {type_name} ({origin}: a typo, or a type to add to scripts/extract_provider_schema.py)",
            )
            return
        self._check_meta(file_name, mode, address, body, block_schema)
        self._check_body(file_name, address, body, block_schema, meta=True)

    # -- bodies

    def _check_body(self, file_name: str, where: str, body: dict[str, Any], block_schema: dict[str, Any], *, meta: bool) -> None:
        dynamic_names: set[str] = set()
        for key, value in body.items():
            if key == COMMENT or (meta and key in META_ARGUMENTS):
                continue
            if key == "dynamic" and "dynamic" not in block_schema["attributes"]:
                dynamic_names |= self._check_dynamic(file_name, f"{where}.{key}", value, block_schema["blocks"])
            else:
                self._check_argument(file_name, f"{where}.{key}", key, value, block_schema)
        for key, entry in block_schema["attributes"].items():
            if entry["required"] and body.get(key) is None:
                self.report(file_name, where, f"missing required argument {key!r}")
        for key, entry in block_schema["blocks"].items():
            if entry["required"] and key not in body and key not in dynamic_names:
                self.report(file_name, where, f"missing required block {key!r}")

    def _check_argument(self, file_name: str, where: str, key: str, value: Any, block_schema: dict[str, Any]) -> None:
        attribute = block_schema["attributes"].get(key)
        if attribute is not None and attribute.get("computed"):
            self.report(file_name, where, "computed-only attribute: it can be referenced, not set")
        elif attribute is not None:
            for sub_path, message in type_problems(value, attribute["type"]):
                self.report(file_name, where + sub_path, message)
        elif key in block_schema["blocks"]:
            self._check_block(file_name, where, value, block_schema["blocks"][key])
        else:
            self.report(file_name, where, f"unknown argument or block (known: {', '.join(_settable(block_schema))})")

    def _check_block(self, file_name: str, where: str, value: Any, entry: dict[str, Any]) -> None:
        objects = _objects(value)
        if objects is None:
            if isinstance(value, str) and is_template(value):
                hint = "an expression cannot stand for a block; use a dynamic block"
            else:
                hint = f"give a JSON object (one block) or an array of objects, not {_describe(value)}"
            self.report(file_name, where, f"is a {entry['nesting']} block: {hint}")
            return
        if entry["nesting"] == "single" and len(objects) > 1:
            self.report(file_name, where, f"takes at most one block, got {len(objects)}")
        for index, obj in enumerate(objects):
            self._check_body(file_name, where if isinstance(value, dict) else f"{where}[{index}]", obj, entry["block"], meta=False)

    def _check_dynamic(self, file_name: str, where: str, value: Any, blocks: dict[str, Any]) -> set[str]:
        names = set()
        for name, specs in self._labels(file_name, where, value):
            at = f"{where}.{name}"
            names.add(name)
            if name not in blocks:
                self.report(file_name, at, f"dynamic block of an unknown block type (blocks: {', '.join(sorted(blocks)) or 'none'})")
                continue
            for spec in _objects(specs) or []:
                for key in spec:
                    if key not in DYNAMIC_KEYS and key != COMMENT:
                        self.report(file_name, f"{at}.{key}", f"unknown in a dynamic block (expected {', '.join(sorted(DYNAMIC_KEYS))})")
                if "for_each" not in spec:
                    self.report(file_name, at, "dynamic block without for_each")
                content = _objects(spec.get("content"))
                if content is None or len(content) != 1:
                    self.report(file_name, at, "dynamic block needs one content object")
                else:
                    self._check_body(file_name, f"{at}.content", content[0], blocks[name]["block"], meta=False)
        return names

    # -- meta-arguments

    def _check_meta(self, file_name: str, mode: str, address: str, body: dict[str, Any], block_schema: dict[str, Any]) -> None:
        def report(key: str, message: str) -> None:
            self.report(file_name, f"{address}.{key}", message)

        if "count" in body and "for_each" in body:
            self.report(file_name, address, "count and for_each are mutually exclusive")
        count = body.get("count")
        if "count" in body and not (
            (isinstance(count, int) and not isinstance(count, bool) and count >= 0) or (isinstance(count, str) and is_template(count))
        ):
            report("count", f"expected a non-negative whole number or a template, got {_describe(count)}")
        for_each = body.get("for_each")
        if "for_each" in body and not (isinstance(for_each, dict) or (isinstance(for_each, str) and is_template(for_each))):
            report("for_each", f"expected a map or set expression (a template or a JSON object), got {_describe(for_each)}")
        provider = body.get("provider")
        if "provider" in body and not (isinstance(provider, str) and _PROVIDER_REF.fullmatch(provider)):
            report("provider", f"expected a provider reference such as 'aws' or 'aws.west', got {_describe(provider)}")
        if "depends_on" in body:
            self._check_reference_list(file_name, f"{address}.depends_on", body["depends_on"])
        if "lifecycle" in body:
            self._check_lifecycle(file_name, mode, f"{address}.lifecycle", body["lifecycle"], block_schema)

    def _check_reference_list(self, file_name: str, where: str, value: Any) -> None:
        if not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
            self.report(file_name, where, f"expected an array of reference strings, got {_describe(value)}")

    def _check_lifecycle(self, file_name: str, mode: str, where: str, value: Any, block_schema: dict[str, Any]) -> None:
        objects = _objects(value)
        if objects is None or len(objects) != 1:
            self.report(file_name, where, "lifecycle must be one JSON object")
            return
        allowed = RESOURCE_LIFECYCLE if mode == "resource" else DATA_LIFECYCLE
        for key, item in objects[0].items():
            at = f"{where}.{key}"
            if key == COMMENT:
                continue
            if key not in allowed:
                self.report(file_name, at, f"unknown in lifecycle (expected {', '.join(sorted(allowed))})")
            elif key in ("create_before_destroy", "prevent_destroy"):
                if not isinstance(item, bool):
                    self.report(file_name, at, f"expected a JSON boolean, got {_describe(item)}")
            elif key == "ignore_changes":
                self._check_ignore_changes(file_name, at, item, block_schema)
            elif key == "replace_triggered_by":
                self._check_reference_list(file_name, at, item)
            else:
                self._check_conditions(file_name, at, item)

    def _check_ignore_changes(self, file_name: str, where: str, value: Any, block_schema: dict[str, Any]) -> None:
        if value == "all":
            return
        if not (isinstance(value, list) and all(isinstance(entry, str) for entry in value)):
            self.report(file_name, where, f'expected "all" or an array of argument names, got {_describe(value)}')
            return
        settable = set(_settable(block_schema))
        for entry in value:
            if re.split(r"[.\[]", entry, maxsplit=1)[0] not in settable:
                self.report(file_name, where, f"{entry!r} is not an argument of this resource")

    def _check_conditions(self, file_name: str, where: str, value: Any) -> None:
        objects = _objects(value)
        if objects is None:
            self.report(file_name, where, f"expected a JSON object or an array of objects, got {_describe(value)}")
            return
        for obj in objects:
            for key in obj:
                if key not in CONDITION_KEYS and key != COMMENT:
                    self.report(file_name, f"{where}.{key}", "unknown (expected condition and error_message)")
            for key in sorted(CONDITION_KEYS - obj.keys()):
                self.report(file_name, where, f"missing {key!r}")

    # -- references

    def _collect_expressions(self, file_name: str, where: str, value: Any, *, bare: bool = False) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in ("ignore_changes", "provider") and not isinstance(item, dict):
                    continue  # argument names and provider references, checked elsewhere
                self._collect_expressions(
                    file_name, f"{where}.{key}" if where else key, item, bare=key in ("depends_on", "replace_triggered_by")
                )
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self._collect_expressions(file_name, f"{where}[{index}]", item, bare=bare)
        elif isinstance(value, str):
            if bare and not is_template(value):
                self.expressions.append((file_name, where, value))
            else:
                self.expressions.extend((file_name, where, text) for text in interpolations(value))

    def check_references(self) -> None:
        for file_name, where, text in self.expressions:
            for match in _REFERENCE.finditer(text):
                mode = "data" if match.group("data") else "resource"
                type_name, name, attr = match.group("type"), match.group("name"), match.group("attr")
                if mode == "resource" and not type_name.startswith(KNOWN_PREFIXES):
                    continue
                shown = f"{'data.' if mode == 'data' else ''}{type_name}.{name}"
                declared = self.declared.get((mode, type_name, name))
                if declared is None:
                    self.report(file_name, where, f"reference to {shown}, which this root does not declare")
                    continue
                block_schema = self.schemas[mode].get(type_name)
                if block_schema is None or attr is None:
                    continue
                if declared[1] and match.group("index") is None:
                    self.report(file_name, where, f"{shown} has count or for_each: read {attr!r} of one instance, {shown}[<key>].{attr}")
                elif attr not in block_schema["attributes"] and attr not in block_schema["blocks"] and attr != "id":
                    self.report(file_name, where, f"{shown} has no attribute {attr!r}")


def _settable(block_schema: dict[str, Any]) -> list[str]:
    attributes = [name for name, entry in block_schema["attributes"].items() if not entry.get("computed")]
    return sorted([*attributes, *block_schema["blocks"]])
