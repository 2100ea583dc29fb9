"""MATH-500 answers: \\boxed{} extraction and math-verify's equivalence, on LaTeX golds like MATH's."""

import pytest

from cotrepro.data.tasks import get_task
from cotrepro.scoring.extract import extract_from, is_correct
from cotrepro.scoring.math_answers import equivalent, last_boxed, math_answer


@pytest.mark.parametrize(
    ("prediction", "gold", "same"),
    [
        ("0.5", "\\frac{1}{2}", True),
        ("\\dfrac12", "\\frac{1}{2}", True),
        ("[1,2)", "[1,2)", True),
        ("(1,2]", "[1,2)", False),
        ("2\\sqrt{2}", "\\sqrt{8}", True),
        ("3", "\\frac{1}{2}", False),
        ("", "\\frac{1}{2}", False),
    ],
)
def test_math_verify_judges_latex_equivalence(prediction, gold, same):
    assert equivalent(prediction, gold) is same


def test_the_last_boxed_answer_is_read_with_nested_braces():
    text = "First $\\boxed{3}$, no: the result is $\\boxed{\\frac{1}{\\sqrt{2}}}$."
    assert last_boxed(text) == "\\frac{1}{\\sqrt{2}}"
    assert last_boxed("cut off in \\boxed{\\frac{1}{") is None
    assert math_answer(" $\\frac{3}{4}$.\nQ: next") == "\\frac{3}{4}"


def test_both_styles_read_the_box_and_only_robust_uses_math_verify():
    chain = "Halving gives $\\boxed{0.5}$. The answer is $\\boxed{0.5}$."
    assert get_task("math500").answer_format == "math"
    for style in ("kojima", "robust"):
        assert extract_from(chain, "math", style, chain=True) == "0.5"
    assert is_correct("0.5", "\\frac{1}{2}", "math", "robust")
    assert not is_correct("0.5", "\\frac{1}{2}", "math", "kojima")
    assert is_correct("\\frac{1}{2}", "\\frac{1}{2}", "math", "kojima")
