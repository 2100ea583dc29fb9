# Generation archives: `snakemake archive` packs what the GPU produced into one file; with config
# key from_archive pointing at such a file, the workflow restores it instead of downloading
# models and generating, and rebuilds scores, figures, report and paper from it.

ARCHIVE_MEMBERS = GENERATIONS + GENERATION_META + TASK_RECORDS + TASK_PROVENANCE + MANIFESTS


rule archive:
    input:
        members=ARCHIVE_MEMBERS,
        code=code("archive.py", "row_integrity.py"),
    output:
        "results/archive/generations.tar.gz",
    log:
        "logs/archive.log",
    localrule: True
    script:
        "../scripts/archive.py"


if FROM_ARCHIVE:

    rule restore_from_archive:
        input:
            archive=FROM_ARCHIVE,
            code=code("archive.py", "row_integrity.py"),
        output:
            ARCHIVE_MEMBERS,
        log:
            "logs/restore_from_archive.log",
        localrule: True
        script:
            "../scripts/restore.py"
