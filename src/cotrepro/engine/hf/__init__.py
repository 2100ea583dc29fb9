"""The transformers backend: a model loaded with transformers' own classes, decoded by the engine of
:mod:`cotrepro.engine.hf.engine` (shared exemplar prefix, static cache, stops on the device)."""
