"""Snakemake script: the LaTeX fragments, then the PDF built by latexmk."""

from pathlib import Path

from cotrepro.joblog import log_to
from cotrepro.outputs.latex import build_pdf
from cotrepro.outputs.paper import PaperInputs, write_fragments

log_to(snakemake.log[0])
i, out = snakemake.input, Path(snakemake.output.pdf)
fragments = out.parent / "fragments"
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
    ),
    fragments,
)
figures = sorted({Path(p).parent for p in i.figures})
build_pdf(Path(i.main), search_dirs=[fragments, *figures], out_pdf=out, build_dir=out.parent / "build")
