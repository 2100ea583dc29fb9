"""Project-written files in the layout of the pinned exemplar sources, with the project's own text.

``self_verification_utils()`` is laid out like WENGSYX/Self-Verification's ``utils.py``: module
imports of packages the tests do not have, then ``create_demo_text(args, cot_flag)`` with one
``if``/``elif`` branch per dataset appending to ``x`` (question), ``c`` (choices), ``z`` (rationale)
and ``y`` (answer). ``opencompass_strategyqa()`` is laid out like OpenCompass's
``strategyqa_gen_1180a7.py``: chat turns in ``strategyqa_infer_cfg``. The questions are invented
here; the exemplar counts are the papers' (AQuA 4, CSQA 7, date 6, StrategyQA 6), and the third
CSQA exemplar answers C, where the real file has the fox deviation.
"""

from __future__ import annotations

from cotrepro.data.exemplars import REMOTE_SETS

AQUA = [(f"A crate holds {n} apples and {n} more are added. How many apples are there? ", 2 * n) for n in (3, 5, 7, 9)]
CSQA_ANSWERS = "EBCADBC"  # the third is C, like the real fox exemplar's
DATE_QUESTION = "What is the date today in MM/DD/YYYY?"
DATES = ["01/02/2003", "02/03/2004", "03/04/2005", "04/05/2006", "05/06/2007", "06/07/2008"]
STRATEGY = [
    ("Could a goldfish read a newspaper?", "Goldfish cannot read. Thus, a goldfish could not read a newspaper.", "no"),
    ("Is a kilometre longer than a metre?", "A kilometre is 1,000 metres. Thus, it is longer.", "yes"),
    ("Can a teaspoon hold a litre of water?", "A teaspoon holds about 5 ml. Thus, it cannot.", "no"),
    ("Does snow form below freezing?", "Snow is frozen water. Water freezes at 0 degrees. Thus, yes.", "yes"),
    ("Yes or no: Could a snail cross a road in a second?", "Snails move a few mm a second. Thus, no.", "no"),
    ("Would a cork float on water?", "Cork is less dense than water. Thus, a cork would float.", "yes"),
]

FIRST = {
    "aqua": {
        "question": "A crate holds 3 apples and 3 more are added. How many apples are there? "
        "Answer Choices: (A) 6 (B) 7 (C) 8 (D) 9 (E) 10",
        "rationale": "3 + 3 = 6 apples.",
        "answer": "A",
    },
    "csqa": {
        "question": "Where would you put object number 1? Answer Choices: (A) shelf (B) box (C) drawer (D) bag (E) bin",
        "rationale": "The answer must hold object 1. Of the above choices, bin fits.",
        "answer": "E",
    },
    "date": {
        "question": "Yesterday was the day before 01/02/2003. What is the date today in MM/DD/YYYY?",
        "rationale": "The day after yesterday is today, so today is 01/02/2003.",
        "answer": "01/02/2003",
    },
    "strategyqa": {
        "question": "Could a goldfish read a newspaper?",
        "rationale": "Goldfish cannot read. Thus, a goldfish could not read a newspaper.",
        "answer": "no",
    },
}
"""Each fixture set's first exemplar, as the parsers must normalise it."""


def _py(text: str) -> str:
    return repr(text)


CSQA_OPTIONS = dict(zip("ABCDE", ["shelf", "box", "drawer", "bag", "bin"], strict=True))


def _csqa_exemplar(i: int, answer: str) -> str:
    # The rationale is split over two literals, an implicit concatenation, as the real file sometimes has.
    return (
        f"        x.append(\n            {_py(f'Where would you put object number {i}? ')})\n"
        '        c.append("Answer Choices: (A) shelf (B) box (C) drawer (D) bag (E) bin")\n'
        f"        z.append(\n            {_py(f'The answer must hold object {i}. ')}\n"
        f"            {_py(f'Of the above choices, {CSQA_OPTIONS[answer]} fits.')})\n"
        f"        y.append({_py(answer)})\n\n"
    )


def self_verification_utils(csqa_answers: str = CSQA_ANSWERS) -> str:
    """A ``utils.py`` in Self-Verification's layout with the project's own exemplars."""
    aqua = "".join(
        f"        x.append(\n            {_py(q)})\n"
        f"        c.append({_py(f'Answer Choices: (A) {a} (B) {a + 1} (C) {a + 2} (D) {a + 3} (E) {a + 4}')})\n"
        f"        z.append({_py(f'{a // 2} + {a // 2} = {a} apples.')})\n"
        f"        y.append('A')\n\n"
        for q, a in AQUA
    )
    csqa = "".join(_csqa_exemplar(i, a) for i, a in enumerate(csqa_answers, 1))
    date = "".join(
        f"        x.append(\n            {_py(f'Yesterday was the day before {d}. {DATE_QUESTION}')})\n"
        f"        z.append(\n            {_py(f'The day after yesterday is today, so today is {d}. ')})\n"
        f"        y.append({_py(d)})\n\n"
        for d in DATES
    )
    return f"""import openai_not_installed_here
import random


def fix_seed(seed):
    random.seed(seed)


def create_demo_text(args, cot_flag):
    x, z, y, c = [], [], [], []

    # example sentences ...
    if args.dataset in ("multiarith", "gsm8k"):

        x.append("Tom has 2 hats and buys 1. How many hats?")
        z.append("2 + 1 = 3.")
        y.append("3")

    elif args.dataset in ("aqua"):
{aqua}    elif args.dataset in ("commonsensqa"):
{csqa}    elif args.dataset in ("bigbench_date"):
{date}    else:
        raise ValueError("dataset is not properly defined ...")

    index_list = list(range(len(x)))
    random.shuffle(index_list)
    demo_text = ""
    for i in index_list:
        demo_text += "Q: " + x[i] + "\\nA: " + z[i] + " " + args.trigger + " " + y[i] + ".\\n\\n"
    return demo_text


def create_verifier_demo_text(args, cot_flag):
    x, z, y = [], [], []
    if args.dataset in ("aqua"):
        x.append("not an exemplar of create_demo_text")
        z.append("-")
        y.append("0")
    return x
"""


def opencompass_strategyqa() -> str:
    """A ``strategyqa_gen_1180a7.py`` in OpenCompass's layout with the project's own exemplars."""
    turns = "".join(
        f"                dict(\n                    role='HUMAN',\n                    prompt=\n"
        f"                    {_py(f'Question: {q}' + chr(10) + 'Answer:')}\n                ),\n"
        f"                dict(\n                    role='BOT',\n                    prompt=\n"
        f"                    {_py(f'{r}' + chr(10) + f'So the answer is {a}' + chr(10))}\n                ),\n"
        for q, r, a in STRATEGY
    )
    return f"""from opencompass.openicl.icl_prompt_template import PromptTemplate
from opencompass.datasets import StrategyQADataset

strategyqa_reader_cfg = dict(input_columns=['question'], output_column='answer')

strategyqa_infer_cfg = dict(
    prompt_template=dict(
        type=PromptTemplate,
        template=dict(
            round=[
{turns}                dict(role='HUMAN', prompt='Question: {{question}}\\nAnswer:'),
            ], )),
    inferencer=dict(max_out_len=512))

strategyqa_datasets = [dict(abbr='strategyqa', type=StrategyQADataset, infer_cfg=strategyqa_infer_cfg)]
"""


def fixture_files() -> dict[str, bytes]:
    """Mirror path (``/{repo}/{commit}/{path}``, as GitHubFile.url builds it) -> fixture bytes."""
    files = {
        REMOTE_SETS["wei2022-csqa"].file: self_verification_utils().encode(),
        REMOTE_SETS["wei2022-strategyqa"].file: opencompass_strategyqa().encode(),
    }
    return {"/" + f.url("").lstrip("/"): data for f, data in files.items()}
