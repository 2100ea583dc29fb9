"""One loader of a run's outputs, which the HTML report and the paper both read.

:class:`RunOutputs` parses every file once (results/accuracy.csv, the paired tests, generation
metadata, model manifests, task provenance, transcripts, the self-consistency curves, the choosers'
(results/selection.csv), the verifiers' metadata, calibration,
backend agreement, extraction disagreements, batch invariance) and splits off the units that did
not apply to their model, so the two documents cannot read the same run differently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cotrepro.io import read_json
from cotrepro.outputs.strategies import read_selection
from cotrepro.scoring.disagreements import read_disagreements

ONE_FILE = (
    "accuracy",
    "published",
    "significance",
    "transcripts",
    "paths",
    "selection",
    "calibration",
    "disagreements",
    "batch_invariance",
)
"""The outputs that are one file each, under the same name in the rules' ``input:`` and here."""
FILE_LISTS = {
    "metas": "meta",
    "manifests": "manifests",
    "tasks": "tasks",
    "agreement": "agreement",
    "figures": "figures",
    "verifications": "verification_meta",
}
"""The outputs that are lists of files: name here -> name in the rules' ``input:``."""


@dataclass
class RunOutputs:
    """A run's outputs, parsed; an output the run did not make is None (a table) or empty (a list)."""

    accuracy: pd.DataFrame
    published: pd.DataFrame  # config/published.csv
    metas: list[dict] = field(default_factory=list)  # generation metadata of the units that ran
    # Metadata of units that did not apply to their model (chat format, no chat template): no rows to describe.
    not_applicable: list[dict] = field(default_factory=list)
    significance: pd.DataFrame | None = None
    manifests: list[dict] = field(default_factory=list)  # model manifests (resources/models/*.json)
    tasks: list[dict] = field(default_factory=list)  # task provenance
    transcripts: list[dict] | None = None  # results/transcripts.json
    paths: pd.DataFrame | None = None  # results/accuracy_vs_paths.csv (self-consistency curves)
    selection: pd.DataFrame | None = None  # results/selection.csv (every chooser at every k')
    calibration: pd.DataFrame | None = None
    agreement: list[dict] = field(default_factory=list)  # backend agreement summaries
    disagreements: pd.DataFrame | None = None  # results/extraction_disagreements.csv
    batch_invariance: pd.DataFrame | None = None  # results/batch_invariance.csv, when the check ran
    figures: list[Path] = field(default_factory=list)
    verifications: list[dict] = field(default_factory=list)  # verification metadata, one a (verifier, unit)
    demo: bool = False
    model_notes: dict = field(default_factory=dict)

    @classmethod
    def from_paths(
        cls,
        *,
        accuracy: Path,
        published: Path,
        metas: Iterable[Path] = (),
        significance: Path | None = None,
        manifests: Iterable[Path] = (),
        tasks: Iterable[Path] = (),
        transcripts: Path | None = None,
        paths: Path | None = None,
        selection: Path | None = None,
        calibration: Path | None = None,
        agreement: Iterable[Path] = (),
        disagreements: Path | None = None,
        batch_invariance: Path | None = None,
        figures: Iterable[Path] = (),
        verifications: Iterable[Path] = (),
        demo: bool = False,
        model_notes: dict | None = None,
    ) -> RunOutputs:
        """Read every output file given; those not given are left None or empty."""
        every_meta = [read_json(p) for p in metas]
        return cls(
            accuracy=pd.read_csv(accuracy),
            published=pd.read_csv(published),
            metas=[m for m in every_meta if "not_applicable" not in m],
            not_applicable=[m for m in every_meta if "not_applicable" in m],
            significance=_csv(significance),
            manifests=[read_json(p) for p in manifests],
            tasks=[read_json(p) for p in tasks],
            transcripts=None if transcripts is None else read_json(transcripts),
            paths=_csv(paths),
            selection=None if selection is None else read_selection(selection),
            calibration=_csv(calibration),
            agreement=[read_json(p) for p in agreement],
            disagreements=None if disagreements is None else read_disagreements(disagreements),
            batch_invariance=_csv(batch_invariance),
            figures=[Path(p) for p in figures],
            verifications=[read_json(p) for p in verifications],
            demo=demo,
            model_notes=dict(model_notes or {}),
        )

    @classmethod
    def from_snakemake(cls, inputs, params) -> RunOutputs:
        """Read the outputs a rule names in its ``input:`` (``snakemake.input``), with the run's
        ``demo`` flag and model ``notes`` from its ``params:``. A name the rule does not declare, or
        one whose list of at most one file is empty (made only in some runs), is read as absent."""
        return cls.from_paths(
            **{name: _one(inputs, name) for name in ONE_FILE},
            **{name: _many(inputs, rule_name) for name, rule_name in FILE_LISTS.items()},
            demo=params.demo,
            model_notes=params.notes,
        )

    @property
    def every_meta(self) -> list[dict]:
        """The metadata of every unit, those that did not apply to their model last."""
        return self.metas + self.not_applicable

    def robust(self) -> pd.DataFrame:
        """Accuracy rows of the robust extraction style."""
        return self.accuracy[self.accuracy["style"] == "robust"]


def _csv(path: Path | None) -> pd.DataFrame | None:
    return None if path is None else pd.read_csv(path)


def _many(inputs, name: str) -> list[Path]:
    """The files of a named input; none when the rule does not declare it."""
    value = getattr(inputs, name, ())
    return [Path(value)] if isinstance(value, str) else [Path(p) for p in value]


def _one(inputs, name: str) -> Path | None:
    """The one file of a named input, or None when the rule does not declare it or its list is empty."""
    files = _many(inputs, name)
    if len(files) > 1:
        raise ValueError(f"input {name!r} names {len(files)} files; the loader reads one")
    return files[0] if files else None
