# Figures and the self-contained HTML report, built from results/accuracy.csv and the provenance files.


FIGURE_CAPTIONS = {"scaling": "Accuracy against model size", "methods": "Methods per model and task",
                   "compute": "Test-time compute", "failures": "Failure fractions"}


rule figures:
    input:
        accuracy="results/accuracy.csv",
        published=repo_file(REPO / config["published"]),
        code=code("plots.py"),
    output:
        # Marked for `snakemake --report`, each with its caption from report/.
        [report(f, caption=f"../report/{Path(f).stem}.rst", category="Figures",
                labels={"figure": FIGURE_CAPTIONS[Path(f).stem], "format": Path(f).suffix[1:]})
         for f in FIGURES],
    log:
        "logs/figures.log",
    script:
        "../scripts/figures.py"


rule report:
    input:
        accuracy="results/accuracy.csv",
        figures=FIGURES,
        published=repo_file(REPO / config["published"]),
        meta=GENERATION_META,
        generations=GENERATIONS,
        manifests=MANIFESTS,
        tasks=TASK_PROVENANCE,
        significance="results/significance.csv",
        transcripts="results/paper/transcripts.json",
        code=code("report.py", "plots.py", "transcripts.py"),
    output:
        "results/report.html",
    params:
        demo=config["demo"],
        notes={m: SPECS[m].get("training_data_note", "") for m in MODELS},
    log:
        "logs/report.log",
    script:
        "../scripts/report.py"
