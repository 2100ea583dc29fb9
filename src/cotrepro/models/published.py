"""Published completions as a model source: Kojima et al.'s released text-davinci-002 logs.

Kojima et al. (2022) released the transcript of every question behind their Table 1 (``log/`` of
their repository, 12 datasets, zero-shot and zero-shot CoT). Parsed into the project's generation
rows and scored by the project's extractor, they calibrate the scoring pipeline: the
paper-faithful style must give back their published accuracies.

A log entry, as their ``main.py`` printed it::

    *************************
    7st data
    1_th_sampling
    {transcript}                   zero_shot: x + pred; zero_shot_cot: x + z + " " + trigger + pred
    pred_before : {pred}           the raw answer completion (it may span lines)
    pred_after : {cleansed}
    pred_list : [...]
    pred_mode : ...
    GT : {gold}
    *************************

where ``x`` is ``Q: {question}\\nA: {trigger}``, ``z`` the reasoning and ``trigger`` the answer
trigger, which begins with a newline. Entries come in their data loader's shuffled order, so they
are matched to the prepared task's records by question text.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cotrepro import methods, prompts
from cotrepro.data.sources import GitHubFile
from cotrepro.data.tasks.records import KOJIMA_REPO, KOJIMA_REVISION

METHODS = ("zero_shot", "zero_shot_cot")
"""The methods Kojima et al.'s logs hold."""

LOG_NAMES = {
    "gsm8k": "gsm8k",
    "svamp": "svamp",
    "multiarith": "multiarith",
    "addsub": "addsub",
    "singleeq": "singleeq",
    "aqua": "aqua",
    "csqa": "commonsensqa",
    "strategyqa": "strategyqa",
    "date": "date_understanding",
    "shuffled_objects": "shuffled_objects",
    "coin_flip": "coin_flip",
    "last_letters": "last_letters",
}
"""Task key -> the dataset name in their log file names (``log/{name}_{method}.log``)."""

_LOG_SHA256 = {
    "addsub_zero_shot": "c581a2b0b02e0d6114cca4d31ccd51df2258e860f2d6bf6f3aa011bf4becf68a",
    "addsub_zero_shot_cot": "5a35a7d04ad18f17a5918ba9f456ef85598ffb4ab340d40abd510b316ec65ce4",
    "aqua_zero_shot": "403f6f0f020dac0c2239a93dd7543a2a84a7f6c26cead717667ea8b6350f9013",
    "aqua_zero_shot_cot": "743315681523f6c459bb9dee0d106e1bbf813059bb0ecc3a75a9bbf8917766ad",
    "coin_flip_zero_shot": "06b125ad4b441b3b909c53004ccfde6e9dfb315281b1e0659219b92074ebc384",
    "coin_flip_zero_shot_cot": "6c5cd500498686106fad37b8ce85bed2bd26a790b6b1aaa8bec382a0d1103048",
    "commonsensqa_zero_shot": "13efc3566bb2cd209cafdbd530cfb2ad1b17255d1d653e3ae5a9c2840c575808",
    "commonsensqa_zero_shot_cot": "f8027dc6f4c85045ad7567dc71a9b5a4d69fb75af7cdf08ef809fcea617a2757",
    "date_understanding_zero_shot": "2a1009ffcf1209a7cfd87d65f2ee0558170012cec985c2479e5dd86a5b979174",
    "date_understanding_zero_shot_cot": "14090fec37b29d4b7053f6ccc8d3865b8ffd949d9d2f21ae71c55f145cb087c8",
    "gsm8k_zero_shot": "6f4a5d8bc02f5344446ab28e5febb78a3a4b45438188cfe2dad6fdf1faf4231b",
    "gsm8k_zero_shot_cot": "cfb2d43b29762ca5fb09856899a6f6595c7deda6ff73c5e8a3becb8d791c54c4",
    "last_letters_zero_shot": "beb909faa31c61587f2b5f00d28ea89a9f09c80b828156519686e117ad1d1acd",
    "last_letters_zero_shot_cot": "31e13b33aed4f1c8a920b10914fb31bc0965089afc714d0e72cf78a2f17387b5",
    "multiarith_zero_shot": "5b0bd4d132fa2f6c30d4d29438079473fa7b5e21a13c7a3618914a58a60b735f",
    "multiarith_zero_shot_cot": "e2e3416d5f376b84513847b0ed2ac40fcfbe424b8279a18f0b6c980ff75fa351",
    "shuffled_objects_zero_shot": "ba396a004f75f8a247483561b3511db1c8c8f0fdf3faaad387201a13165069ea",
    "shuffled_objects_zero_shot_cot": "1bb4b95719d37b0cde221fa6d7fe40ab0aeb894d87973f48c6e1675b25301aa5",
    "singleeq_zero_shot": "6c33fb3ee613f215ed66313a70e3e9995ddd4a464e137c9a3066ba17d2e5375f",
    "singleeq_zero_shot_cot": "51bbcb0c0fcc8f5696cd4cd74d89e46d7e5d9ff8fb2e639c1664254a2ecde251",
    "strategyqa_zero_shot": "cb75bdbe07dbbf8ac7335e8354ee9695d62fabd847ba360491e73a63896f37f6",
    "strategyqa_zero_shot_cot": "9268254c7c2d86a96b0346d64f5b782440b17ded142589d160ebb39e53fde5c9",
    "svamp_zero_shot": "427feff17266ee249ca88b6880840a7e64cf58ad65ff438cc85eb644bfe3b195",
    "svamp_zero_shot_cot": "37043ef358b75e108860746c533d0c9be0f307ec3373959524778f1b8af5a75a",
}

PUBLISHED_SETS = {(KOJIMA_REPO, KOJIMA_REVISION)}
"""The (repository, commit) pairs whose logs are pinned here."""

TASKS_REQUIRING_KOJIMA_SOURCE = ("coin_flip", "last_letters")
"""Generated tasks whose published completions answer Kojima et al.'s released questions only."""

MODEL_NOTE = "text-davinci-002 (OpenAI API, greedy, 128 reasoning / 32 answer tokens)"
MAX_TOKENS = {"reasoning": 128, "answer": 32}
"""Their completion budgets (``max_length`` of their reasoning and answer calls)."""


def log_file(task: str, method: str) -> GitHubFile:
    """The pinned log of ``task`` and ``method`` in Kojima et al.'s repository, or a clear error."""
    check_covered([task], [method])
    name = f"{LOG_NAMES[task]}_{method}"
    return GitHubFile(repo=KOJIMA_REPO, revision=KOJIMA_REVISION, path=f"log/{name}.log", sha256=_LOG_SHA256[name])


def check_covered(tasks: Sequence[str], method_keys: Sequence[str]) -> None:
    """Raise ValueError naming what the published logs hold when a task or method is not among them."""
    bad_methods = [m for m in method_keys if m not in METHODS]
    if bad_methods:
        raise ValueError(f"the published completions hold methods {', '.join(METHODS)} only, not {bad_methods[0]}")
    bad_tasks = [t for t in tasks if t not in LOG_NAMES]
    if bad_tasks:
        raise ValueError(f"the published completions hold tasks {', '.join(LOG_NAMES)} only, not {bad_tasks[0]}")


@dataclass(frozen=True)
class LogEntry:
    """One question of a log: the transcript the model saw and wrote, their cleansed answer and gold."""

    number: int
    transcript: str  # stage 1 (and for zero-shot CoT stage 2) input and output, the answer last
    logged_answer: str  # their pred_before: the answer as their cleansing got it (see _compact)
    cleansed: str  # their cleansed prediction (pred_after)
    gold: str  # their GT

    @property
    def question(self) -> str:
        """The question text, between ``Q: `` and the first ``\\nA: ``."""
        return self.transcript[3 : self.transcript.index("\nA: ")]

    @property
    def correct(self) -> bool:
        """Their correctness test: exact equality of cleansed answer and gold."""
        return self.cleansed == self.gold


# Most logs number their entries ("7st data"); multiarith_zero_shot.log, from an older run, does not.
_ENTRY = re.compile(r"\*{25}\n(?:\d+st data\n)?\d+_th_sampling\n")
_BEFORE, _AFTER, _LIST, _GT = "\npred_before : ", "\npred_after : ", "\npred_list : ", "\nGT : "


def parse_log(text: str) -> list[LogEntry]:
    """Every entry of one of their log files, numbered from 1 in the file's order; a malformed entry is an error."""
    starts = list(_ENTRY.finditer(text))
    entries = []
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        body = text[m.end() : end]
        after, gt = body.rfind(_AFTER), body.rfind(_GT)
        before = body.rfind(_BEFORE, 0, max(after, 0))
        if min(after, gt, before) < 0 or gt < after or not body.startswith("Q: ") or "\nA: " not in body[:before]:
            raise ValueError(f"log entry {i + 1}: not in the format of Kojima et al.'s logs")
        cleansed = body[after + len(_AFTER) : body.index(_LIST, after)]
        gold = body[gt + len(_GT) :].split("\n", 1)[0]
        logged = body[before + len(_BEFORE) : after]
        entries.append(LogEntry(i + 1, body[:before], logged, cleansed, gold.strip()))
    if not entries:
        raise ValueError("no log entries found: not one of Kojima et al.'s log files")
    return entries


def _compact(text: str) -> str:
    # Their logged pred_before is the answer with trailing whitespace and colons dropped (the
    # transcript above it keeps them), so the two are compared without either.
    return re.sub(r"[\s:]", "", text)


def _split(entry: LogEntry, start: int, tail: str, where: str) -> int:
    """Where the answer begins in the transcript: after the occurrence of ``tail`` (at or after
    ``start``) whose remainder is the logged answer. The reasoning may itself write the trigger."""
    at = entry.transcript.find(tail, start)
    while at >= 0:
        if _compact(entry.transcript[at + len(tail) :]) == _compact(entry.logged_answer):
            return at + len(tail)
        at = entry.transcript.find(tail, at + 1)
    raise ValueError(f"{where}: no {tail!r} in the transcript is followed by the logged answer")


def _row(record: dict, entry: LogEntry, method: str, key: str) -> dict:
    """The project's generation row for ``record`` from its log entry, checked character for character."""
    fmt = record["answer_format"]
    stage1 = prompts.build_prompt(methods.get(method), record["question"], answer_format=fmt)
    where = f"{record['id']} (log entry {entry.number})"
    if not entry.transcript.startswith(stage1):
        raise ValueError(f"{where}: the transcript does not start with the project's prompt {stage1!r}")
    common = {"id": record["id"], "key": key, "prompt": stage1, "seconds": 0.0}
    flags = {"prompt_tokens": 0, "generated_tokens": 0, "hit_max_new_tokens": False, "over_context": False}
    if not methods.get(method).two_stage:
        _split(entry, 0, stage1, where)
        answer = entry.transcript[len(stage1) :]
        return {**common, "completion": answer, **flags, "stop_reason": "published"}
    tail = prompts.STAGE2_JOIN + prompts.answer_trigger(fmt)
    begin = _split(entry, len(stage1), tail, where)
    reasoning = entry.transcript[len(stage1) : begin - len(tail)]
    stage2 = prompts.zero_shot_cot_stage2(stage1, reasoning, prompts.answer_trigger(fmt))
    if stage2 != entry.transcript[:begin]:  # the join the project builds must be theirs, character for character
        raise ValueError(f"{where}: the project's stage-2 input differs from the transcript's")
    return {
        **common,
        "completion": reasoning,
        **flags,
        "stop_reason": "published",
        "stage2_prompt": stage2,
        "stage2_completion": entry.transcript[begin:],
        **{f"stage2_{k}": v for k, v in flags.items()},
        "stage2_stop_reason": "published",
    }


def published_rows(entries: Sequence[LogEntry], records: Sequence[dict], method: str, key: str) -> list[dict]:
    """One generation row per record, in record order, from the log entry with the same question.

    A question the log lacks is an error naming it. Repeated questions (a few datasets hold the
    same text twice) are matched in order, an entry with the record's gold first.
    """
    by_question: dict[str, list[LogEntry]] = defaultdict(list)
    for e in entries:
        by_question[e.question].append(e)
    rows = []
    for r in records:
        pool = by_question.get(r["question"])
        if not pool:
            raise ValueError(
                f"question {r['id']} is not in the published log ({len(entries)} entries): "
                f"{r['question'][:80]!r}; the task's prompts differ from theirs"
            )
        entry = next((e for e in pool if e.gold == r["answer"].strip()), pool[0])
        pool.remove(entry)
        row = _row(r, entry, method, key)
        row["published"] = {"entry": entry.number, "prediction": entry.cleansed, "gold": entry.gold}
        rows.append(row)
    return rows


def backend_description(spec: dict) -> dict:
    """The ``backend`` block of a published unit's metadata (what the report's model table reads):
    what is known of the model that wrote the completions, and no engine fields (no engine ran)."""
    return {
        "parameters": int(spec.get("parameters", 175_000_000_000)),
        "dtype": "n/a",
        "device_name": "published completions (no generation)",
        "context_length": None,
        "decoding": {"strategy": "greedy (temperature 0, their API call)", "max_tokens": "128 reasoning, 32 answer"},
    }


def manifest(model: str, spec: dict, logs: Sequence[Path]) -> dict:
    """The model manifest of a published-completions source: repository, commit and each log file's sha256."""
    from cotrepro.io import sha256_file
    from cotrepro.provenance import utc_now

    return {
        "model": model,
        "source": "published",
        "repo": spec["repo"],
        "requested_revision": spec["revision"],
        "resolved_revision": spec["revision"],
        "files": [{"name": p.name, "size": p.stat().st_size, "sha256": sha256_file(p)} for p in logs],
        "written_at": utc_now(),
    }
