# The paper: LaTeX fragments from the same tables as the report, and the PDF (latexmk).


rule paper:
    input:
        main=repo_file(REPO / "paper/main.tex"),
        bib=repo_file(REPO / "paper/references.bib"),
        accuracy="results/accuracy.csv",
        significance="results/significance.csv",
        transcripts="results/transcripts.json",
        published=repo_file(REPO / config["published"]),
        figures=[f for f in FIGURES if f.endswith(".pdf")],
        meta=GENERATION_META,
        tasks=TASK_PROVENANCE,
        code=code("outputs/paper.py", "outputs/tables.py", "outputs/latex.py", "outputs/plots.py", "methods.py"),
    output:
        pdf=report("results/paper/paper.pdf", caption="../report/paper.rst", category="Paper"),
    log:
        "logs/paper.log",
    params:
        demo=config["demo"],
        notes={m: SPECS[m].get("training_data_note", "") for m in MODELS},
    script:
        "../scripts/paper.py"
