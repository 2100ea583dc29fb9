"""Snakemake script: the self-consistency score files (and any verification files of their units)
-> results/selection.csv, every chooser at every number of paths, and results/selection_choices.jsonl,
every chooser's choice per question."""

from pathlib import Path

from cotrepro.io import atomic_write_text, read_json, read_jsonl, run_key, write_jsonl
from cotrepro.joblog import log_to, stop
from cotrepro.scoring.selection import StaleVerification, choice_rows, selection_table

log_to(snakemake.log[0])
verifications: dict[tuple, list] = {}
for path in map(Path, snakemake.input.verifications):
    # results/verifications/{verifier}/{model}/{task}/{method}.jsonl, beside its .meta.json
    unit = run_key(path)
    meta = read_json(path.with_name(path.name.removesuffix(".jsonl") + ".meta.json"))
    verifications.setdefault(unit, []).append((path, meta, read_jsonl(path)))


def parts():
    for scores, meta in zip(snakemake.input.scores, snakemake.input.meta, strict=True):
        unit = run_key(scores)
        key = dict(zip(("model", "task", "method"), unit, strict=True))
        yield key, read_jsonl(Path(scores)), read_json(Path(meta))["backend"]["parameters"], verifications.get(unit, [])


units = list(parts())
try:
    table = selection_table(units, seed=snakemake.params.seed)
    choices = choice_rows(units)
except StaleVerification as err:
    stop(err)
atomic_write_text(Path(snakemake.output.table), table.to_csv(index=False))
write_jsonl(Path(snakemake.output.choices), choices)
