"""Snakemake script: the self-contained HTML report."""

from pathlib import Path

from cotrepro.joblog import log_to
from cotrepro.outputs.report import ReportInputs, write_report

log_to(snakemake.log[0])
i = snakemake.input
write_report(
    ReportInputs(
        accuracy=Path(i.accuracy),
        figures=[Path(p) for p in i.figures],
        published=Path(i.published),
        generation_meta=[Path(p) for p in i.meta],
        generations=[Path(p) for p in i.generations],
        manifests=[Path(p) for p in i.manifests],
        task_provenance=[Path(p) for p in i.tasks],
        demo=snakemake.params.demo,
        model_notes=dict(snakemake.params.notes),
        significance=Path(i.significance),
        transcripts=Path(i.transcripts),
        paths=Path(i.paths),
        # Made only with a published-completions model (a list of one file, else empty).
        calibration=Path(i.calibration[0]) if i.calibration else None,
        agreement=[Path(p) for p in i.agreement],
        disagreements=Path(i.disagreements),
        # Made only when the batch-invariance check runs (a list of one file, else empty).
        batch_invariance=Path(i.batch_invariance[0]) if i.batch_invariance else None,
    ),
    Path(snakemake.output[0]),
)
