# Figures, example transcripts and the self-contained HTML report, built from results/accuracy.csv,
# the paired tests and the provenance files.


FIGURE_CAPTIONS = {
    "scaling": "Accuracy against model size",
    "methods": "Methods per model and task",
    "compute": "Test-time compute",
    "failures": "Failure fractions",
    "paths": "Accuracy against sampled paths",
    "strategies": "Choosers against sampled paths",
    "flops": "Accuracy against FLOPs per question",
}


rule figures:
    input:
        accuracy="results/accuracy.csv",
        paths="results/accuracy_vs_paths.csv",
        selection="results/selection.csv",
        published=repo_file(REPO / config["published"]),
        code=code(
            "outputs/plots.py",
            "methods.py",
            "outputs/__init__.py",
            "outputs/published.py",
            "outputs/sizes.py",
            "outputs/strategies.py",
        ),
    output:
        # Marked for `snakemake --report`, each with its caption from report/.
        [
            report(
                f,
                caption=f"../report/{Path(f).stem}.rst",
                category="Figures",
                labels={"figure": FIGURE_CAPTIONS[Path(f).stem], "format": Path(f).suffix[1:]},
            )
            for f in FIGURES
        ],
    log:
        "logs/figures.log",
    script:
        "../scripts/figures.py"


rule transcripts:
    input:
        generations=COT_GENERATIONS,
        scores=scores_of(COT_GENERATIONS),
        records=TASK_RECORDS,
        code=code(
            "outputs/transcripts.py",
            "methods.py",
            "outputs/__init__.py",
        ),
    output:
        "results/transcripts.json",
    log:
        "logs/transcripts.log",
    params:
        models=MODELS,
        tasks=TASK_KEYS,
    script:
        "../scripts/transcripts.py"


rule calibration:
    input:
        generations=PUBLISHED_GENERATIONS,
        scores=scores_of(PUBLISHED_GENERATIONS),
        published=repo_file(REPO / config["published"]),
        code=code(
            "outputs/calibration.py",
            "methods.py",
            "outputs/__init__.py",
        ),
    output:
        "results/calibration.csv",
    log:
        "logs/calibration.log",
    script:
        "../scripts/calibration.py"


rule report:
    input:
        accuracy="results/accuracy.csv",
        figures=FIGURES,
        published=repo_file(REPO / config["published"]),
        meta=GENERATION_META,
        manifests=MANIFESTS,
        tasks=TASK_PROVENANCE,
        significance="results/significance.csv",
        transcripts="results/transcripts.json",
        paths="results/accuracy_vs_paths.csv",
        selection="results/selection.csv",
        verification_meta=SAMPLED_VERIFICATION_META,
        calibration=CALIBRATION,
        agreement=AGREEMENT_FILES,
        disagreements="results/extraction_disagreements.csv",
        batch_invariance=BATCH_INVARIANCE_TABLE,
        code=code(
            "outputs/report.py",
            "outputs/report.html.j2",
            "answers.py",
            "methods.py",
            "outputs/__init__.py",
            "outputs/ablations.py",
            "outputs/calibration.py",
            "outputs/exemplar_sources.py",
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
        "results/report.html",
    log:
        "logs/report.log",
    params:
        demo=config["demo"],
        notes={m: SPECS[m].get("training_data_note", "") for m in MODELS},
    script:
        "../scripts/report.py"
