"""A small, safe expression language over a reading's fields and window values.

Parsed with Python's `ast` and compiled to closures over a whitelist of nodes: numbers, field names,
arithmetic (+ - * / %), comparisons, and/or/not, `a if c else b`, abs/min/max, `field("a34002-Rtd")`,
and window functions `avg|sum|min|max|count|pNN|rate|delta(field, "15m")`. No eval, no attributes,
no subscripts, no lambdas. A missing field or a division by zero makes the whole expression not
applicable to that reading.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from gateway.model import FieldValue
from rules.durations import parse_duration
from rules.windows import AGG_RE

MAX_LENGTH: Final = 500
MAX_NODES: Final = 200
WINDOW_FUNCS: Final = ("avg", "sum", "min", "max", "count", "rate", "delta")


class ExprError(ValueError):
    """An expression that is not in the language."""


class _Missing(Exception):  # noqa: N818 - internal control flow, never escapes evaluate()
    """A field or window value is not there; the expression does not apply."""


Env = tuple[Mapping[str, FieldValue], Sequence[float | None]]
Fn = Callable[[Env], float]


@dataclass(frozen=True, slots=True)
class WindowRef:
    """A window an expression reads: aggregate (or rate/delta) of a field over a width."""

    func: str
    field: str
    width_ns: int


_BINOPS: Final[dict[type[ast.operator], Callable[[float, float], float]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}
_CMPOPS: Final[dict[type[ast.cmpop], Callable[[float, float], bool]]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_CONSTANTS: Final = {"true": 1.0, "false": 0.0, "True": 1.0, "False": 0.0}


def _field(fields: Mapping[str, FieldValue], name: str) -> float:
    """A field as a float, or raise _Missing."""
    value = fields.get(name)
    if isinstance(value, bool | int | float) and math.isfinite(value):
        return float(value)
    raise _Missing


class Expr:
    """A compiled expression: `evaluate(fields, window_values)` gives a float, or None when not applicable."""

    def __init__(self, text: str) -> None:
        if len(text) > MAX_LENGTH:
            raise ExprError(f"expression longer than {MAX_LENGTH} characters")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise ExprError(f"syntax error at column {exc.offset}: {exc.msg}") from None
        if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
            raise ExprError(f"expression has more than {MAX_NODES} nodes")
        self.text = text
        self.windows: list[WindowRef] = []
        self.fields: set[str] = set()
        self._fn = self._compile(tree.body)
        # With no short-circuit (and/or, if-else, chained comparisons) every field is read on every
        # evaluation, so a missing one can be found without running the expression and raising _Missing.
        lazy = any(isinstance(n, ast.BoolOp | ast.IfExp) or (isinstance(n, ast.Compare) and len(n.ops) > 1)
                   for n in ast.walk(tree))  # fmt: skip
        self._always_read: tuple[str, ...] = () if lazy else tuple(sorted(self.fields))

    def evaluate(self, fields: Mapping[str, FieldValue], windows: Sequence[float | None]) -> float | None:
        """The value (booleans as 1.0/0.0), or None when a field or window value is missing."""
        for name in self._always_read:
            if name not in fields:
                return None
        try:
            return self._fn((fields, windows))
        except (_Missing, ZeroDivisionError, OverflowError):
            return None

    def _compile(self, node: ast.expr) -> Fn:
        """Compile one whitelisted node, or raise ExprError naming what is not allowed."""
        compilers: dict[type[ast.expr], Callable[[Any], Fn]] = {
            ast.Constant: self._constant, ast.Name: self._name, ast.BinOp: self._binop, ast.UnaryOp: self._unary,
            ast.BoolOp: self._boolop, ast.Compare: self._compare, ast.IfExp: self._ifexp, ast.Call: self._call,
        }  # fmt: skip
        compiler = compilers.get(type(node))
        if compiler is None:
            raise ExprError(f"{type(node).__name__} is not allowed in rule expressions")
        return compiler(node)

    def _binop(self, node: ast.BinOp) -> Fn:
        """+ - * / % only."""
        if type(node.op) not in _BINOPS:
            raise ExprError(f"operator {type(node.op).__name__} is not allowed")
        op, left, right = _BINOPS[type(node.op)], self._compile(node.left), self._compile(node.right)
        return lambda env: op(left(env), right(env))

    def _ifexp(self, node: ast.IfExp) -> Fn:
        """`a if condition else b`."""
        test, body, orelse = self._compile(node.test), self._compile(node.body), self._compile(node.orelse)
        return lambda env: body(env) if test(env) else orelse(env)

    @staticmethod
    def _constant(node: ast.Constant) -> Fn:
        """Numbers and booleans only."""
        value = node.value
        if isinstance(value, bool | int | float):
            number = float(value)
            return lambda env: number
        raise ExprError(f"constant {value!r} is not a number")

    def _name(self, node: ast.Name) -> Fn:
        """A field of the reading, or true/false."""
        name = node.id
        if name in _CONSTANTS:
            number = _CONSTANTS[name]
            return lambda env: number
        self.fields.add(name)
        return lambda env: _field(env[0], name)

    def _unary(self, node: ast.UnaryOp) -> Fn:
        """Negation, plus, and `not`."""
        operand = self._compile(node.operand)
        if isinstance(node.op, ast.USub):
            return lambda env: -operand(env)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.Not):
            return lambda env: 0.0 if operand(env) else 1.0
        raise ExprError(f"unary {type(node.op).__name__} is not allowed")

    def _boolop(self, node: ast.BoolOp) -> Fn:
        """`and`/`or` with short-circuit, giving 1.0 or 0.0."""
        parts = [self._compile(v) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda env: 1.0 if all(p(env) for p in parts) else 0.0
        return lambda env: 1.0 if any(p(env) for p in parts) else 0.0

    def _compare(self, node: ast.Compare) -> Fn:
        """Chained comparisons, giving 1.0 or 0.0."""
        ops = []
        for op in node.ops:
            if type(op) not in _CMPOPS:
                raise ExprError(f"comparison {type(op).__name__} is not allowed")
            ops.append(_CMPOPS[type(op)])
        terms = [self._compile(node.left), *(self._compile(c) for c in node.comparators)]

        def compare(env: Env) -> float:
            left = terms[0](env)
            for op, term in zip(ops, terms[1:], strict=True):
                right = term(env)
                if not op(left, right):
                    return 0.0
                left = right
            return 1.0

        return compare

    def _call(self, node: ast.Call) -> Fn:
        """abs/min/max, field("name"), or a window function."""
        if not isinstance(node.func, ast.Name) or node.keywords:
            raise ExprError("only plain calls of abs, min, max, field and window functions are allowed")
        name, args = node.func.id, node.args
        if name == "field" and len(args) == 1:
            return self._name_arg(args[0])
        if (name in WINDOW_FUNCS or AGG_RE.match(name)) and len(args) == 2 and _is_text(args[1]):
            return self._window(name, args)
        if name in ("abs", "min", "max") and args and not any(_is_text(a) for a in args):
            parts = [self._compile(a) for a in args]
            if name == "abs" and len(parts) == 1:
                return lambda env: abs(parts[0](env))
            pick = min if name == "min" else max
            if name != "abs" and len(parts) >= 2:
                return lambda env: pick(p(env) for p in parts)
        raise ExprError(f"call {name}() with these arguments is not allowed")

    def _name_arg(self, arg: ast.expr) -> Fn:
        """`field("a34002-Rtd")`: a field whose name is not an identifier."""
        if not _is_text(arg):
            raise ExprError('field() takes one quoted field name, e.g. field("a34002-Rtd")')
        name = str(arg.value)  # type: ignore[attr-defined]
        self.fields.add(name)
        return lambda env: _field(env[0], name)

    def _window(self, func: str, args: list[ast.expr]) -> Fn:
        """`avg(pm10, "15m")`: read a window slot the rule keeps for this expression."""
        target = args[0]
        if isinstance(target, ast.Name):
            field_name = target.id
        elif isinstance(target, ast.Call) and isinstance(target.func, ast.Name) and target.func.id == "field":
            field_name = str(target.args[0].value) if target.args and _is_text(target.args[0]) else ""  # type: ignore[attr-defined]
        else:
            field_name = ""
        if not field_name:
            raise ExprError(f'{func}() takes a field name and a quoted window, e.g. {func}(pm10, "15m")')
        try:
            width = parse_duration(args[1].value)  # type: ignore[attr-defined]
        except ValueError as exc:
            raise ExprError(str(exc)) from None
        if width <= 0:
            raise ExprError(f"{func}() window must be longer than zero")
        ref = WindowRef(func, field_name, width)
        if ref not in self.windows:
            self.windows.append(ref)
        slot = self.windows.index(ref)

        def window(env: Env) -> float:
            value = env[1][slot]
            if value is None:
                raise _Missing
            return value

        return window


def _is_text(node: ast.expr) -> bool:
    """Whether a node is a string constant."""
    return isinstance(node, ast.Constant) and isinstance(node.value, str)
