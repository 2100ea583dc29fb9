"""Where the papers' few-shot exemplars came from, and how they differ from what the papers print.

Read from the manifest each downloaded exemplar set carries (:meth:`cotrepro.data.exemplars.RemoteSet.manifest`),
which the generation metadata copies, so the report and the paper show the same two tables
(sources; differences) and a rebuild from an archive still has them.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

SOURCE_COLUMNS = ["set", "tasks", "paper", "source", "commit", "licence", "sha256", "exemplars"]
DIFFERENCE_COLUMNS = ["set", "kind", "exemplar", "source says", "paper prints", "note"]


def _manifests(metas: Sequence[dict]) -> dict[str, tuple[dict, list[str]]]:
    """Set name -> (manifest, the tasks that used it), for the downloaded sets the run used."""
    found: dict[str, tuple[dict, list[str]]] = {}
    for m in metas:
        e = m.get("exemplars") or {}
        if e.get("manifest"):
            manifest, tasks = found.setdefault(e["name"], (e["manifest"], []))
            if m["task"]["key"] not in tasks:
                tasks.append(m["task"]["key"])
    return dict(sorted(found.items()))


def sources(metas: Sequence[dict]) -> pd.DataFrame:
    """One row per downloaded exemplar set: paper, pinned file and commit, licence, sha256, size."""
    rows = [
        {
            "set": name,
            "tasks": ", ".join(sorted(tasks)),
            "paper": m["paper"],
            "source": f"github.com/{m['repo']}:{m['path']}",
            "commit": m["commit"],
            "licence": m["licence"],
            "sha256": m["sha256"],
            "exemplars": m["exemplars"],
        }
        for name, (m, tasks) in _manifests(metas).items()
    ]
    return pd.DataFrame(rows, columns=SOURCE_COLUMNS)


def differences(metas: Sequence[dict]) -> pd.DataFrame:
    """Every recorded difference from the paper: content deviations first, then differences of form."""
    rows = []
    for name, (m, _) in _manifests(metas).items():
        for d in m["deviations"]:
            rows.append(
                {
                    "set": name,
                    "kind": "content",
                    "exemplar": d["exemplar"],
                    "source says": f"{d['field']}: {d['source']}",
                    "paper prints": f"{d['field']}: {d['paper']}",
                    "note": d["note"],
                }
            )
        rows += [
            {"set": name, "kind": "form", "exemplar": "", "source says": "", "paper prints": "", "note": note}
            for note in m["notes"]
        ]
    return pd.DataFrame(rows, columns=DIFFERENCE_COLUMNS)
