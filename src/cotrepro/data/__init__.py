"""Data stage: pinned downloads of datasets and exemplars, and the task registry that turns them into records."""
