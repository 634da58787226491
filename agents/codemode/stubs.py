"""Tool declarations for the prompt, generated from the tools' pydantic JSON schemas.

TypeScript: `interface`s for the models and one `declare const tools: {...}` whose methods take a single
object of named arguments and return a Promise. Python (Monty): `TypedDict`s for the models and one
`async def` stub per tool. The same stubs type-check the program before Monty runs it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, Literal

from agents.codemode.tools import ToolSpec, as_specs

Language = Literal["typescript", "python"]

_TS_SCALARS = {
    "string": "string", "integer": "number", "number": "number", "boolean": "boolean", "null": "null",
}  # fmt: skip
_PY_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def ts_type(schema: dict[str, Any]) -> str:
    """A TypeScript type for a JSON schema."""
    if "$ref" in schema:
        return _ref_name(schema["$ref"])
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            joiner = " & " if key == "allOf" else " | "
            return joiner.join(_ts_group(s) for s in schema[key])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(ts_type({**schema, "type": k}) for k in kind)
    if kind == "array":
        if "prefixItems" in schema:
            return "[" + ", ".join(ts_type(s) for s in schema["prefixItems"]) + "]"
        return f"Array<{ts_type(schema.get('items', {}))}>"
    if kind == "object":
        return _ts_object(schema)
    return _TS_SCALARS.get(kind, "unknown")


def _ts_group(schema: dict[str, Any]) -> str:
    text = ts_type(schema)
    return f"({text})" if " | " in text or " & " in text else text


def _ts_object(schema: dict[str, Any], indent: str = "") -> str:
    props: dict[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    if not props:
        value = ts_type(extra) if isinstance(extra, dict) else "unknown"
        return f"Record<string, {value}>"
    required = set(schema.get("required", []))
    lines = []
    for name, prop in props.items():
        if "description" in prop:
            lines.append(f"{indent}  /** {prop['description']} */")
        key = name if name.isidentifier() else json.dumps(name)
        optional = "" if name in required else "?"
        lines.append(f"{indent}  {key}{optional}: {ts_type(prop)};")
    return "{\n" + "\n".join(lines) + f"\n{indent}}}"


def py_type(schema: dict[str, Any]) -> str:
    """A Python annotation for a JSON schema (models become TypedDicts declared separately)."""
    if "$ref" in schema:
        return _ref_name(schema["$ref"])
    if "const" in schema:
        return f"Literal[{schema['const']!r}]"
    if "enum" in schema:
        return "Literal[" + ", ".join(repr(v) for v in schema["enum"]) + "]"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(py_type(s) for s in schema[key])
    if len(schema.get("allOf", [])) == 1:
        return py_type(schema["allOf"][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(py_type({**schema, "type": k}) for k in kind)
    if kind == "array":
        if "prefixItems" in schema:
            return "tuple[" + ", ".join(py_type(s) for s in schema["prefixItems"]) + "]"
        return f"list[{py_type(schema.get('items', {}))}]"
    if kind == "object":
        extra = schema.get("additionalProperties")
        return f"dict[str, {py_type(extra) if isinstance(extra, dict) else 'Any'}]"
    return _PY_SCALARS.get(kind, "Any")


def _definitions(specs: Iterable[ToolSpec]) -> dict[str, dict[str, Any]]:
    defs: dict[str, dict[str, Any]] = {}
    for spec in specs:
        defs.update(spec.params_schema.get("$defs", {}))
        defs.update(spec.returns_schema.get("$defs", {}))
    return defs


def _doc_lines(doc: str, indent: str) -> list[str]:
    if not doc:
        return []
    body = doc.replace("*/", "* /").splitlines()
    return [f"{indent}/**", *(f"{indent} * {line}".rstrip() for line in body), f"{indent} */"]


def typescript_declarations(specs: Iterable[ToolSpec]) -> str:
    """`interface` per model plus `declare const tools`, for the prompt."""
    specs = list(specs)
    out: list[str] = []
    for name, schema in _definitions(specs).items():
        out += _doc_lines(schema.get("description", ""), "")
        if schema.get("type") == "object" and schema.get("properties"):
            out.append(f"interface {name} {_ts_object(schema)}")
        else:
            out.append(f"type {name} = {ts_type(schema)};")
    out.append("declare const tools: {")
    for spec in specs:
        out += _doc_lines(spec.doc, "  ")
        params = {k: v for k, v in spec.params_schema.items() if k != "$defs"}
        args = _ts_object(params, "  ") if params.get("properties") else "Record<string, never>"
        optional = "" if params.get("required") else "?"
        out.append(f"  {spec.name}(args{optional}: {args}): Promise<{ts_type(spec.returns_schema)}>;")
    out.append("};")
    return "\n".join(out) + "\n"


def python_stubs(specs: Iterable[ToolSpec]) -> str:
    """`TypedDict` per model plus an `async def` stub per tool; also used to type-check the program."""
    specs = list(specs)
    out = ["from typing import Any, Literal, NotRequired, TypedDict", ""]
    for name, schema in _definitions(specs).items():
        if schema.get("type") == "object" and schema.get("properties"):
            out.append(f"class {name}(TypedDict):")
            if schema.get("description"):
                out.append(f"    {_py_docstring(schema['description'])}")
            required = set(schema.get("required", []))
            for field, prop in schema["properties"].items():
                hint = py_type(prop)
                out.append(f"    {field}: {hint if field in required else f'NotRequired[{hint}]'}")
        else:
            out.append(f"{name} = {py_type(schema)}")
        out.append("")
    for spec in specs:
        required = set(spec.params_schema.get("required", []))
        params = [
            f"{name}: {py_type(prop)}" + ("" if name in required else " = ...")
            for name, prop in spec.params_schema.get("properties", {}).items()
        ]
        out.append(f"async def {spec.name}({', '.join(params)}) -> {py_type(spec.returns_schema)}:")
        out.append(f"    {_py_docstring(spec.doc)}" if spec.doc else "    ...")
        out.append("")
    return "\n".join(out)


def _py_docstring(doc: str) -> str:
    escaped = doc.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return '"""' + "\n".join(f"    {line}".rstrip() for line in escaped.splitlines()).lstrip() + '"""'


_RENDERERS: dict[str, Callable[[Iterable[ToolSpec]], str]] = {
    "typescript": typescript_declarations,
    "python": python_stubs,
}


def describe_tools(tools: Iterable[Callable[..., Any] | ToolSpec], language: Language) -> str:
    """The declarations of `tools` in `language`, ready to paste into a prompt."""
    return _RENDERERS[language](as_specs(tools))
