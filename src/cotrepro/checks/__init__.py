"""The project's self-audits of its own generation, each with its scoring: two backends on the same
prompts (:mod:`~cotrepro.checks.agreement`) and a unit's questions again at batch size one
(:mod:`~cotrepro.checks.batch_invariance`). A leaf: only the workflow's scripts import it."""
