"""Evaluating the Terraform module's ``locals`` in Python, as ``terraform console`` would.

The tests need the values of the stream-derived locals (names, request schemas, partition keys,
API responses). ``terraform console`` computes them, but needs the terraform binary, which CI
does not have; this evaluator walks python-hcl2's parse tree of the module's own HCL instead, so
that what is asserted is what the .tf files say, on any machine.

It knows the part of HCL the module's locals use: literals, strings with interpolations,
heredocs without them, tuples and objects, for-expressions (with ``if``), attribute and index
access, conditionals, unary and binary operators, and the functions listed in ``FUNCTIONS``.
``path.module`` is the module's directory, ``var.<name>`` comes from the caller, and anything
else (``data.*``, resources, unknown functions) raises ``Unsupported``, as a local that needs a
provider cannot be evaluated without one.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable
from itertools import product
from pathlib import Path
from typing import Any

import hcl2
from lark import Token, Tree


class Unsupported(Exception):
    """An expression this evaluator does not know, or a value only a provider can know."""


def _file(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def _coalesce(*values: Any) -> Any:
    for value in values:
        if value is not None and value != "":
            return value
    raise Unsupported("coalesce: no non-null, non-empty argument")


def _merge(*maps: dict) -> dict:
    merged: dict = {}
    for m in maps:
        merged.update(m)
    return merged


def _jsonencode(value: Any) -> str:
    # Terraform writes object keys sorted, without spaces.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "file": _file,
    "jsondecode": json.loads,
    "jsonencode": _jsonencode,
    "keys": lambda m: sorted(m),
    "values": lambda m: [m[k] for k in sorted(m)],
    "sort": lambda items: sorted(items),
    "join": lambda sep, items: sep.join(items),
    "setproduct": lambda *lists: [list(p) for p in product(*lists)],
    "coalesce": _coalesce,
    "merge": _merge,
    "length": len,
    "lower": str.lower,
    "upper": str.upper,
}

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)")
_HEREDOC = re.compile(r"\A<<(-?)([A-Za-z][A-Za-z0-9._-]*)\r?\n(.*?)[ \t]*\2\r?\n?\Z", re.DOTALL)
_PUNCTUATION = {'"', "(", ")", "[", "]", "{", "}", ",", ".", "=>", "?", ":", "=", "${", "...", "in", "for", "if"}


def _unescape(text: str) -> str:
    def sub(m: re.Match[str]) -> str:
        code = m.group(1)
        if code[0] in "uU" and len(code) > 1:
            return chr(int(code[1:], 16))
        if code not in _ESCAPES:
            raise Unsupported(f"unknown escape \\{code}")
        return _ESCAPES[code]

    return _ESCAPE.sub(sub, text)


def _tree(node: Tree | Token) -> Tree:
    """The node where the grammar puts a rule (a subtree), never a token."""
    if not isinstance(node, Tree):
        raise Unsupported(f"expected a rule, found the token {node!r}")
    return node


def _first(node: Tree | Token) -> str:
    """The text of a rule's first child: an identifier's name, an operator's symbol."""
    return str(_tree(node).children[0])


def _children(node: Tree | Token) -> list[Tree | Token]:
    """The meaningful children: no punctuation, keywords or newlines/comments."""
    out: list[Tree | Token] = []
    for child in _tree(node).children:
        if isinstance(child, Tree) and child.data == "new_line_or_comment":
            continue
        if isinstance(child, Token) and str(child).strip() in _PUNCTUATION:
            continue
        out.append(child)
    return out


class ModuleLocals:
    """The ``locals`` of every .tf file of ``module_dir``, evaluated on demand (each once)."""

    def __init__(self, module_dir: Path, variables: dict[str, Any]) -> None:
        self.module_dir = module_dir
        self.variables = variables
        self.sources: dict[str, Tree] = {}
        for path in sorted(module_dir.glob("*.tf")):
            tree = hcl2.parses_to_tree(path.read_text(encoding="utf-8"))
            for block in tree.find_data("block"):
                if _block_type(block) != "locals":
                    continue
                body = next(c for c in block.children if isinstance(c, Tree) and c.data == "body")
                for attribute in body.children:
                    if isinstance(attribute, Tree) and attribute.data == "attribute":
                        name, value = _children(attribute)
                        assert _first(name) not in self.sources, f"duplicate local {name}"
                        self.sources[_first(name)] = _tree(value)
        self._values: dict[str, Any] = {}
        self._evaluating: set[str] = set()

    def local(self, name: str) -> Any:
        if name not in self._values:
            if name not in self.sources:
                raise Unsupported(f"no local {name!r} in {self.module_dir}")
            if name in self._evaluating:
                raise Unsupported(f"local.{name} refers to itself")
            self._evaluating.add(name)
            try:
                self._values[name] = self.eval(self.sources[name], {})
            finally:
                self._evaluating.discard(name)
        return self._values[name]

    def evaluate(self, expression: str) -> Any:
        """The value of an HCL expression over these locals (what ``terraform console`` prints)."""
        tree = hcl2.parses_to_tree(f"value = {expression}\n")
        attribute = next(tree.find_data("attribute"))
        return self.eval(_children(attribute)[1], {})

    # --- expressions --------------------------------------------------------------------------

    def eval(self, node: Tree | Token, scope: dict[str, Any]) -> Any:
        if isinstance(node, Token):
            raise Unsupported(f"unexpected token {node!r}")
        method = getattr(self, f"_eval_{node.data}", None)
        if method is None:
            raise Unsupported(f"HCL construct {node.data!r} is not supported")
        return method(node, scope)

    def _eval_expr_term(self, node: Tree, scope: dict[str, Any]) -> Any:
        [inner] = _children(node)
        return self.eval(inner, scope)

    def _eval_identifier(self, node: Tree, scope: dict[str, Any]) -> Any:
        name = str(node.children[0])
        if name in scope:
            return scope[name]
        if name == "local":
            return _Namespace(self.local)
        if name == "var":
            return _Namespace(self._variable)
        if name == "path":
            return {"module": str(self.module_dir)}
        raise Unsupported(f"{name} is known only to Terraform with its providers")

    def _variable(self, name: str) -> Any:
        if name not in self.variables:
            raise Unsupported(f"var.{name} was not given")
        return self.variables[name]

    def _eval_literal_value(self, node: Tree, scope: dict[str, Any]) -> Any:
        return {"true": True, "false": False, "null": None}[str(node.children[0])]

    def _eval_int_lit(self, node: Tree, scope: dict[str, Any]) -> Any:
        return int(str(node.children[0]))

    def _eval_float_lit(self, node: Tree, scope: dict[str, Any]) -> Any:
        return float(str(node.children[0]))

    def _eval_string(self, node: Tree, scope: dict[str, Any]) -> Any:
        parts: list[str] = []
        for part in _children(node):
            [piece] = _tree(part).children
            if isinstance(piece, Token):
                text = str(piece)
                if piece.type in {"ESCAPED_INTERPOLATION", "ESCAPED_DIRECTIVE"}:
                    parts.append(text[1:])  # $${ -> ${, %%{ -> %{
                else:
                    parts.append(_unescape(text))
            elif piece.data == "interpolation":
                [expression] = _children(piece)
                value = self.eval(expression, scope)
                parts.append(_template_text(value))
            else:
                raise Unsupported(f"template directive {piece.data} is not supported")
        return "".join(parts)

    def _heredoc(self, node: Tree, scope: dict[str, Any]) -> Any:
        text = str(node.children[0])
        m = _HEREDOC.match(text)
        if m is None:
            raise Unsupported(f"unreadable heredoc {text[:40]!r}")
        body = m.group(3)
        if "${" in body.replace("$${", "") or "%{" in body.replace("%%{", ""):
            raise Unsupported("a heredoc with interpolations or directives is not supported")
        if m.group(1):
            body = textwrap.dedent(body)
        return body.replace("$${", "${").replace("%%{", "%{")

    _eval_heredoc_template = _heredoc
    _eval_heredoc_template_trim = _heredoc

    def _eval_tuple(self, node: Tree, scope: dict[str, Any]) -> Any:
        return [self.eval(child, scope) for child in _children(node)]

    def _eval_object(self, node: Tree, scope: dict[str, Any]) -> Any:
        result: dict[str, Any] = {}
        for elem in _children(node):
            key_node, value_node = _children(elem)
            [key_term] = _children(key_node)
            [key_inner] = (
                _children(key_term) if isinstance(key_term, Tree) and key_term.data == "expr_term" else [key_term]
            )
            if isinstance(key_inner, Tree) and key_inner.data == "identifier":
                key = str(key_inner.children[0])  # a bare name is the key itself, not a variable
            else:
                key = self.eval(key_inner, scope)
            result[_template_text(key)] = self.eval(value_node, scope)
        return result

    def _for(self, node: Tree, scope: dict[str, Any]) -> tuple[list[dict[str, Any]], list[Tree | Token]]:
        intro, *rest = _children(node)
        *names, collection = _children(intro)
        values = self.eval(collection, scope)
        if isinstance(values, dict):
            pairs = [(k, values[k]) for k in sorted(values)]
        elif isinstance(values, list):
            pairs = list(enumerate(values))
        else:
            raise Unsupported(f"cannot iterate over {type(values).__name__}")
        scopes = []
        for key, value in pairs:
            inner = dict(scope)
            if len(names) == 2:
                inner[_first(names[0])] = key
            inner[_first(names[-1])] = value
            scopes.append(inner)
        condition = [c for c in rest if isinstance(c, Tree) and c.data == "for_cond"]
        if condition:
            [expression] = _children(condition[0])
            scopes = [s for s in scopes if self.eval(expression, s)]
        return scopes, [c for c in rest if not (isinstance(c, Tree) and c.data == "for_cond")]

    def _eval_for_tuple_expr(self, node: Tree, scope: dict[str, Any]) -> Any:
        scopes, [value] = self._for(node, scope)
        return [self.eval(value, s) for s in scopes]

    def _eval_for_object_expr(self, node: Tree, scope: dict[str, Any]) -> Any:
        scopes, [key, value] = self._for(node, scope)
        result: dict[str, Any] = {}
        for s in scopes:
            k = _template_text(self.eval(key, s))
            if k in result:
                raise Unsupported(f"duplicate key {k!r} in a for expression (Terraform would need '...')")
            result[k] = self.eval(value, s)
        return result

    def _eval_function_call(self, node: Tree, scope: dict[str, Any]) -> Any:
        name, *arguments = _children(node)
        function = FUNCTIONS.get(_first(name))
        if function is None:
            raise Unsupported(f"function {_first(name)}() is not supported")
        args = [self.eval(a, scope) for a in (_children(arguments[0]) if arguments else [])]
        if arguments and any(isinstance(t, Token) and str(t) == "..." for t in _tree(arguments[0]).children):
            args = [*args[:-1], *args[-1]]
        return function(*args)

    def _eval_get_attr_expr_term(self, node: Tree, scope: dict[str, Any]) -> Any:
        target, attr = _children(node)
        [name] = _children(attr)
        return _index(self.eval(target, scope), _first(name))

    def _eval_index_expr_term(self, node: Tree, scope: dict[str, Any]) -> Any:
        target, index = _children(node)
        [expression] = _children(index)
        key = self.eval(expression, scope) if isinstance(expression, Tree) else int(str(expression))
        return _index(self.eval(target, scope), key)

    def _eval_conditional(self, node: Tree, scope: dict[str, Any]) -> Any:
        condition, if_true, if_false = _children(node)
        return self.eval(if_true if self.eval(condition, scope) else if_false, scope)

    def _eval_unary_op(self, node: Tree, scope: dict[str, Any]) -> Any:
        operator, operand = node.children[0], _children(node)[-1]
        value = self.eval(operand, scope)
        return (not value) if str(operator) == "!" else -value

    def _eval_binary_op(self, node: Tree, scope: dict[str, Any]) -> Any:
        left, term = _children(node)
        operator, right = _children(term)
        a = self.eval(left, scope)
        op = _first(operator)
        if op == "&&":
            return a and self.eval(right, scope)
        if op == "||":
            return a or self.eval(right, scope)
        b = self.eval(right, scope)
        operations: dict[str, Callable[[Any, Any], Any]] = {
            "==": lambda x, y: x == y,
            "!=": lambda x, y: x != y,
            "<": lambda x, y: x < y,
            ">": lambda x, y: x > y,
            "<=": lambda x, y: x <= y,
            ">=": lambda x, y: x >= y,
            "+": lambda x, y: x + y,
            "-": lambda x, y: x - y,
            "*": lambda x, y: x * y,
            "/": lambda x, y: x / y,
            "%": lambda x, y: x % y,
        }
        return operations[op](a, b)


class _Namespace:
    """``local`` / ``var``: attribute access looks the name up."""

    def __init__(self, lookup: Callable[[str], Any]) -> None:
        self.lookup = lookup


def _index(target: Any, key: Any) -> Any:
    if isinstance(target, _Namespace):
        return target.lookup(key)
    if isinstance(target, dict):
        if key not in target:
            raise Unsupported(f"no key {key!r} in an object with keys {sorted(target)}")
        return target[key]
    if isinstance(target, list):
        return target[int(key)]
    raise Unsupported(f"cannot index {type(target).__name__} with {key!r}")


def _template_text(value: Any) -> str:
    """A value interpolated into a string, as Terraform converts it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise Unsupported(f"cannot interpolate a {type(value).__name__}")


def _block_type(block: Tree) -> str:
    first = block.children[0]
    return str(first.children[0]) if isinstance(first, Tree) else str(first)
