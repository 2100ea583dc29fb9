"""Reading a LaTeX build back: the overfull boxes its log reports, and the pages of its PDF."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

OVERFULL = re.compile(r"Overfull \\hbox \(([\d.]+)pt too wide\)([^\n]*)")
FRAGMENT = re.compile(r"\(([^()\s]*fragments/[\w_]+\.tex)")


def overfull_boxes(log: Path, limit_pt: float = 1.0) -> list[str]:
    """The overfull horizontal boxes wider than ``limit_pt`` in a LaTeX log, each with the generated
    fragment that was being read when it was reported (the last one opened before it)."""
    text = Path(log).read_text(errors="replace")
    found, fragment = [], "main.tex"
    for m in re.finditer(f"{FRAGMENT.pattern}|{OVERFULL.pattern}", text):
        if m.group(1):
            fragment = Path(m.group(1)).name
        elif float(m.group(2)) > limit_pt:
            found.append(f"{fragment}: {m.group(2)} pt too wide{m.group(3)}")
    return found


def pdf_pages(pdf: Path) -> list[str]:
    """The text of each page of ``pdf`` (poppler's pdftotext), first page first."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return text.split("\f")[:-1] if text.endswith("\f") else text.split("\f")


def page_of(pages: list[str], needle: str) -> int:
    """The 1-based number of the first page whose text holds ``needle`` (spaces folded), else 0."""
    squeeze = re.compile(r"\s+")
    needle = squeeze.sub(" ", needle)
    return next((i for i, p in enumerate(pages, 1) if needle in squeeze.sub(" ", p)), 0)
