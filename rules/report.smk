# Figures and the self-contained HTML report, built from results/accuracy.csv and the provenance files.


rule figures:
    input:
        accuracy="results/accuracy.csv",
        code=code("plots.py"),
    output:
        FIGURES,
    log:
        "logs/figures.log",
    script:
        "../scripts/figures.py"


rule report:
    input:
        accuracy="results/accuracy.csv",
        figures=FIGURES,
        published=str(REPO / config["published"]),
        meta=GENERATION_META,
        generations=GENERATIONS,
        manifests=MANIFESTS,
        tasks=expand("results/tasks/{task}.provenance.json", task=TASK_KEYS),
        code=code("report.py", "plots.py"),
    output:
        "results/report.html",
    params:
        demo=config["demo"],
        notes={m: SPECS[m].get("training_data_note", "") for m in MODELS},
    log:
        "logs/report.log",
    script:
        "../scripts/report.py"
