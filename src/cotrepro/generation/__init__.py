"""Text generation: a small backend protocol, the Hugging Face transformers backend, and the
resumable runner that turns task records into one generations file per (model, task, method)."""
