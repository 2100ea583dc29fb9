"""Snakemake script: the paper's LaTeX fragments (tables and numbers) from the results."""

from pathlib import Path

from cotrepro.joblog import log_to
from cotrepro.outputs.paper import PaperInputs, write_fragments

log_to(snakemake.log[0])
i = snakemake.input
write_fragments(
    PaperInputs.from_paths(
        accuracy=Path(i.accuracy),
        significance=Path(i.significance),
        published=Path(i.published),
        metas=[Path(p) for p in i.meta],
        tasks=[Path(p) for p in i.tasks],
        transcripts=Path(i.transcripts),
        demo=snakemake.params.demo,
        model_notes=dict(snakemake.params.notes),
        paths=Path(i.paths),
        # Made only with a published-completions model (a list of one file, else empty).
        calibration=Path(i.calibration[0]) if i.calibration else None,
        disagreements=Path(i.disagreements),
        # Made only when the batch-invariance check runs (a list of one file, else empty).
        batch_invariance=Path(i.batch_invariance[0]) if i.batch_invariance else None,
    ),
    Path(snakemake.output[0]),
)
