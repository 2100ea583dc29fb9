# Shared set-up: the library on the path, the validated config, and helpers for rule inputs.

import os
import re
import sys
from pathlib import Path

REPO = Path(workflow.basedir)
SRC = REPO / "src"
# Scripts run in their own interpreter; PYTHONPATH makes them import this checkout's library,
# the same files the rules declare as inputs.
sys.path.insert(0, str(SRC))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p)


# Declared so that cluster executors pass it on to the jobs they submit.
envvars:
    "PYTHONPATH",


from cotrepro import methods
from cotrepro.archive import ArchiveError, check_covers, read_index
from cotrepro.config import apply_command_line, check_config_files, validate_config
from cotrepro.errors import ConfigError
from cotrepro.joblog import disk_full_line
from cotrepro.plan import batch_invariance, exemplar_set_for, generation_units, run_units, task_settings, unit_settings
from cotrepro.plan import verification_files as unit_verification_files
from cotrepro.plan import verified_units
from cotrepro.variants import variant_settings
from cotrepro.data.exemplars import REMOTE_SETS, project_set_path
from cotrepro.data.tasks import TASKS
from cotrepro.models import published
from cotrepro.generation.gpu_slots import visible_devices
from cotrepro.code_digest import backend_stops, import_closure
from cotrepro.models.hub import ModelDownloadError, check_gated_access, gated_not_downloaded
from cotrepro.models.verifier_config import verifier_config
from cotrepro.engine.hf.verifier_scores import refuse_remote_code
from cotrepro.outputs import figure_names

try:
    # Snakemake leaves --config's nested scalars strings (and null the string 'null'): as YAML, they
    # mean what a config file would.
    check_config_files(workflow.configfiles)
    apply_command_line(config, workflow.config_settings.config_args)
    validate_config(config, REPO)
except ConfigError as err:
    # One clear message and a non-zero exit, before any job is scheduled.
    sys.exit(f"invalid configuration: {err}")

FROM_ARCHIVE = config["from_archive"]
if FROM_ARCHIVE and config["verifiers"] and config["verify"].get("verifiers") != []:
    # An archive holds generations, not verifications, and a rebuild loads no model: the verifier
    # choosers are left out, and said so.
    print(
        f"from_archive: the verifiers ({', '.join(config['verifiers'])}) do not run in a rebuild from an "
        "archive; selection.csv has no best_of_n or weighted_best_of_n rows",
        file=sys.stderr,
    )
    config["verify"]["verifiers"] = []
if FROM_ARCHIVE:
    try:
        check_covers(read_index(FROM_ARCHIVE), config["models"], run_units(config), FROM_ARCHIVE)
    except ArchiveError as err:
        sys.exit(f"invalid configuration: config key 'from_archive': {err}")

MODELS = config["models"]
TASK_KEYS = config["tasks"]
METHODS = config["methods"]
SPECS = config["model_specs"]
TASK_DATASETS = {t: TASKS[t].dataset_for(task_settings(config, t)) for t in TASK_KEYS}
"""Task -> the dataset it reads under this config (a task setting may pick an alternative)."""
DATASETS = {d.key: d for d in TASK_DATASETS.values()}
AGREEMENT = None if FROM_ARCHIVE else config["agreement"]
"""The backend agreement check (config key agreement), or None."""
AGREEMENT_FILES = [f"results/agreement/{AGREEMENT['model']}.json"] if AGREEMENT else []
BATCH_INVARIANCE = None if FROM_ARCHIVE else batch_invariance(config)
"""The batch-size invariance check (config key batch_invariance, resolved: task, method, questions,
seed, models), or None."""
BATCH_INVARIANCE_TABLE = ["results/batch_invariance.csv"] if BATCH_INVARIANCE else []

# A gated model (meta-llama) is downloaded only with a token of an account that accepted its licence:
# checked here, once, before any job, for the gated models not downloaded yet (the main process
# only: a cluster job's own Snakemake needs no token and may have no internet).
if workflow.is_main_process and not FROM_ARCHIVE:
    try:
        check_gated_access(
            gated_not_downloaded(
                SPECS, [*MODELS, *([AGREEMENT["model"]] if AGREEMENT else [])], Path("resources/models")
            )
        )
    except ModelDownloadError as err:
        sys.exit(f"gated model: {err}")

VERIFIERS = config["verifiers"]
VERIFIED = verified_units(config)
"""Verifier slug -> the (task, method) units it scores (config keys verifiers, verify)."""

# A Hub verifier whose config.json needs remote code is refused here, before any job (its config is
# read from the download, or that one file fetched at the pinned revision; the main process only).
# Where the Hub cannot be reached (an offline dry run) the download job refuses it instead, before
# its weights are loaded anywhere.
if workflow.is_main_process:
    for slug in VERIFIED:
        spec = VERIFIERS[slug]
        if spec["kind"] != "self" and spec["source"] == "hub":
            try:
                refuse_remote_code(slug, verifier_config(spec, Path(f"resources/verifiers/{slug}.json")))
            except ModelDownloadError as err:
                print(f"verifier {slug}: {err}; its download job checks it for remote code", file=sys.stderr)
            except ValueError as err:  # the line names the verifier and why
                sys.exit(f"invalid configuration: {err}")


def code(*modules):
    """Library modules that decide a rule's output, declared as inputs so that editing one reruns the rule.

    Each rule lists the modules its script imports, directly or through each other, less the
    plumbing that cannot change an output's content (cotrepro.code_digest.PLUMBING, that is file
    I/O, logging, provenance, locating downloaded files), since Snakemake reruns everything
    downstream of a rerun job. tests/workflow/test_cache_lists.py holds every list to the imports.
    """
    return [repo_file(SRC / "cotrepro" / m) for m in modules]


EXTRACTOR = ("scoring/extract.py", "scoring/math_answers.py", "answers.py", "prompts.py", "methods.py")
"""The answer extraction in both styles, with the answer formats and prompt phrases it reads."""
SCORER = (*EXTRACTOR, "scoring/score.py", "scoring/self_consistency.py", "scoring/metrics.py", "rows.py")
"""Scoring a generations file: the extraction, the correctness test, the self-consistency vote."""


def backend_code(script, backends):
    """code(...) of every module a script that runs ``backends`` imports, for the jobs that run a
    model (every import of theirs shapes their output, and their rows carry a digest of that code in
    their keys, see cotrepro.code_digest), less the other backends' code: editing the served client
    reruns no in-process generation or check, nor editing the transformers engine a served one."""
    stops = backend_stops(backends)
    return code(*import_closure([REPO / "scripts" / script], SRC / "cotrepro", stop=stops))


def model_code(script):
    """backend_code(script) for the backend of the job's model."""
    return lambda wildcards: backend_code(script, [SPECS[wildcards.model]["backend"]])


def model_weights(wildcards):
    """A tiny model's weights folder, an input of its generation so that a deleted folder is built
    again before anything generates (a hub model's files live in HF_HOME, checked by the job)."""
    return [f"resources/models/tiny/{wildcards.model}"] if SPECS[wildcards.model]["source"] == "tiny" else []


def repo_file(path):
    """A file of this repository as an input. Marked local, so that with a default storage
    provider (Kubernetes) it is read from the checkout, not looked for in the bucket."""
    return local(str(path))


def one_of(values):
    """A wildcard constraint matching exactly one of ``values`` (nothing when empty)."""
    return "|".join(re.escape(v) for v in values) or "(?!)"


def models_with_source(source):
    """The configured models whose weights come from ``source`` (hub or tiny)."""
    return [m for m in SPECS if SPECS[m]["source"] == source]


# One generation job per GPU: unless --resources gpu=N (or a profile) says otherwise, the machine's
# visible GPUs are the `gpu` resource; each job then claims its own device (cotrepro.generation.gpu_slots).
# Without a visible GPU (a CPU machine; also the login node while a cluster run plans its DAG) jobs
# claim no device, so the count must neither serialize CPU jobs nor cut a job's request (Snakemake
# caps a request at the count): then it is every GPU the configured models ask for, and --cores
# (generation.threads each) decides how many generation jobs run side by side.
if workflow.local_exec and "gpu" not in workflow.global_resources:
    workflow.register_resource("gpu", len(visible_devices()) or max(1, sum(SPECS[m]["gpus"] for m in MODELS)))


def kept_for_reuse(paths):
    """A generation job's outputs, flagged update(): Snakemake keeps them when the job reruns (and puts
    them back if it fails), so that the job reuses their rows. Not where a default storage provider
    holds every file (the Kubernetes profile): a job's pod would not see them, and Snakemake backs an
    update() output up from its local copy, which such a run deletes once it is uploaded."""
    return paths if workflow.storage_settings.default_storage_provider else update(paths)


def generation_gpus(wildcards):
    """GPUs a generation job asks for: none on a CPU-only config or for a served model at a base_url
    (its server runs elsewhere: a hosted API, or one the user started), else the model's count (a
    server the job starts with its serve command runs on the job's GPUs)."""
    spec = SPECS[wildcards.model]
    elsewhere = spec["backend"] == "served" and not spec.get("serve")
    return 0 if config["generation"]["device"] == "cpu" or elsewhere else spec["gpus"]


VARIANTS = variant_settings(config)
"""The run's ablation variants (trigger, exemplar order, prompt format): key -> what it changes."""


wildcard_constraints:
    model=one_of(SPECS),
    task=one_of(TASKS),
    method=one_of([*methods.all_keys(), *VARIANTS]),


UNITS = run_units(config)
"""The (task, method) units of the run: every task with every method, unless method_tasks narrows a method."""
UNIT_GENERATIONS = [f"results/generations/{{model}}/{t}/{m}.jsonl" for t, m in UNITS]
"""One model's generations files, one a (task, method) unit: what its generation job writes."""
UNIT_GENERATION_META = [p.removesuffix(".jsonl") + ".meta.json" for p in UNIT_GENERATIONS]
GENERATIONS = [p.format(model=m) for m in MODELS for p in UNIT_GENERATIONS]
GENERATION_META = [p.format(model=m) for m in MODELS for p in UNIT_GENERATION_META]


def scores_of(generations):
    """The score files extracted from these generation files."""
    return [p.replace("results/generations/", "results/scores/", 1) for p in generations]


SCORES = scores_of(GENERATIONS)
UNIT_SCORES = scores_of(UNIT_GENERATIONS)
"""One model's score files, one a (task, method) unit: what its extract job writes."""
MANIFESTS = expand("resources/models/{model}.json", model=MODELS)
FIGURES = expand("results/figures/{name}.{ext}", name=figure_names(METHODS), ext=["png", "pdf"])
TASK_RECORDS = expand("results/tasks/{task}.jsonl", task=TASK_KEYS)
TASK_PROVENANCE = expand("results/tasks/{task}.provenance.json", task=TASK_KEYS)
PUBLISHED_GENERATIONS = [p for p in GENERATIONS if SPECS[Path(p).parts[2]]["source"] == "published"]
"""The generation files of published-completions models, which the calibration table re-scores."""
CALIBRATION = ["results/calibration.csv"] if PUBLISHED_GENERATIONS else []
"""The calibration table, made only when a published-completions model is configured (the report and
the paper show it then)."""
COT_GENERATIONS = [
    p
    for p in GENERATIONS
    if methods.get(Path(p).stem).reasoning and not (methods.get(Path(p).stem).samples or Path(p).stem in VARIANTS)
]
"""The greedy chain-of-thought generations, whose transcripts the report and paper show (the
ablation variants' are in their own files)."""
SAMPLED_SCORES = [p for p in SCORES if methods.get(Path(p).stem).samples]
"""The self-consistency score files (one row a question, with every path's answer)."""
SAMPLED_META = [
    p.replace("results/scores/", "results/generations/").removesuffix(".jsonl") + ".meta.json" for p in SAMPLED_SCORES
]
"""Their units' generation metadata (the generating model's parameter count, for FLOPs)."""
SAMPLED_VERIFICATIONS = [
    f for p in SAMPLED_SCORES for f in unit_verification_files(config, *Path(p).with_suffix("").parts[-3:])
]
"""The verification files of those units (the contract in cotrepro.rows), one per verifier."""
SAMPLED_VERIFICATION_META = [f.removesuffix(".jsonl") + ".meta.json" for f in SAMPLED_VERIFICATIONS]
"""Their metadata (the verifier's weights, revision, licence), which the report and the paper show."""
VERIFY_UNITS = sorted({u for units in VERIFIED.values() for u in units})
"""The (task, method) units any verifier scores (every verifier scores the same ones)."""
UNIT_VERIFICATIONS = [
    f"results/verifications/{{verifier}}/{m}/{t}/{me}.jsonl" for m in MODELS for t, me in VERIFY_UNITS
]
"""One verifier's verification files, one a (model, task, method): what its verify job writes."""
UNIT_VERIFICATION_META = [p.removesuffix(".jsonl") + ".meta.json" for p in UNIT_VERIFICATIONS]
VERIFY_GENERATIONS = [f"results/generations/{m}/{t}/{me}.jsonl" for m in MODELS for t, me in VERIFY_UNITS]
"""The generation files the verify jobs read."""


# Input functions of the rules (kept here, apart from the rules, as `snakemake --lint` asks).


def remote_dataset_file(wildcards):
    """The pinned remote file (sources.GitHubFile) that download_dataset fetches."""
    spec = DATASETS[wildcards.dataset]
    return next(f for f in spec.remote if f.filename == wildcards.filename)


def dataset_inputs(wildcards):
    """A task's raw files: its downloaded ones and those the project ships."""
    spec = TASK_DATASETS[wildcards.task]
    return [f"resources/datasets/{spec.key}/{f.filename}" for f in spec.remote] + [
        repo_file(REPO / p) for p in spec.local
    ]


def task_code(wildcards):
    """The library modules that turn a task's raw files into records."""
    # The task's own module and the shared record helpers decide the records; the registry in
    # data/tasks/__init__.py does not, so declaring a new task reruns nothing that exists.
    return code(
        "data/tasks/prepare.py",
        "data/tasks/__init__.py",
        "data/tasks/records.py",
        "data/sources.py",
        "prompts.py",
        f"data/tasks/{TASKS[wildcards.task].module}",
    )


def exemplar_source(wildcards):
    """An exemplar set's source file: downloaded (the papers' sets) or the project's own in config/."""
    if wildcards.exset in REMOTE_SETS:
        return f"resources/exemplars/{wildcards.exset}/{REMOTE_SETS[wildcards.exset].file.filename}"
    return repo_file(project_set_path(REPO, wildcards.exset))


def generation_exemplar_files():
    """Task -> the exemplar set its few-shot units read; none when no few-shot method is configured
    (zero-shot prompts use no exemplars, so changing them must not rerun generation)."""
    if not any(methods.get(m).few_shot for m in METHODS):
        return {}
    return {t: f"results/exemplars/{exemplar_set_for(config, t)}.json" for t in TASK_KEYS}


def agreement_exemplar_files():
    """The exemplar set the agreement check's few-shot methods read (none without one)."""
    if not any(methods.get(m).few_shot for m in AGREEMENT["methods"]):
        return []
    return [f"results/exemplars/{exemplar_set_for(config, AGREEMENT['task'])}.json"]


def published_log_files():
    """The pinned published logs this run's tasks and methods read (for published-source models)."""
    return {published.log_file(t, m).filename: published.log_file(t, m) for t in TASK_KEYS for m in METHODS}


def published_logs(wildcards):
    """A published-source model's log files, downloaded under resources/published/{model}/."""
    return [f"resources/published/{wildcards.model}/{name}" for name in published_log_files()]


def verifiers_with_source(source):
    """The configured verifiers with weights of their own from ``source`` (hub or tiny)."""
    return [v for v, spec in VERIFIERS.items() if spec["kind"] != "self" and spec["source"] == source]


def verifier_manifests(verifier):
    """Model key -> the manifest a verify job loads: the verifier's own, or for kind self each
    generating model's."""
    if VERIFIERS[verifier]["kind"] == "self":
        return {m: f"resources/models/{m}.json" for m in MODELS}
    return {verifier: f"resources/verifiers/{verifier}.json"}


def verifier_weights(wildcards):
    """A tiny verifier's weights folder (for kind self: the tiny generating models'), an input of its
    verify job so that a deleted folder is built again; a hub one's live in HF_HOME, checked by the job."""
    spec = VERIFIERS[wildcards.verifier]
    if spec["kind"] == "self":
        return [f"resources/models/tiny/{m}" for m in MODELS if SPECS[m]["source"] == "tiny"]
    return [f"resources/verifiers/tiny/{wildcards.verifier}"] if spec["source"] == "tiny" else []
