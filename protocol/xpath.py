"""A small, safe evaluator for the XPath that XLSForm expressions use (no `eval`).

Covers what pyxform keeps in a survey's bind expressions: ``${name}`` references, ``.`` (the
answer being checked, in a constraint), numbers, quoted strings, ``+ - * div mod``, unary
minus, ``= != < <= > >=``, ``and``/``or``, parentheses and the common XLSForm functions
(`FUNCTIONS`). Values follow XPath 1.0 as ODK applies it: an unanswered question is ``''``,
``number('')`` is NaN, a select_multiple answer is a space-separated string, and a date is a
`datetime.date` that compares and subtracts as a number of days (ODK's date arithmetic),
so ``today() - ${birth_date}`` gives days.

    parse("${age} >= 18 and selected(${langs}, 'ar')").evaluate({"age": "20", "langs": "ar fr"})

The context maps question names to answers; the key ``"."`` holds the current answer.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

Value = str | float | bool | date
"""An XPath value: string, number (always a float), boolean or date."""

CURRENT = "."
MAX_LENGTH = 10_000
MAX_DEPTH = 64  # nested parentheses, calls and signs; keeps recursion far from Python's limit
_EPOCH = date(1970, 1, 1)


class ExpressionError(ValueError):
    """An expression that cannot be read or evaluated; the message says what and where."""


# --- conversions (XPath 1.0 string(), number(), boolean()) --------------------------------

_NUMBER_TEXT = re.compile(r"\s*-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*")
_DATE_TEXT = re.compile(r"\s*([0-9]{4})-([0-9]{2})-([0-9]{2})(?:T[0-9:.]*(?:Z|[+-][0-9:]+)?)?\s*")


def as_date(value: Value) -> date | None:
    """The date a value stands for ('YYYY-MM-DD', optionally with a time), or None."""
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        match = _DATE_TEXT.fullmatch(value)
        if match:
            try:
                return date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                return None
    return None


def to_number(value: Value) -> float:
    """XPath number(): NaN for '' and any text that is not a plain decimal; a date gives its
    days since 1970-01-01, as ODK does."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, float):
        return value
    if isinstance(value, date):
        return float((value - _EPOCH).days)
    if _NUMBER_TEXT.fullmatch(value):
        return float(value)
    day = as_date(value)
    return float((day - _EPOCH).days) if day is not None else math.nan


def to_string(value: Value) -> str:
    """XPath string(): numbers without a needless '.0' and never in exponent form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if value.is_integer():
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def truthy(value: Value) -> bool:
    """XPath boolean(): a non-empty string, a number other than 0 and NaN, any date."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return not (value == 0 or math.isnan(value))
    if isinstance(value, date):
        return True
    return value != ""


def as_value(obj: object) -> Value:
    """A context entry as an XPath value: None is '', an int a number, a list the
    space-separated string a select_multiple answer is."""
    if obj is None:
        return ""
    if isinstance(obj, str | bool | float | date):
        return obj
    if isinstance(obj, int):
        try:
            return float(obj)
        except OverflowError:
            return math.inf if obj > 0 else -math.inf
    if isinstance(obj, list | tuple):
        return " ".join(str(item) for item in obj)
    return str(obj)


# --- the syntax tree --------------------------------------------------------------------------


class _Env:
    """What an evaluation reads: the answers, the current answer and today's date."""

    def __init__(self, context: Mapping[str, object], today: date | None) -> None:
        self.context = context
        self.today = today

    def lookup(self, name: str) -> Value:
        return as_value(self.context.get(name))


class _Node:
    def evaluate(self, env: _Env) -> Value:
        raise NotImplementedError


@dataclass(frozen=True)
class _Literal(_Node):
    value: Value

    def evaluate(self, env: _Env) -> Value:
        return self.value


@dataclass(frozen=True)
class _Reference(_Node):
    name: str  # a question name, or "." for the current answer

    def evaluate(self, env: _Env) -> Value:
        return env.lookup(self.name)


@dataclass(frozen=True)
class _Negate(_Node):
    operand: _Node

    def evaluate(self, env: _Env) -> Value:
        return -to_number(self.operand.evaluate(env))


@dataclass(frozen=True)
class _Chain(_Node):
    """Operands joined left to right by operators of one precedence level, evaluated in a
    loop so that a long `a + b + c + …` does not nest."""

    first: _Node
    rest: tuple[tuple[str, _Node], ...]

    def evaluate(self, env: _Env) -> Value:
        result = self.first.evaluate(env)
        for operator, operand in self.rest:
            if operator == "and":
                result = truthy(result) and truthy(operand.evaluate(env))
            elif operator == "or":
                result = truthy(result) or truthy(operand.evaluate(env))
            else:
                result = _BINARY[operator](result, operand.evaluate(env))
        return result


@dataclass(frozen=True)
class _Call(_Node):
    name: str
    arguments: tuple[_Node, ...]

    def evaluate(self, env: _Env) -> Value:
        if self.name == "if":  # only the branch taken is evaluated
            condition, then, otherwise = self.arguments
            return (then if truthy(condition.evaluate(env)) else otherwise).evaluate(env)
        values = [argument.evaluate(env) for argument in self.arguments]
        return FUNCTIONS[self.name].run(values, env)


# --- operators ----------------------------------------------------------------------------


def _equal(left: Value, right: Value) -> bool:
    """XPath 1.0 '=': booleans if either side is one, else numbers if either is one, else text
    (a date compares as its 'YYYY-MM-DD' text)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return truthy(left) == truthy(right)
    if isinstance(left, float) or isinstance(right, float):
        return to_number(left) == to_number(right)
    return to_string(left) == to_string(right)


def _divide(left: Value, right: Value) -> float:
    a, b = to_number(left), to_number(right)
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _modulo(left: Value, right: Value) -> float:
    """XPath mod keeps the sign of the dividend (like math.fmod, unlike Python's %)."""
    a, b = to_number(left), to_number(right)
    if b == 0 or math.isnan(b) or not math.isfinite(a):
        return math.nan
    return math.fmod(a, b)


_BINARY: dict[str, Callable[[Value, Value], Value]] = {
    "=": _equal,
    "!=": lambda a, b: not _equal(a, b),
    "<": lambda a, b: to_number(a) < to_number(b),
    "<=": lambda a, b: to_number(a) <= to_number(b),
    ">": lambda a, b: to_number(a) > to_number(b),
    ">=": lambda a, b: to_number(a) >= to_number(b),
    "+": lambda a, b: to_number(a) + to_number(b),
    "-": lambda a, b: to_number(a) - to_number(b),
    "*": lambda a, b: to_number(a) * to_number(b),
    "div": _divide,
    "mod": _modulo,
}
_LEVELS: tuple[frozenset[str], ...] = (  # loosest first
    frozenset({"or"}),
    frozenset({"and"}),
    frozenset({"=", "!="}),
    frozenset({"<", "<=", ">", ">="}),
    frozenset({"+", "-"}),
    frozenset({"*", "div", "mod"}),
)
_WORD_OPERATORS = frozenset({"and", "or", "div", "mod"})


# --- functions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    """An XPath function: how many arguments it takes and what it does."""

    least: int
    most: int | None  # None: any number
    run: Callable[[list[Value], _Env], Value]


def _xpath_round(number: float) -> float:
    """XPath round(): halves go up (round(-2.5) is -2)."""
    return float(math.floor(number + 0.5)) if math.isfinite(number) else number


def _round(values: list[Value], env: _Env) -> Value:
    """round(number) as XPath, or ODK's round(number, digits)."""
    number = to_number(values[0])
    digits = to_number(values[1]) if len(values) == 2 else 0.0
    if math.isnan(digits):
        return math.nan
    if not math.isfinite(number) or digits == 0:
        return _xpath_round(number)
    scale = 10.0 ** max(-300, min(300, int(digits) if math.isfinite(digits) else 300))
    scaled = number * scale
    return _xpath_round(scaled) / scale if math.isfinite(scaled) else number


def _int(values: list[Value], env: _Env) -> Value:
    number = to_number(values[0])
    return float(math.trunc(number)) if math.isfinite(number) else number


def _current_or(values: list[Value], env: _Env) -> Value:
    return values[0] if values else env.lookup(CURRENT)


def _selected_at(values: list[Value], env: _Env) -> Value:
    items = to_string(values[0]).split()
    index = to_number(values[1])
    if not math.isfinite(index) or not 0 <= int(index) < len(items):
        return ""
    return items[int(index)]


def _substr(values: list[Value], env: _Env) -> Value:
    """ODK substr(text, start, end): 0-based, the end excluded."""
    text = to_string(values[0])
    start = to_number(values[1])
    end = to_number(values[2]) if len(values) > 2 else float(len(text))
    if math.isnan(start) or math.isnan(end):
        return ""
    low = max(0, min(len(text), int(start) if math.isfinite(start) else len(text)))
    high = max(0, min(len(text), int(end) if math.isfinite(end) else len(text)))
    return text[low:high]


def _substring(values: list[Value], env: _Env) -> Value:
    """XPath 1.0 substring(text, start, length): 1-based, positions rounded."""
    text = to_string(values[0])
    start = _xpath_round(to_number(values[1]))
    length = _xpath_round(to_number(values[2])) if len(values) > 2 else math.inf
    end = start + length
    return "".join(char for i, char in enumerate(text, 1) if start <= i < end)


def _regex(values: list[Value], env: _Env) -> Value:
    pattern = to_string(values[1])
    try:
        compiled = _compile_regex(pattern)
    except re.error as error:
        raise ExpressionError(f"regex(): the pattern {pattern!r} is not valid: {error}") from None
    return compiled.search(to_string(values[0])) is not None


@functools.lru_cache(maxsize=256)
def _compile_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _date(values: list[Value], env: _Env) -> Value:
    value = values[0]
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        try:
            return _EPOCH + timedelta(days=math.floor(value))
        except OverflowError:
            return ""
    if to_string(value).strip() == "":
        return ""
    day = as_date(value)
    if day is None:
        raise ExpressionError(f"date(): {to_string(value)!r} is not a date like 2024-03-15")
    return day


def _decimal_date_time(values: list[Value], env: _Env) -> Value:
    return to_number(values[0])


def _minmax(choose: Callable[[list[float]], float]) -> Callable[[list[Value], _Env], Value]:
    def run(values: list[Value], env: _Env) -> Value:
        numbers = [to_number(value) for value in values]
        return math.nan if any(math.isnan(n) for n in numbers) else choose(numbers)

    return run


def _pow(values: list[Value], env: _Env) -> Value:
    try:
        return math.pow(to_number(values[0]), to_number(values[1]))
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan


def _coalesce(values: list[Value], env: _Env) -> Value:
    return values[0] if to_string(values[0]) != "" else values[1]


def _today(values: list[Value], env: _Env) -> Value:
    return env.today or date.today()


def _on_text(run: Callable[..., Value]) -> Callable[[list[Value], _Env], Value]:
    """A function of its arguments' string values."""
    return lambda values, env: run(*(to_string(value) for value in values))


def _on_number(run: Callable[[float], float]) -> Callable[[list[Value], _Env], Value]:
    return lambda values, env: run(to_number(values[0]))


def _floor(number: float) -> float:
    return float(math.floor(number)) if math.isfinite(number) else number


def _ceiling(number: float) -> float:
    return float(math.ceil(number)) if math.isfinite(number) else number


def _translate(text: str, source: str, target: str) -> str:
    table: dict[int, int | None] = {}
    for index, char in enumerate(source):
        table.setdefault(ord(char), ord(target[index]) if index < len(target) else None)
    return text.translate(table)


FUNCTIONS: dict[str, Function] = {
    "if": Function(3, 3, lambda values, env: values[1] if truthy(values[0]) else values[2]),
    "coalesce": Function(2, 2, _coalesce),
    "not": Function(1, 1, lambda values, env: not truthy(values[0])),
    "true": Function(0, 0, lambda values, env: True),
    "false": Function(0, 0, lambda values, env: False),
    "boolean": Function(1, 1, lambda values, env: truthy(values[0])),
    "string": Function(0, 1, lambda values, env: to_string(_current_or(values, env))),
    "number": Function(0, 1, lambda values, env: to_number(_current_or(values, env))),
    "int": Function(1, 1, _int),
    "round": Function(1, 2, _round),
    "floor": Function(1, 1, _on_number(_floor)),
    "ceiling": Function(1, 1, _on_number(_ceiling)),
    "abs": Function(1, 1, _on_number(abs)),
    "pow": Function(2, 2, _pow),
    "min": Function(1, None, _minmax(min)),
    "max": Function(1, None, _minmax(max)),
    "selected": Function(2, 2, _on_text(lambda items, item: item.strip() in items.split())),
    "count-selected": Function(1, 1, _on_text(lambda items: float(len(items.split())))),
    "selected-at": Function(2, 2, _selected_at),
    "string-length": Function(
        0, 1, lambda values, env: float(len(to_string(_current_or(values, env))))
    ),
    "normalize-space": Function(
        0, 1, lambda values, env: " ".join(to_string(_current_or(values, env)).split())
    ),
    "concat": Function(0, None, _on_text(lambda *texts: "".join(texts))),
    "contains": Function(2, 2, _on_text(lambda text, part: part in text)),
    "starts-with": Function(2, 2, _on_text(lambda text, part: text.startswith(part))),
    "ends-with": Function(2, 2, _on_text(lambda text, part: text.endswith(part))),
    # find(), not split(): split('') raises; XPath gives '' before and the whole text after ''.
    "substring-before": Function(
        2, 2, _on_text(lambda text, part: text[: text.find(part)] if part in text else "")
    ),
    "substring-after": Function(
        2,
        2,
        _on_text(lambda text, part: text[text.find(part) + len(part) :] if part in text else ""),
    ),
    "translate": Function(3, 3, _on_text(_translate)),
    "substr": Function(2, 3, _substr),
    "substring": Function(2, 3, _substring),
    "regex": Function(2, 2, _regex),
    "today": Function(0, 0, _today),
    "date": Function(1, 1, _date),
    "decimal-date-time": Function(1, 1, _decimal_date_time),
}


# --- reading an expression ------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<reference>\$\{(?P<inner>[^}]*)\})
  | (?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)
  | (?P<string>'[^']*'|"[^"]*")
  | (?P<symbol>!=|<=|>=|=|<|>|\+|-|\*|\(|\)|,|\.\.|\.|//|/|\||\[|\]|@|::)
  | (?P<name>[^\W\d][\w.-]*(?::[^\W\d][\w.-]*)?)
    """,
    re.VERBOSE,
)
_QUESTION_NAME = re.compile(r"[^\W\d][\w.-]*")
_UNSUPPORTED = {
    "..": "'..' (the parent) is not supported",
    "/": "paths like /data/name are not supported; refer to a question as ${name}",
    "//": "paths are not supported; refer to a question as ${name}",
    "|": "'|' (node-set union) is not supported",
    "[": "predicates '[…]' are not supported",
    "]": "predicates '[…]' are not supported",
    "@": "attributes '@…' are not supported",
    "::": "axes '::' are not supported",
}


@dataclass(frozen=True)
class _Token:
    kind: str  # reference, number, string, symbol, operator, function, word, end
    text: str
    position: int  # 1-based character position, for messages


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    index = 0
    while index < len(text):
        match = _TOKEN.match(text, index)
        position = index + 1
        if match is None:
            char = text[index]
            if char in "'\"":
                raise ExpressionError(f"the quote {char} at position {position} is not closed")
            if text.startswith("${", index):
                raise ExpressionError(f"'${{' at position {position} is not closed by '}}'")
            raise ExpressionError(f"unexpected character {char!r} at position {position}")
        kind = match.lastgroup or ""
        token_text = match.group(kind)
        index = match.end()
        if kind == "space":
            continue
        if kind == "reference":
            name = match.group("inner").strip()
            if not _QUESTION_NAME.fullmatch(name):
                raise ExpressionError(
                    f"{token_text!r} at position {position} does not name a question"
                )
            tokens.append(_Token("reference", name, position))
            continue
        if kind == "symbol" and token_text in _UNSUPPORTED:
            raise ExpressionError(f"{_UNSUPPORTED[token_text]} (position {position})")
        if kind == "name":
            kind = _name_kind(tokens, text, index)
        tokens.append(_Token(kind, token_text, position))
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


def _name_kind(before: Sequence[_Token], text: str, after: int) -> str:
    """XPath's rule: a name right after an operand is an operator (and, or, div, mod); a name
    followed by '(' calls a function; any other name is a word this subset does not know."""
    previous = before[-1] if before else None
    after_operand = previous is not None and (
        previous.kind in {"reference", "number", "string", "word"}
        or (previous.kind == "symbol" and previous.text in {")", "."})
    )
    if after_operand:
        return "operator"
    if text[after:].lstrip().startswith("("):
        return "function"
    return "word"


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.index = 0
        self.depth = 0
        self.references: set[str] = set()

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def operator_here(self, level: frozenset[str]) -> bool:
        token = self.token
        if token.kind == "operator":
            if token.text not in _WORD_OPERATORS:
                raise ExpressionError(
                    f"expected an operator at position {token.position}, found {token.text!r}"
                )
            return token.text in level
        return token.kind == "symbol" and token.text in level

    def parse(self) -> _Node:
        if self.token.kind == "end":
            raise ExpressionError("the expression is empty")
        node = self.level(0)
        token = self.token
        if token.kind != "end":
            if token.text == ")":
                raise ExpressionError(f"')' at position {token.position} has no matching '('")
            raise ExpressionError(
                f"unexpected {token.text!r} at position {token.position} after a complete "
                "expression (a missing operator?)"
            )
        return node

    def level(self, number: int) -> _Node:
        if number == len(_LEVELS):
            return self.unary()
        first = self.level(number + 1)
        rest: list[tuple[str, _Node]] = []
        while self.operator_here(_LEVELS[number]):
            operator = self.advance()
            rest.append((operator.text, self.operand_after(operator, number + 1)))
        return _Chain(first, tuple(rest)) if rest else first

    def operand_after(self, operator: _Token, number: int) -> _Node:
        if self.token.kind == "end":
            raise ExpressionError(
                f"nothing after {operator.text!r} at position {operator.position}"
            )
        return self.level(number)

    def unary(self) -> _Node:
        token = self.token
        if token.kind == "symbol" and token.text == "-":
            self.advance()
            with self.nested(token):
                if self.token.kind == "end":
                    raise ExpressionError(f"nothing after '-' at position {token.position}")
                return _Negate(self.unary())
        return self.primary()

    def primary(self) -> _Node:
        token = self.advance()
        if token.kind == "number":
            return _Literal(float(token.text))
        if token.kind == "string":
            return _Literal(token.text[1:-1])
        if token.kind == "reference":
            self.references.add(token.text)
            return _Reference(token.text)
        if token.kind == "symbol" and token.text == ".":
            return _Reference(CURRENT)
        if token.kind == "symbol" and token.text == "(":
            with self.nested(token):
                inner = self.level(0)
            self.close(token, "'('")
            return inner
        if token.kind == "function":
            return self.call(token)
        if token.kind == "word":
            raise ExpressionError(
                f"unknown word {token.text!r} at position {token.position}; refer to a "
                f"question as ${{{token.text}}} and call a function with ()"
            )
        if token.kind == "end":
            raise ExpressionError("the expression ends where a value was expected")
        raise ExpressionError(
            f"expected a value at position {token.position}, found {token.text!r}"
        )

    def call(self, name: _Token) -> _Node:
        function = FUNCTIONS.get(name.text)
        if function is None:
            raise ExpressionError(f"unknown function '{name.text}()' at position {name.position}")
        opening = self.advance()  # '(' — _name_kind saw it
        arguments: list[_Node] = []
        with self.nested(name):
            if not (self.token.kind == "symbol" and self.token.text == ")"):
                arguments.append(self.level(0))
                while self.token.kind == "symbol" and self.token.text == ",":
                    self.advance()
                    arguments.append(self.level(0))
        self.close(opening, f"'{name.text}('")
        _check_arity(name, function, len(arguments))
        return _Call(name.text, tuple(arguments))

    def close(self, opening: _Token, what: str) -> None:
        token = self.token
        if token.kind == "symbol" and token.text == ")":
            self.advance()
            return
        if token.kind == "end":
            raise ExpressionError(f"{what} at position {opening.position} is not closed")
        raise ExpressionError(
            f"expected ')' or ',' at position {token.position} for {what} at position "
            f"{opening.position}, found {token.text!r}"
        )

    def nested(self, token: _Token) -> _Depth:
        return _Depth(self, token)


class _Depth:
    """Counts nesting while parsing, refusing expressions nested deeper than MAX_DEPTH."""

    def __init__(self, parser: _Parser, token: _Token) -> None:
        self.parser, self.token = parser, token

    def __enter__(self) -> None:
        self.parser.depth += 1
        if self.parser.depth > MAX_DEPTH:
            raise ExpressionError(
                f"nested more than {MAX_DEPTH} levels deep at position {self.token.position}"
            )

    def __exit__(self, *exc: object) -> None:
        self.parser.depth -= 1


def _check_arity(name: _Token, function: Function, count: int) -> None:
    if function.least <= count and (function.most is None or count <= function.most):
        return
    if function.most is None:
        wanted = f"at least {function.least}"
    elif function.least == function.most:
        wanted = str(function.least)
    else:
        wanted = f"{function.least} to {function.most}"
    plural = "" if wanted.endswith(" 1") or wanted == "1" else "s"
    raise ExpressionError(
        f"{name.text}() at position {name.position} takes {wanted} argument{plural}, not {count}"
    )


@dataclass(frozen=True)
class Expression:
    """A parsed expression; evaluate it as often as needed."""

    text: str
    references: frozenset[str]  # the question names it reads through ${…}
    _root: _Node

    def evaluate(
        self, context: Mapping[str, Any] | None = None, *, today: date | None = None
    ) -> Value:
        """The value in `context` (question name → answer, "." → the current answer; a
        missing name is ''). Raises ExpressionError only for a bad regex() pattern or a
        date() of text that is no date."""
        return self._root.evaluate(_Env(context or {}, today))


@functools.lru_cache(maxsize=2048)
def parse(text: str) -> Expression:
    """Read an expression; raise ExpressionError saying what is wrong and where."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    parser = _Parser(text)
    root = parser.parse()
    return Expression(text, frozenset(parser.references), root)
