"""Exemplars kept in other projects' Python files, read with :mod:`ast`: never imported or run.

Two layouts hold Wei et al. (2022)'s exemplars under a permissive licence:

- a ``create_demo_text(args, cot_flag)`` function (Kojima et al.'s, as WENGSYX/Self-Verification
  keeps it): one ``if``/``elif`` branch per dataset, ``args.dataset in ("aqua")``, whose body appends
  each exemplar's question to ``x``, its answer choices to ``c`` (multiple-choice sets only), its
  rationale to ``z`` and its answer to ``y``;
- an OpenCompass dataset config: a variable whose prompt template is a list of chat turns,
  ``dict(role='HUMAN', prompt='Question: ...\\nAnswer:')`` then ``dict(role='BOT', prompt='<rationale>\\nSo
  the answer is yes\\n')``, closed by the test question's ``{question}`` turn.

Both come out as ``{"question", "rationale", "answer"}`` with whitespace runs folded to one space.
A question with choices reads ``<question> Answer Choices: (A) ... (B) ...``, the way the tasks'
records show them (:func:`cotrepro.data.tasks.records.answer_choices`).
"""

from __future__ import annotations

import ast
import re


def _text(value: str) -> str:
    return " ".join(value.split())


def _string(node: ast.AST, where: str) -> str:
    """The string a literal node spells (implicit concatenation and escapes resolved by the parser)."""
    try:
        value = ast.literal_eval(node)
    except ValueError:
        raise ValueError(f"{where}: expected a string literal, found {ast.unparse(node)!r}") from None
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string literal, found {value!r}")
    return value


def _branch_names(test: ast.AST) -> set[str]:
    """The dataset names an ``args.dataset in (...)`` test names; empty for any other test.

    Their code writes ``in ("aqua")`` (a parenthesised string, so Python tests a substring); the
    string is read as the one dataset name it was meant to be.
    """
    if not (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Attribute)
        and test.left.attr == "dataset"
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.In)
    ):
        return set()
    value = ast.literal_eval(test.comparators[0])
    return {value} if isinstance(value, str) else {v for v in value if isinstance(v, str)}


def _branch_body(function: ast.FunctionDef, dataset: str) -> list[ast.stmt]:
    """The body of the ``if``/``elif`` branch of ``function`` that handles ``dataset``."""
    seen: list[str] = []
    for stmt in function.body:
        node = stmt
        while isinstance(node, ast.If):
            names = _branch_names(node.test)
            if dataset in names:
                return node.body
            seen += sorted(names)
            # An elif is an If alone in its parent's else branch.
            node = node.orelse[0] if len(node.orelse) == 1 else None
    raise ValueError(f"{function.name} has no branch for dataset {dataset!r}; it has: {', '.join(seen) or 'none'}")


def parse_demo_text_function(text: str, dataset: str, function: str = "create_demo_text") -> list[dict]:
    """The exemplars for ``dataset`` in a Kojima-style ``create_demo_text`` function of ``text``."""
    tree = ast.parse(text)
    found = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function]
    if not found:
        raise ValueError(f"the file defines no function {function}()")
    lists: dict[str, list[str]] = {"x": [], "c": [], "z": [], "y": []}
    for stmt in _branch_body(found[0], dataset):
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "append"
            and isinstance(call.func.value, ast.Name)
            and call.func.value.id in lists
            and len(call.args) == 1
        ):
            name = call.func.value.id
            lists[name].append(_string(call.args[0], f"{function}, {dataset}: {name}.append line {stmt.lineno}"))
    n = len(lists["x"])
    if n == 0 or len(lists["z"]) != n or len(lists["y"]) != n or len(lists["c"]) not in (0, n):
        counts = ", ".join(f"{k} {len(v)}" for k, v in lists.items())
        raise ValueError(f"{function}, {dataset}: questions, choices, rationales and answers do not pair up ({counts})")
    choices = lists["c"] or [""] * n
    return [
        {"question": _text(f"{x} {c}"), "rationale": _text(z), "answer": _text(y)}
        for x, c, z, y in zip(lists["x"], choices, lists["z"], lists["y"], strict=True)
    ]


_BOT_ANSWER = re.compile(r"^(?P<rationale>.*?)\s*So the answer is\s+(?P<answer>.+?)\.?\s*$", re.S)


def _chat_turns(text: str, variable: str) -> list[tuple[str, str, int]]:
    """(role, prompt, line) of every ``dict(role=..., prompt=...)`` in ``variable``'s value, in source order."""
    tree = ast.parse(text)
    values = [
        n.value
        for n in tree.body
        if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == variable for t in n.targets)
    ]
    if not values:
        raise ValueError(f"the file assigns no variable {variable}")
    turns = []
    for node in ast.walk(values[0]):
        keywords = {k.arg: k.value for k in getattr(node, "keywords", [])}
        if isinstance(node, ast.Call) and {"role", "prompt"} <= set(keywords):
            where = f"{variable}, line {node.lineno}"
            turns.append((_string(keywords["role"], where), _string(keywords["prompt"], where), node.lineno))
    return sorted(turns, key=lambda t: t[2])


def parse_chat_rounds(text: str, variable: str, prefix: str = "Question: ", suffix: str = "\nAnswer:") -> list[dict]:
    """The exemplars in an OpenCompass config's chat-turn template ``variable``.

    HUMAN turns read ``{prefix}<question>{suffix}``; BOT turns ``<rationale>\\nSo the answer is X``.
    The closing ``{question}`` turn is the test question's slot, not an exemplar.
    """
    turns = [t for t in _chat_turns(text, variable) if "{question}" not in t[1]]
    if not turns or len(turns) % 2:
        raise ValueError(f"{variable}: expected HUMAN/BOT pairs of turns, found {len(turns)} turns")
    out = []
    for (role_q, question, line), (role_a, reply, _) in zip(turns[::2], turns[1::2], strict=True):
        if (role_q, role_a) != ("HUMAN", "BOT"):
            raise ValueError(f"{variable}, line {line}: expected a HUMAN then a BOT turn, found {role_q}, {role_a}")
        if not (question.startswith(prefix) and question.endswith(suffix)):
            raise ValueError(f"{variable}, line {line}: the question is not of the form {prefix!r}...{suffix!r}")
        m = _BOT_ANSWER.match(reply)
        if not m:
            raise ValueError(f"{variable}, line {line}: the reply has no 'So the answer is' sentence")
        out.append(
            {
                "question": _text(question[len(prefix) : len(question) - len(suffix)]),
                "rationale": _text(m["rationale"]),
                "answer": _text(m["answer"]),
            }
        )
    return out
