# Scoring: answers extracted in both styles (paper-faithful "kojima" and "robust"), then accuracy.
# Editing the extractor reruns these rules and the report, never generation.


rule extract:
    input:
        rows="results/generations/{model}/{task}/{method}.jsonl",
        task="results/tasks/{task}.jsonl",
        code=code("extract.py", "prompts.py", "scoring.py"),
    output:
        "results/scores/{model}/{task}/{method}.jsonl",
    log:
        "logs/extract/{model}/{task}/{method}.log",
    script:
        "../scripts/extract.py"


rule aggregate:
    input:
        scores=SCORES,
        meta=GENERATION_META,
        code=code("aggregate.py", "metrics.py"),
    output:
        report("results/accuracy.csv", caption="../report/accuracy.rst", category="Tables"),
    log:
        "logs/aggregate.log",
    script:
        "../scripts/aggregate.py"
