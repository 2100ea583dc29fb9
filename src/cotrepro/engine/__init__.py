"""The inference engine: token ids in, completions out. The backend protocol, how a completion ends,
batching and batch sizing, sampling, tokenization and ``cotrepro generate``; one folder a backend
(``hf/``, ``scratch/``), named only by :mod:`cotrepro.engine.loader`. It imports nothing of cotrepro
but :mod:`cotrepro.io`, so it runs wherever torch and transformers do."""
