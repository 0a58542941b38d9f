"""The XLSForm XPath subset: values as ODK gives them, plain messages for faulty expressions."""

from __future__ import annotations

import contextlib
import math
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.xpath import ExpressionError, Value, parse, to_number, to_string, truthy

TODAY = date(2024, 3, 1)
ANSWERS = {
    "age": "20",
    "literacy": "none",
    "langs": "ar fr",
    "empty": "",
    "total": 12.0,
    "born": "1990-05-17",
    "name": "Amina",
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("7 div 2", 3.5),
        ("7 mod 3", 1.0),
        ("-7 mod 3", -1.0),  # the dividend's sign, as XPath says
        ("- 3 + 1", -2.0),
        ("--3", 3.0),
        ("3-1", 2.0),
        ("${age}-1", 19.0),
        ("${age} div 2", 10.0),
        ("${age} >= 18 and ${literacy} != 'none'", False),
        ("${age} >= 18 or ${literacy} != 'none'", True),
        ('${literacy} = "none"', True),
        ("${unknown} = ''", True),  # an unanswered question is ''
        ("${empty} != 'none'", True),
        ("${empty} > 0", False),  # number('') is NaN: every comparison is false
        ("${empty} <= 0", False),
        ("${age} = 20", True),  # a number on one side compares numbers
        ("${age} = '20.0'", False),  # two strings compare as text
        ("20 = '20.0'", True),
        ("${age} > '3'", True),  # < and > always compare numbers
        ("1 = true()", True),
        ("'' = false()", True),
        ("selected(${langs}, 'fr')", True),
        ("selected(${langs}, 'tzm')", False),
        ("count-selected(${langs})", 2.0),
        ("count-selected(${empty})", 0.0),
        ("selected-at(${langs}, 1)", "fr"),
        ("selected-at(${langs}, 5)", ""),
        ("string-length(${name})", 5.0),
        ("regex(${name}, '^[A-Z][a-z]+$')", True),
        ("regex('12a', '^[0-9]+$')", False),
        ("contains(${name}, 'min')", True),
        ("starts-with(${name}, 'Am')", True),
        ("ends-with(${name}, 'x')", False),
        ("substr(${name}, 1, 3)", "mi"),
        ("substr(${name}, 2)", "ina"),
        ("substring('12345', 2, 3)", "234"),
        ("concat(${name}, ' ', ${age}, ' ', true())", "Amina 20 true"),
        ("string(1 div 4)", "0.25"),
        ("string(${total})", "12"),
        ("number('3.5')", 3.5),
        ("number(' 42 ')", 42.0),
        ("int(-3.7)", -3.0),
        ("round(2.5)", 3.0),
        ("round(-2.5)", -2.0),
        ("round(3.14159, 2)", 3.14),
        ("boolean('0')", True),  # a non-empty string
        ("boolean(0)", False),
        ("not(${empty})", True),
        ("if(${total} >= 10, 'moderate', 'mild')", "moderate"),
        ("if(${total} >= 15, 'severe', if(${total} >= 10, 'moderate', 'mild'))", "moderate"),
        ("coalesce(${empty}, 'none given')", "none given"),
        ("coalesce(${name}, 'none given')", "Amina"),
        ("today()", TODAY),
        ("today() - date('2024-02-01')", 29.0),  # date arithmetic in days, as ODK
        ("today() - ${born} > 365 * 18", True),
        ("${born} < '2000-01-01'", True),
        ("date('2024-03-01') = today()", True),
        ("${born} = '1990-05-17'", True),
        ("string(date(0))", "1970-01-01"),
        ("decimal-date-time('1970-01-11')", 10.0),
        ("max(1, 3, 2) + min(4, 5)", 7.0),
        ("pow(2, 10)", 1024.0),
        ("translate('abc', 'ab', 'AB')", "ABc"),
        ("normalize-space('  a   b ')", "a b"),
    ],
)
def test_expressions_evaluate_as_odk_does(expression: str, expected: Value) -> None:
    assert parse(expression).evaluate(ANSWERS, today=TODAY) == expected


@pytest.mark.parametrize(
    ("expression", "current", "expected"),
    [
        (". >= 0 and . <= 30", "12", True),
        (". >= 0 and . <= 30", "31", False),
        ("count-selected(.) <= 3", "a b c d", False),
        ("string-length(.) < 5", "abc", True),
        ("string-length() < 5", "abcdef", False),
        ("regex(., '^[0-9]{10}$')", "0612345678", True),
        (". = 'yes'", "yes", True),
    ],
)
def test_the_dot_is_the_current_answer(expression: str, current: str, expected: bool) -> None:
    assert parse(expression).evaluate({**ANSWERS, ".": current}) is expected


def test_empty_and_nan_follow_xpath() -> None:
    assert math.isnan(to_number(""))
    assert math.isnan(parse("${a} + ${b}").evaluate({"a": "1"}))  # type: ignore[arg-type]
    assert math.isnan(parse("0 div 0").evaluate())  # type: ignore[arg-type]
    assert parse("1 div 0").evaluate() == math.inf
    assert parse("-1 div 0").evaluate() == -math.inf
    assert math.isnan(parse("5 mod 0").evaluate())  # type: ignore[arg-type]
    assert to_string(math.nan) == "NaN"
    assert to_string(1e-7) == "0.0000001"
    assert to_string(-0.0) == "0"
    assert not truthy("") and truthy("false") and not truthy(math.nan) and truthy(0.5)


def test_context_values_of_other_types_read_as_xpath_values() -> None:
    context: dict[str, Any] = {"n": 3, "langs": ["ar", "fr"], "none": None, "yes": True}
    assert parse("${n} * 2").evaluate(context) == 6.0
    assert parse("selected(${langs}, 'fr')").evaluate(context) is True
    assert parse("${none} = ''").evaluate(context) is True
    assert parse("${yes}").evaluate(context) is True
    assert parse("${big} > 0").evaluate({"big": 10**400}) is True


def test_only_the_branch_taken_by_if_is_evaluated() -> None:
    assert parse("if(true(), 'ok', regex('a', '('))").evaluate() == "ok"


def test_a_bad_regex_pattern_is_an_expression_error_when_evaluated() -> None:
    expression = parse("regex(${a}, '(')")
    with pytest.raises(ExpressionError, match=r"regex\(\): the pattern '\(' is not valid"):
        expression.evaluate({"a": "x"})


def test_date_of_text_that_is_no_date_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match="'2024-02-30' is not a date"):
        parse("date('2024-02-30')").evaluate()
    assert parse("date(${a})").evaluate({}) == ""


def test_references_are_listed_and_parsing_is_cached() -> None:
    expression = parse("${a} + ${ b } > count-selected(${c}) and . = 1")
    assert expression.references == {"a", "b", "c"}
    assert parse("${a} + ${ b } > count-selected(${c}) and . = 1") is expression


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "the expression is empty"),
        ("   ", "the expression is empty"),
        ("1 +", "nothing after '+' at position 3"),
        ("${a} and", "nothing after 'and' at position 6"),
        ("(1 + 2", "'(' at position 1 is not closed"),
        ("1 + 2)", "')' at position 6 has no matching '('"),
        ("concat('a', 'b'", "'concat(' at position 7 is not closed"),
        ("concat('a' 'b')", "expected ')' or ',' at position 12 for 'concat(' at position 7"),
        ("foo(1)", "unknown function 'foo()' at position 1"),
        ("jr:choice-name(${a}, '${a}')", "unknown function 'jr:choice-name()'"),
        ("selected(${a})", "selected() at position 1 takes 2 arguments, not 1"),
        ("today(1)", "today() at position 1 takes 0 arguments, not 1"),
        ("round()", "round() at position 1 takes 1 to 2 arguments, not 0"),
        ("max()", "max() at position 1 takes at least 1 argument, not 0"),
        ("${a} = 'yes", "the quote ' at position 8 is not closed"),
        ('${a} = "yes', 'the quote " at position 8 is not closed'),
        ("${a = 1", "'${' at position 1 is not closed by '}'"),
        ("${} = 1", "'${}' at position 1 does not name a question"),
        ("${a b} = 1", "'${a b}' at position 1 does not name a question"),
        ("age > 3", "unknown word 'age' at position 1; refer to a question as ${age}"),
        ("${a} foo 3", "expected an operator at position 6, found 'foo'"),
        ("1 2", "unexpected '2' at position 3 after a complete expression"),
        ("1 ++ 2", "expected a value at position 4, found '+'"),
        ("* 2", "expected a value at position 1, found '*'"),
        ("1 # 2", "unexpected character '#' at position 3"),
        ("/data/age > 3", "paths like /data/name are not supported"),
        ("../a", "'..' (the parent) is not supported"),
        ("${a}[1]", "predicates '[…]' are not supported"),
        ("(" * 70 + "1" + ")" * 70, "nested more than 64 levels deep"),
    ],
)
def test_faulty_expressions_are_refused_in_plain_words(expression: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(expression)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_long_sum_does_not_nest() -> None:
    terms = [f"${{q{i}}}" for i in range(1000)]
    answers = {f"q{i}": "1" for i in range(1000)}
    assert parse(" + ".join(terms)).evaluate(answers) == 1000.0


# --- properties -----------------------------------------------------------------------------

SMALL = st.integers(min_value=-10_000, max_value=10_000)


@st.composite
def integer_sums(draw: st.DrawFn, depth: int = 0) -> tuple[str, int]:
    """An expression of + - * and unary minus over integers, with its Python value."""
    if depth >= 4 or draw(st.booleans()):
        number = draw(SMALL)
        return (str(number) if number >= 0 else f"({number})"), number
    left_text, left = draw(integer_sums(depth + 1))
    right_text, right = draw(integer_sums(depth + 1))
    operator = draw(st.sampled_from(["+", "-", "*", "neg"]))
    if operator == "neg":
        return f"-({left_text})", -left
    value = {"+": left + right, "-": left - right, "*": left * right}[operator]
    return f"({left_text} {operator} {right_text})", value


@given(integer_sums())
def test_integer_arithmetic_matches_python(case: tuple[str, int]) -> None:
    text, expected = case
    assert parse(text).evaluate() == float(expected)


@given(SMALL, SMALL.filter(bool))
def test_div_and_mod_match_python_true_division_and_fmod(a: int, b: int) -> None:
    assert parse(f"{a} div {b}").evaluate() == a / b
    assert parse(f"{a} mod {b}").evaluate() == math.fmod(a, b)
    assert parse("${a} div ${b}").evaluate({"a": str(a), "b": str(b)}) == a / b


@given(SMALL, SMALL)
def test_comparisons_match_python(a: int, b: int) -> None:
    for xpath, python in (("=", a == b), ("!=", a != b), ("<", a < b), (">=", a >= b)):
        assert parse(f"${{a}} {xpath} ${{b}}").evaluate({"a": str(a), "b": str(b)}) is python


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from("${}ab.() ,'\"-+*<>=!01 div mod and or if"), max_size=40))
def test_any_text_parses_or_is_refused_with_an_expression_error(text: str) -> None:
    try:
        expression = parse(text)
    except ExpressionError:
        return
    with contextlib.suppress(ExpressionError):
        expression.evaluate({"a": "1", "b": "x"})
