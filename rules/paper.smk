# The paper: paired tests, example transcripts, LaTeX fragments and the PDF (latexmk).


rule significance:
    input:
        scores=SCORES,
        code=code("significance.py", "metrics.py"),
    output:
        "results/significance.csv",
    log:
        "logs/significance.log",
    script:
        "../scripts/significance.py"


rule transcripts:
    input:
        generations=COT_GENERATIONS,
        scores=scores_of(COT_GENERATIONS),
        records=TASK_RECORDS,
        code=code("transcripts.py"),
    output:
        "results/paper/transcripts.json",
    params:
        models=MODELS,
        tasks=TASK_KEYS,
    log:
        "logs/transcripts.log",
    script:
        "../scripts/transcripts.py"


rule paper:
    input:
        main=repo_file(REPO / "paper/main.tex"),
        bib=repo_file(REPO / "paper/references.bib"),
        accuracy="results/accuracy.csv",
        significance="results/significance.csv",
        transcripts="results/paper/transcripts.json",
        published=repo_file(REPO / config["published"]),
        figures=[f for f in FIGURES if f.endswith(".pdf")],
        meta=GENERATION_META,
        tasks=TASK_PROVENANCE,
        code=code("paper.py", "latex.py", "plots.py"),
    output:
        pdf=report("results/paper/paper.pdf", caption="../report/paper.rst", category="Paper"),
    params:
        demo=config["demo"],
        notes={m: SPECS[m].get("training_data_note", "") for m in MODELS},
    log:
        "logs/paper.log",
    script:
        "../scripts/paper.py"
