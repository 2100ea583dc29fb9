"""LaTeX for the paper: text made safe for pdfLaTeX, DataFrames as booktabs tables, and the PDF
build (latexmk over paper/main.tex with the generated fragments and figures).

Text from models, datasets and exemplars is untrusted: every string the paper sets goes through
:func:`tex` (or :func:`verbatim`), so that it can never close an environment or run a macro.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import textwrap
import unicodedata
from pathlib import Path

import pandas as pd

from cotrepro.io import atomic_write_bytes

TEX_PACKAGES = "latexmk texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended lmodern"
"""The Debian packages the build needs (README, Makefile and .ci/run install these)."""


_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "^": r"\textasciicircum{}",
    "_": r"\_",
    "%": r"\%",
    "~": r"\textasciitilde{}",
}
_ASCII = {
    "’": "'",
    "‘": "'",
    "“": '"',
    "”": '"',
    "–": "-",
    "—": "--",
    "−": "-",
    "×": "x",
    "÷": "/",
    "…": "...",
    "√": "sqrt",
    "°": " deg",
    "π": "pi",
    "€": "EUR",
    "£": "GBP",
    "\u00a0": " ",
}


def ascii_text(text: str) -> str:
    """Text pdfLaTeX can typeset anywhere, verbatim included: typographic characters spelled in
    ASCII, other non-ASCII letters folded, and control characters (random-weight models emit
    them) shown as ``<U+0012>``."""
    text = "".join(_ASCII.get(ch, ch) for ch in str(text)).replace("\t", " ")
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch if ch == "\n" or ch.isprintable() else f"<U+{ord(ch):04X}>" for ch in folded)


def tex(text) -> str:
    """Escape ``text`` for LaTeX body text (a line break becomes a space: a blank line would end a
    paragraph, which a table cell or a macro argument cannot hold)."""
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in ascii_text(text).replace("\n", " "))


VERBATIM_OPTIONS = r"breaklines,breakanywhere,fontsize=\scriptsize,frame=single"
"""fvextra's options for every verbatim block: framed, small, breaking long lines anywhere."""

MAX_VERBATIM_LINE = 500
"""Longer lines are cut into lines of this many characters before TeX reads them: fvextra would break
them on the page anyway, and a line of tens of kilobytes overflows TeX's input buffer and memory."""


def _environment_name(body: str) -> str:
    """``cotvrb`` and 16 letters spelling the start of ``body``'s sha256 (letters only, as an
    environment name must be read the same inside and outside verbatim)."""
    hexdigest = hashlib.sha256(body.encode()).hexdigest()[:16]
    return "cotvrb" + "".join(chr(ord("a") + int(h, 16)) for h in hexdigest)


def verbatim(text: str) -> str:
    """A framed, line-breaking verbatim block (fvextra) of ``text``, which no text can close.

    A verbatim environment ends at the first line reading ``\\end{NAME}``, so a fixed name lets the
    text end it and run what follows (``\\input{FILE}`` would put FILE in the PDF). Each block gets
    its own environment, named from a digest of the text it holds: to end it early the text would
    have to contain its own digest. Inside, every character is printed as itself (no macro runs);
    :func:`ascii_text` has already replaced what pdfLaTeX cannot typeset (control characters,
    non-ASCII letters), and :data:`MAX_VERBATIM_LINE` bounds the lines.
    """
    lines = ascii_text(text).split("\n")
    body = "\n".join(
        line[i : i + MAX_VERBATIM_LINE] for line in lines for i in range(0, max(len(line), 1), MAX_VERBATIM_LINE)
    )
    name = _environment_name(body)
    return (
        f"\\DefineVerbatimEnvironment{{{name}}}{{Verbatim}}{{{VERBATIM_OPTIONS}}}\n"
        f"\\begin{{{name}}}\n{body}\n\\end{{{name}}}\n"
    )


_NUMERIC = re.compile(r"[-+<\d]")
_RAGGED = ">{\\raggedright\\arraybackslash}"


def _align(column: pd.Series) -> str:
    """``r`` for a column of numbers (accuracies, deltas, p-values, counts), else ``l``."""
    cells = [str(v) for v in column if str(v)]
    return "r" if cells and all(_NUMERIC.match(c) for c in cells) else "l"


HEADER_WRAP = 12
"""Headers longer than this many characters are set on two (or more) lines, so that a long name
("few-shot CoT + self-consistency") does not widen its column of short numbers."""


def column_header(text: str) -> str:
    """A header, escaped; a long one split at spaces into lines of about half its length, set by
    paper/main.tex's ``\\colhead`` (a one-column tabular in which ``\\newline`` ends a line)."""
    text = ascii_text(text)
    lines = (
        textwrap.wrap(text, width=max(9, (len(text) + 1) // 2), break_on_hyphens=False, break_long_words=False)
        if len(text) > HEADER_WRAP
        else [text]
    )
    if len(lines) < 2:
        return tex(text)
    return "\\colhead{" + " \\newline ".join(tex(line) for line in lines) + "}"


def latex_table(
    frame: pd.DataFrame,
    *,
    caption: str = "",
    label: str = "",
    hide: tuple[str, ...] = (),
    long: bool = False,
    widths: dict[str, str] | None = None,
    markup: dict | None = None,
) -> str:
    """``frame`` less the columns in ``hide``, as a booktabs table (pandas ``Styler.to_latex``).

    Every header and cell goes through :func:`tex`, so any text is safe for pdfLaTeX; ``markup``
    maps a column to a function that typesets its escaped cells (typewriter, a smaller interval).
    ``widths`` gives a column a paragraph width (it then wraps, ragged right). ``long`` breaks the
    table across pages (longtable); otherwise it floats, or without a caption is set in place.
    paper/main.tex sets the font size and column gaps of every table.
    """
    shown = frame.drop(columns=list(hide))
    markup, widths = markup or {}, widths or {}

    def typeset(column: str):
        style = markup.get(column, str)
        return lambda value: style(tex(value))

    styler = (
        shown.style.hide(axis="index")
        .format({c: typeset(c) for c in shown.columns})
        .format_index(column_header, axis="columns")
    )
    column_format = "".join(f"{_RAGGED}p{{{widths[c]}}}" if c in widths else _align(shown[c]) for c in shown.columns)
    if long:
        return styler.to_latex(
            environment="longtable", hrules=True, column_format=column_format, caption=caption, label=label
        )
    if caption:
        return styler.to_latex(
            environment="table",
            position="htbp",
            position_float="centering",
            hrules=True,
            column_format=column_format,
            caption=caption,
            label=label,
        )
    return f"\\begin{{center}}\n{styler.to_latex(hrules=True, column_format=column_format)}\\end{{center}}\n"


def smaller_interval(text: str) -> str:
    """An ``acc [low, high]`` cell with its interval in a smaller size, which keeps four method
    columns within the page."""
    return re.sub(r" \[(.*)\]", r" {\\scriptsize[\1]}", text)


def typewriter(text: str) -> str:
    """``text`` in the typewriter font."""
    return f"\\texttt{{{text}}}"


def breakable(text: str) -> str:
    """``text`` that may wrap anywhere inside its column."""
    # Paths, URLs and 40-digit hashes have no break points; seqsplit lets each word wrap anywhere
    # inside its column (word by word, because it would drop the spaces between words).
    return " ".join(f"\\seqsplit{{{word}}}" for word in text.split(" "))


def breakable_typewriter(text: str) -> str:
    """A commit hash or path: typewriter, wrapping anywhere."""
    return typewriter(breakable(text))


class LatexMissing(RuntimeError):
    """latexmk (or pdflatex) is not installed."""


def build_pdf(main_tex: Path, *, search_dirs: list[Path], out_pdf: Path, build_dir: Path, timeout: int = 600) -> Path:
    """Compile ``main_tex`` with latexmk, finding ``\\input`` files and figures in ``search_dirs``.

    The PDF is reproducible (fixed dates via SOURCE_DATE_EPOCH) and written atomically to
    ``out_pdf``. A missing latexmk fails with a message naming the packages to install; a LaTeX
    error fails with the end of the log.
    """
    for tool in ("latexmk", "pdflatex", "bibtex"):
        if shutil.which(tool) is None:
            raise LatexMissing(
                f"{tool} is not installed; the paper needs the Debian packages {TEX_PACKAGES} "
                f"(sudo apt-get install {TEX_PACKAGES}). Everything else builds without them."
            )
    main_tex, build_dir = Path(main_tex).resolve(), Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    # A trailing separator keeps TeX's default search path after ours.
    path = os.pathsep.join(str(Path(d).resolve()) for d in [main_tex.parent, *search_dirs]) + os.pathsep
    env = {**os.environ, "TEXINPUTS": path, "BIBINPUTS": path, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1"}
    cmd = [
        "latexmk",
        "-pdf",
        "-interaction=nonstopmode",
        "-halt-on-error",
        "-file-line-error",
        f"-outdir={build_dir}",
        main_tex.name,
    ]
    proc = subprocess.run(cmd, cwd=main_tex.parent, env=env, capture_output=True, text=True, timeout=timeout)
    pdf = build_dir / (main_tex.stem + ".pdf")
    if proc.returncode != 0 or not pdf.is_file():
        log = build_dir / (main_tex.stem + ".log")
        tail = log.read_text(errors="replace")[-4000:] if log.is_file() else proc.stdout[-4000:]
        raise RuntimeError(f"latexmk failed ({proc.returncode}) on {main_tex}:\n{tail}")
    atomic_write_bytes(Path(out_pdf), pdf.read_bytes())
    return Path(out_pdf)
