# Verification: each verifier scores the stored paths of the units config key verify gives it, one
# job a verifier loading its model once (kind self: the generating models, each once). Changing a
# verifier reruns its job, never generation; the job reuses every row whose generation key and
# verifier fingerprint are unchanged (a PRM's step scores are kept, so a new aggregate runs no
# model), and resumes from its journals after a kill, as generation does.

from cotrepro.models.weights_check import damage_marker, mark_damaged_tiny_models


rule download_verifier:
    input:
        # The remote-code check it makes when the plan could not reach the Hub.
        code=backend_code("download_verifier.py", ["hf"]),
    output:
        "resources/verifiers/{verifier}.json",
    log:
        "logs/download_verifier/{verifier}.log",
    wildcard_constraints:
        verifier=one_of(verifiers_with_source("hub")),
    # Compute nodes often have no internet: downloads run where Snakemake itself runs.
    localrule: True
    params:
        repo=lambda w: VERIFIERS[w.verifier]["repo"],
        revision=lambda w: VERIFIERS[w.verifier]["revision"],
    script:
        "../scripts/download_verifier.py"


# A tiny verifier's folder deleted or edited after it was built is built again, as a tiny model's is
# (rules/models.smk): its damage marker, an input of the build, is rewritten.
if workflow.is_main_process and not workflow.remote_exec:
    for verifier, problem in mark_damaged_tiny_models(
        verifiers_with_source("tiny"), Path("resources/verifiers")
    ).items():
        print(f"{problem}; building it again", file=sys.stderr)


rule build_tiny_verifier:
    input:
        code=code("models/tiny.py"),
        damaged=lambda w: local(str(damage_marker(Path("resources/verifiers"), w.verifier))),
    output:
        manifest="resources/verifiers/{verifier}.json",
        weights=directory("resources/verifiers/tiny/{verifier}"),
    log:
        "logs/build_tiny_verifier/{verifier}.log",
    wildcard_constraints:
        verifier=one_of(verifiers_with_source("tiny")),
    params:
        kind=lambda w: VERIFIERS[w.verifier]["kind"],
        seed=0,
    script:
        "../scripts/build_tiny_verifier.py"


rule verify:
    input:
        manifests=lambda w: list(verifier_manifests(w.verifier).values()),
        weights=verifier_weights,
        generations=VERIFY_GENERATIONS,
        tasks=TASK_RECORDS,
        code=backend_code("verify.py", ["hf"]),
    output:
        rows=kept_for_reuse(UNIT_VERIFICATIONS),
        meta=kept_for_reuse(UNIT_VERIFICATION_META),
    log:
        "logs/verify/{verifier}.log",
    wildcard_constraints:
        verifier=one_of(VERIFIED),
    threads: config["generation"]["threads"]
    resources:
        gpu=0 if config["generation"]["device"] == "cpu" else 1,
    params:
        spec=lambda w: VERIFIERS[w.verifier],
        manifests=lambda w: verifier_manifests(w.verifier),
        architectures={m: SPECS[m].get("architecture") for m in MODELS},
    script:
        "../scripts/verify.py"
