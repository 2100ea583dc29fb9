"""The served backend: a model behind an OpenAI-compatible server (vLLM, SGLang, llama.cpp,
``transformers serve``, a hosted API), reached with the official ``openai`` client. The prompt text
is the one the in-process backends see; what the server honours is probed first and recorded.
Nothing here imports the other backends."""
