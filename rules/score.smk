# Scoring: answers extracted in both styles (paper-faithful "kojima" and "robust"), then accuracy
# and the paired tests between methods.
# Editing the extractor reruns these rules and the report, never generation. The prompts module
# (which holds "The answer is", read by the extractor) is not listed: any edit to it reruns
# generation, and so extraction after it.


rule extract:
    input:
        rows="results/generations/{model}/{task}/{method}.jsonl",
        task="results/tasks/{task}.jsonl",
        code=code("scoring/extract.py", "scoring/score.py", "methods.py"),
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
        code=code("scoring/aggregate.py", "scoring/metrics.py"),
    output:
        report("results/accuracy.csv", caption="../report/accuracy.rst", category="Tables"),
    log:
        "logs/aggregate.log",
    script:
        "../scripts/aggregate.py"


rule significance:
    input:
        scores=SCORES,
        code=code("scoring/significance.py", "scoring/metrics.py", "methods.py"),
    output:
        "results/significance.csv",
    log:
        "logs/significance.log",
    script:
        "../scripts/significance.py"
