"""Few-shot exemplar sets: Wei et al.'s, downloaded from a pinned source, or the project's own.

Every set is normalised to a list of ``{"question", "rationale", "answer"}``; the few_shot
method uses only question and answer, few_shot_cot all three.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from cotrepro.data.sources import GitHubFile

PROJECT_SETS_DIR = "config/exemplars"
"""Where the project's own sets live, relative to the repository root (``{name}.yaml``)."""

REMOTE_SETS: dict[str, GitHubFile] = {
    # Wei et al. (2022)'s eight GSM8K chain-of-thought exemplars, as lm-evaluation-harness ships them.
    "wei2022-gsm8k": GitHubFile(
        repo="EleutherAI/lm-evaluation-harness",
        revision="4e7e0d47f33bc71070c1d38394bafbb52b117163",
        path="lm_eval/tasks/gsm8k/gsm8k-cot.yaml",
        sha256="7c9dd2561fe334a55f62bdc6a876f045e6dc7f53714c7a9db506b89c6de6bc96",
    ),
}


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


def parse_project_set(text: str) -> list[dict]:
    """Exemplars from one of the project's own YAML sets (``exemplars: [{question, rationale, answer}]``)."""
    doc = yaml.safe_load(text)
    items = doc.get("exemplars") if isinstance(doc, dict) else None
    if not items:
        raise ValueError("exemplar set has no 'exemplars' list")
    out = []
    for i, e in enumerate(items):
        missing = {"question", "rationale", "answer"} - set(e)
        if missing:
            raise ValueError(f"exemplar {i} lacks {', '.join(sorted(missing))}")
        out.append(
            {
                "question": str(e["question"]).strip(),
                "rationale": str(e["rationale"]).strip(),
                "answer": str(e["answer"]).strip(),
            }
        )
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

    text = Path(source).read_text(encoding="utf-8")
    if name in REMOTE_SETS:
        remote = REMOTE_SETS[name]
        items, origin, where = parse_lm_eval_fewshot(text), "downloaded", remote.describe()
    else:
        items, origin, where = parse_project_set(text), "project", f"cotrepro:{PROJECT_SETS_DIR}/{name}.yaml"
    doc = {"name": name, "origin": origin, "source": where, "sha256": sha256_file(source), "exemplars": items}
    write_json(out_path, doc)
    return doc
