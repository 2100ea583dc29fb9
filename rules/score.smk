# Scoring: answers extracted in both styles (paper-faithful "kojima" and "robust"), then accuracy
# and the paired tests between methods.
# Editing the extractor reruns these rules and the report, never generation. The prompts module
# (which holds "The answer is", read by the extractor) is not listed: any edit to it reruns
# generation, and so extraction after it.
# One extract job a model, as for generation: one job writes all of a model's generation files, so
# they change together, and a job per file would add only process start-ups (about a second each).


rule extract:
    input:
        rows=UNIT_GENERATIONS,
        # Each unit's question count, against which its rows are checked (cotrepro.row_integrity).
        meta=UNIT_GENERATION_META,
        tasks=TASK_RECORDS,
        code=code(*SCORER, "row_integrity.py"),
    output:
        UNIT_SCORES,
    log:
        "logs/extract/{model}.log",
    script:
        "../scripts/extract.py"


rule aggregate:
    input:
        scores=SCORES,
        meta=GENERATION_META,
        code=code("scoring/aggregate.py", "scoring/metrics.py", *EXTRACTOR),
    output:
        report("results/accuracy.csv", caption="../report/accuracy.rst", category="Tables"),
    log:
        "logs/aggregate.log",
    script:
        "../scripts/aggregate.py"


rule significance:
    input:
        scores=SCORES,
        code=code("scoring/significance.py", "scoring/metrics.py", *EXTRACTOR),
    output:
        "results/significance.csv",
    log:
        "logs/significance.log",
    script:
        "../scripts/significance.py"


rule paths_curve:
    input:
        scores=SAMPLED_SCORES,
        code=code("scoring/self_consistency.py", "scoring/metrics.py", *EXTRACTOR),
    output:
        report("results/accuracy_vs_paths.csv", caption="../report/paths_table.rst", category="Tables"),
    log:
        "logs/paths_curve.log",
    params:
        seed=config["sampling"]["seed"],
    script:
        "../scripts/paths_curve.py"


# Every chooser (majority, Wang et al.'s weighted votes, best-of-N by each verifier, coverage) on the
# same stored paths: editing a chooser reruns this and what shows it, never generation or extraction.
rule selection:
    input:
        scores=SAMPLED_SCORES,
        meta=SAMPLED_META,
        verifications=SAMPLED_VERIFICATIONS,
        code=code(
            "scoring/selection.py",
            "scoring/choosers.py",
            "scoring/self_consistency.py",
            "scoring/metrics.py",
            *EXTRACTOR,
        ),
    output:
        table="results/selection.csv",
        # Each chooser's choice per question from all its paths: a test recomputes every one by hand.
        choices="results/selection_choices.jsonl",
    log:
        "logs/selection.log",
    params:
        seed=config["sampling"]["seed"],
    script:
        "../scripts/selection.py"


# The items whose two extraction styles disagree, each with its cause, read from the text the
# extractors saw; the report and the paper count them beside each accuracy.
rule disagreements:
    input:
        generations=GENERATIONS,
        scores=SCORES,
        tasks=TASK_RECORDS,
        code=code("scoring/disagreements.py", "row_integrity.py", *SCORER),
    output:
        report(
            "results/extraction_disagreements.csv",
            caption="../report/disagreements.rst",
            category="Tables",
        ),
    log:
        "logs/disagreements.log",
    script:
        "../scripts/disagreements.py"
