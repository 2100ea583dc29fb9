"""Few-shot exemplar sets: Wei et al.'s, downloaded from a pinned source, or the project's own.

Every set is normalised to a list of ``{"question", "rationale", "answer"}``; the few_shot
method uses only question and answer, few_shot_cot all three.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import yaml

from cotrepro.data.exemplar_parsers import parse_chat_rounds, parse_demo_text_function
from cotrepro.data.sources import GitHubFile
from cotrepro.io import load_yaml, read_text

PROJECT_SETS_DIR = "config/exemplars"
"""Where the project's own sets live, relative to the repository root (``{name}.yaml``)."""

WEI2022 = "Wei et al. (2022), appendix (full prompts)"
"""Where the paper prints its chain-of-thought exemplars."""


@dataclass(frozen=True)
class Deviation:
    """A known difference between a source's exemplar and the one the paper prints.

    Checked when the set is read: if the source no longer says ``source``, the declaration is
    stale and reading fails, so a listed deviation is always one the prompts really carry.
    """

    exemplar: int  # 1-based position in the source
    field: str  # question, rationale or answer
    source: str  # what the source says, and the prompts show
    paper: str  # what the paper prints
    note: str

    def check(self, set_name: str, items: list[dict]) -> None:
        """Fail unless exemplar ``exemplar`` of ``items`` says ``source`` in ``field``."""
        actual = items[self.exemplar - 1][self.field] if self.exemplar <= len(items) else None
        if actual != self.source:
            raise ValueError(
                f"exemplar set {set_name}: the declared deviation of exemplar {self.exemplar} ({self.field} "
                f"{self.source!r}, paper {self.paper!r}) does not match the source, which says {actual!r}; "
                "update the declaration in cotrepro/data/exemplars.py"
            )

    def as_dict(self) -> dict:
        """The deviation as the manifest records it."""
        return {k: getattr(self, k) for k in ("exemplar", "field", "source", "paper", "note")}


@dataclass(frozen=True)
class RemoteSet:
    """A paper's exemplar set read from a pinned third-party file, with what is known about it.

    ``parse`` turns the file's text into exemplars; ``count`` is how many the paper used, and the
    file must yield exactly that many. ``deviations`` are differences in content from the paper,
    ``notes`` differences in form (how the source or this project writes the same exemplar).
    """

    file: GitHubFile
    licence: str
    parse: Callable[[str], list[dict]] = field(repr=False)
    count: int
    paper: str = WEI2022
    deviations: tuple[Deviation, ...] = ()
    notes: tuple[str, ...] = ()

    def read(self, name: str, text: str) -> list[dict]:
        """The set's exemplars from the file's ``text``, its count and declared deviations checked."""
        items = self.parse(text)
        if len(items) != self.count:
            raise ValueError(
                f"exemplar set {name}: the source holds {len(items)} exemplars, the paper used {self.count}"
            )
        for d in self.deviations:
            d.check(name, items)
        return items

    def manifest(self) -> dict:
        """Where the set comes from, under which licence, and how it differs from the paper."""
        f = self.file
        return {
            "paper": self.paper,
            "repo": f.repo,
            "commit": f.revision,
            "path": f.path,
            "url": f"https://github.com/{f.repo}/blob/{f.revision}/{f.path}",
            "sha256": f.sha256,
            "licence": self.licence,
            "exemplars": self.count,
            "deviations": [d.as_dict() for d in self.deviations],
            "notes": list(self.notes),
        }


SELF_VERIFICATION_UTILS = GitHubFile(
    repo="WENGSYX/Self-Verification",
    revision="a7782d82132d1ebce6f4919a9b3dd2a7c53865e0",
    path="utils.py",
    sha256="1924acf3b7ced114c1c64696e2f59b9ad2df37b31a4f631e2c2df703467ed031",
)
"""Kojima et al.'s ``create_demo_text`` as Self-Verification keeps it: Wei et al.'s AQuA, CSQA and date sets."""
LM_EVAL_GSM8K_COT = GitHubFile(
    repo="EleutherAI/lm-evaluation-harness",
    revision="4e7e0d47f33bc71070c1d38394bafbb52b117163",
    path="lm_eval/tasks/gsm8k/gsm8k-cot.yaml",
    sha256="7c9dd2561fe334a55f62bdc6a876f045e6dc7f53714c7a9db506b89c6de6bc96",
)
"""lm-evaluation-harness's GSM8K chain-of-thought task: Wei et al.'s eight GSM8K exemplars."""
OPENCOMPASS_STRATEGYQA = GitHubFile(
    repo="open-compass/opencompass",
    revision="a5acc4bba3b658f151617a3b393602110fb7a740",
    path="opencompass/configs/datasets/strategyqa/strategyqa_gen_1180a7.py",
    sha256="7f5ae7cb687cd182e2562791871a8c9b8807fd983796de7eb6006f2001513515",
)
"""OpenCompass's StrategyQA template, whose chat turns hold Wei et al.'s six StrategyQA exemplars."""


_ANSWER_SENTENCE = (
    "Each exemplar ends in the project's one few-shot answer sentence, 'The answer is X.', whatever the "
    "source's wording."
)
_UPPER_CASE_OPTIONS = (
    "Options are written (A)-(E) and answered with the bare letter, as the source and the task's questions "
    "write them; the paper prints (a)-(e) and answers '(b)'."
)


def _self_verification_set(dataset: str, **known) -> RemoteSet:
    """Wei et al.'s set for ``dataset`` (their code's name for it) in Self-Verification's utils.py."""
    return RemoteSet(
        file=SELF_VERIFICATION_UTILS,
        licence="Apache-2.0",
        parse=partial(parse_demo_text_function, dataset=dataset),
        **known,
    )


REMOTE_SETS: dict[str, RemoteSet] = {
    # Wei et al. (2022)'s eight GSM8K chain-of-thought exemplars, as lm-evaluation-harness ships them.
    "wei2022-gsm8k": RemoteSet(
        file=LM_EVAL_GSM8K_COT,
        licence="MIT",
        parse=lambda text: parse_lm_eval_fewshot(text),  # defined below
        count=8,
    ),
    "wei2022-aqua": _self_verification_set(
        "aqua",
        count=4,
        notes=(_UPPER_CASE_OPTIONS, _ANSWER_SENTENCE),
    ),
    "wei2022-csqa": _self_verification_set(
        "commonsensqa",
        count=7,
        deviations=(
            Deviation(
                exemplar=3,
                field="answer",
                source="C",
                paper="B",
                # Option words are left out: no text of the exemplars is kept in the repository.
                note="The fox exemplar: the source answers (C), the option its rationale names; the paper "
                "prints (b). Kept as the source has it.",
            ),
        ),
        notes=(_UPPER_CASE_OPTIONS, _ANSWER_SENTENCE),
    ),
    "wei2022-date": _self_verification_set(
        "bigbench_date",
        count=6,
        notes=(
            "The exemplars show no answer choices and answer with the date itself (MM/DD/YYYY), as in the "
            "paper, while the task's questions list options (A)-(F) and are scored by letter: a model that "
            "follows the exemplars answers with a date, which the robust style reads as the letter of the "
            "option with that text and the paper-faithful style does not.",
            "Exemplar 5's rationale has no closing full stop in the source; it is kept so.",
            _ANSWER_SENTENCE,
        ),
    ),
    # Wei et al. (2022)'s six StrategyQA exemplars, as OpenCompass's chat-turn template holds them.
    "wei2022-strategyqa": RemoteSet(
        file=OPENCOMPASS_STRATEGYQA,
        licence="Apache-2.0",
        parse=partial(parse_chat_rounds, variable="strategyqa_infer_cfg"),
        count=6,
        notes=(
            "The source's chat turns ('Question: ...' and 'Answer:', then the rationale and 'So the answer is "
            "yes') are read back into the papers' Q:/A: form.",
            _ANSWER_SENTENCE,
        ),
    ),
}
"""The papers' exemplar sets, downloaded from a pinned file (never committed) and sha256-checked."""


def split_target(target: str) -> tuple[str, str]:
    """Split an exemplar target "<rationale> The answer is N." into (rationale, answer)."""
    head, sep, tail = target.rpartition("The answer is")
    if not sep:
        raise ValueError(f"exemplar target has no 'The answer is' sentence: {target!r}")
    answer = tail.strip()
    if answer.endswith("."):
        answer = answer[:-1].strip()
    if not answer:
        raise ValueError(f"exemplar target has an empty answer: {target!r}")
    return head.strip(), answer


def parse_lm_eval_fewshot(text: str) -> list[dict]:
    """Exemplars from an lm-evaluation-harness task YAML (``fewshot_config.samples``)."""
    # lm-eval task files may carry tags such as !function, which a safe loader would refuse.
    doc = yaml.load(text, Loader=_TagTolerantLoader)
    try:
        samples = doc["fewshot_config"]["samples"]
    except (KeyError, TypeError):
        raise ValueError("lm-evaluation-harness YAML has no fewshot_config.samples list") from None
    out = []
    for s in samples:
        rationale, answer = split_target(" ".join(str(s["target"]).split()))
        out.append({"question": " ".join(str(s["question"]).split()), "rationale": rationale, "answer": answer})
    return out


class _TagTolerantLoader(yaml.SafeLoader):
    """A safe loader that reads unknown tags (``!function ...``) as plain strings."""


_TagTolerantLoader.add_multi_constructor("!", lambda loader, suffix, node: loader.construct_scalar(node))


def parse_project_set(text: str, source: str = "exemplar set") -> list[dict]:
    """Exemplars from one of the project's own YAML sets (``exemplars: [{question, rationale, answer}]``).

    A problem is a ValueError naming ``source`` (the file), the line and the field: invalid YAML, a
    key given twice, an exemplar that lacks a field or leaves it empty."""
    doc = load_yaml(text, source)
    items = doc.get("exemplars") if isinstance(doc, dict) else None
    if not items or not isinstance(items, list):
        raise ValueError(f"{source}: has no 'exemplars' list")
    # The exemplars' lines, for the messages (the parsed data no longer knows them).
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    nodes = next(v for k, v in root.value if k.value == "exemplars").value
    out = []
    for i, (e, node) in enumerate(zip(items, nodes, strict=True)):
        where = f"{source}, line {node.start_mark.line + 1}: exemplar {i + 1}"
        if not isinstance(e, dict):
            raise ValueError(f"{where} is not a mapping of question, rationale and answer")
        missing = {"question", "rationale", "answer"} - set(e)
        if missing:
            raise ValueError(f"{where} lacks {', '.join(sorted(missing))}")
        fields = {k: str(e[k]).strip() for k in ("question", "rationale", "answer")}
        empty = [k for k, v in fields.items() if not v or e[k] is None]
        if empty:
            raise ValueError(f"{where} has an empty {empty[0]!r}")
        out.append(fields)
    return out


def project_set_path(repo_root: Path, name: str) -> Path:
    """Path of the project's own exemplar set ``name``."""
    return Path(repo_root) / PROJECT_SETS_DIR / f"{name}.yaml"


def known_sets(repo_root: Path) -> list[str]:
    """All exemplar set names: the remote ones and the project's own YAML files."""
    own = [p.stem for p in (Path(repo_root) / PROJECT_SETS_DIR).glob("*.yaml")]
    return sorted(set(REMOTE_SETS) | set(own))


def write_exemplar_set(name: str, source: Path, out_path: Path) -> dict:
    """Normalise exemplar set ``name`` read from ``source`` and write it with its provenance."""
    from cotrepro.io import sha256_file, write_json

    if name in REMOTE_SETS:
        remote = REMOTE_SETS[name]
        text = Path(source).read_text(encoding="utf-8")  # sha256-pinned: checked at download
        items, origin, where = remote.read(name, text), "downloaded", remote.file.describe()
        manifest = remote.manifest()
    else:
        items, origin, where = (
            parse_project_set(read_text(source), str(source)),
            "project",
            f"cotrepro:{PROJECT_SETS_DIR}/{name}.yaml",
        )
        manifest = None
    doc = {
        "name": name,
        "origin": origin,
        "source": where,
        "sha256": sha256_file(source),
        "manifest": manifest,
        "exemplars": items,
    }
    write_json(out_path, doc)
    return doc
