"""Pinned third-party files: where they live, at which revision, and their sha256."""

from __future__ import annotations

from dataclasses import dataclass

RAW_GITHUB = "https://raw.githubusercontent.com"
GITHUB_LFS_MEDIA = "https://media.githubusercontent.com/media"
"""Where GitHub serves a Git LFS file's content: ``{media}/{owner}/{repo}/{revision}/{path}``."""


@dataclass(frozen=True)
class GitHubFile:
    """One file of a public GitHub repository at a fixed commit, checked by sha256.

    The URL is built from a base URL so that a mirror with the same layout
    (``{base}/{repo}/{revision}/{path}``) can stand in for raw.githubusercontent.com.
    """

    repo: str
    revision: str
    path: str
    sha256: str
    lfs: bool = False
    """A Git LFS file: raw.githubusercontent.com serves its pointer, GitHub's media host its content
    (a mirror is expected to serve the content at the same layout)."""

    @property
    def filename(self) -> str:
        """The file's base name, used for the local copy."""
        return self.path.rsplit("/", 1)[-1]

    def url(self, base_url: str) -> str:
        """The download URL under ``base_url`` (for an LFS file under GitHub's own raw host, its
        media host, which serves the content the sha256 pins)."""
        base = base_url.rstrip("/")
        if self.lfs and base == RAW_GITHUB:
            base = GITHUB_LFS_MEDIA
        return f"{base}/{self.repo}/{self.revision}/{self.path}"

    def describe(self) -> str:
        """A human-readable provenance line for reports and metadata."""
        return f"github.com/{self.repo}@{self.revision[:12]}:{self.path}"
