"""Competition-math answers (answer format ``math``): LaTeX answers judged by Hugging Face's
``math-verify``.

MATH-500's golds are LaTeX (``\\frac{1}{2}``, ``[1,2)``, ``\\text{(C)}``); string or decimal
comparison calls ``0.5`` wrong against ``\\frac{1}{2}``. The robust style therefore hands both
sides to math-verify (symbolic equivalence via sympy, intervals and sets included); the kojima
style keeps exact string equality of the extracted slot, as their code did for every task.
"""

from __future__ import annotations

import re

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` in ``text`` (nested braces kept), or None."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    if not starts:
        return None
    start = starts[-1]
    depth = 1
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i]
    return None  # unbalanced: the completion stopped inside the box


def math_answer(text: str) -> str:
    """The answer a completion gives: the last ``\\boxed{}``'s content, else the slot text with
    surrounding ``$`` and a final period stripped ("" when nothing is left)."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed.strip()
    slot = text.strip().split("\n", 1)[0].strip()
    return slot.strip("$ ").removesuffix(".").strip("$ ")


def equivalent(prediction: str, gold: str) -> bool:
    """Whether ``prediction`` and ``gold`` denote the same mathematical object under math-verify
    (both read as LaTeX; an empty or unparseable side is wrong)."""
    # Imported here: math-verify pulls in sympy and an ANTLR parser, which only math tasks need.
    from math_verify import parse, verify

    if not prediction.strip() or not gold.strip():
        return False
    parsed_gold = parse(f"${gold}$")
    parsed_pred = parse(f"${prediction}$")
    if not parsed_gold or not parsed_pred:
        return False
    return bool(verify(parsed_gold, parsed_pred))
