# The paper: LaTeX fragments from the same tables as the report (written while the figures are
# drawn), then the PDF (latexmk) once both are there.


rule paper_fragments:
    input:
        accuracy="results/accuracy.csv",
        significance="results/significance.csv",
        transcripts="results/transcripts.json",
        paths="results/accuracy_vs_paths.csv",
        selection="results/selection.csv",
        verification_meta=SAMPLED_VERIFICATION_META,
        calibration=CALIBRATION,
        batch_invariance=BATCH_INVARIANCE_TABLE,
        published=repo_file(REPO / config["published"]),
        meta=GENERATION_META,
        tasks=TASK_PROVENANCE,
        disagreements="results/extraction_disagreements.csv",
        code=code(
            "outputs/paper.py",
            "answers.py",
            "methods.py",
            "outputs/__init__.py",
            "outputs/ablations.py",
            "outputs/calibration.py",
            "outputs/exemplar_sources.py",
            "outputs/latex.py",
            "outputs/loader.py",
            "outputs/published.py",
            "outputs/sizes.py",
            "outputs/strategies.py",
            "outputs/tables.py",
            "outputs/transcripts.py",
            "prompts.py",
            "rows.py",
            "scoring/disagreements.py",
            "scoring/extract.py",
            "scoring/math_answers.py",
            "scoring/metrics.py",
            "scoring/score.py",
            "scoring/self_consistency.py",
            "variants.py",
        ),
    output:
        directory("results/paper/fragments"),
    log:
        "logs/paper_fragments.log",
    params:
        demo=config["demo"],
        notes={m: SPECS[m].get("training_data_note", "") for m in MODELS},
    script:
        "../scripts/paper_fragments.py"


rule paper:
    input:
        main=repo_file(REPO / "paper/main.tex"),
        bib=repo_file(REPO / "paper/references.bib"),
        fragments="results/paper/fragments",
        figures=[f for f in FIGURES if f.endswith(".pdf")],
        code=code(
            "outputs/latex.py",
            "methods.py",
            "outputs/__init__.py",
        ),
    output:
        pdf=report("results/paper/paper.pdf", caption="../report/paper.rst", category="Paper"),
    log:
        "logs/paper.log",
    script:
        "../scripts/paper.py"
