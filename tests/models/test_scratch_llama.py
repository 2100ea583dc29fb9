"""The from-scratch Llama against transformers' LlamaForCausalLM, on random-weight models of every
variant it claims (Llama 3 RoPE scaling or none, grouped-query or multi-head attention, tied or
untied head): the same logits at every real position of batched, left-padded prompts, with and
without the KV cache, the same 64 greedy tokens, and the same rows through the backend protocol."""

import ast
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cotrepro.engine.hf.backend import HFBackend
from cotrepro.engine.hf.engine import GREEDY
from cotrepro.engine.scratch import llama as scratch_llama
from cotrepro.engine.scratch.backend import ScratchBackend
from cotrepro.engine.scratch.llama import LlamaConfig, load_scratch_llama, rope_frequencies
from cotrepro.io import read_jsonl

LLAMA3_ROPE = {
    "rope_type": "llama3",
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 32,  # short, so that the scaling changes every low frequency
}
VARIANTS = {
    "llama3-rope-gqa-untied": {"num_key_value_heads": 2, "tie_word_embeddings": False, "rope": LLAMA3_ROPE},
    "llama3-rope-mha-tied": {"num_key_value_heads": 4, "tie_word_embeddings": True, "rope": LLAMA3_ROPE},
    "plain-rope-gqa-tied": {"num_key_value_heads": 1, "tie_word_embeddings": True, "rope": None},
    "plain-rope-mha-untied": {"num_key_value_heads": 4, "tie_word_embeddings": False, "rope": None},
}
PROMPTS = [
    "Q: Ben has 3 apples and buys 4 more. How many apples does he have now?\nA: Let's think step by step.",
    "Q: Hi\nA:",
    "Q: A train goes 60 km per hour for 3 hours. How far does it go in total, in kilometers?\nA:",
    "Q: Dev finds 12 coins, loses 5 and then finds 9 more coins. How many coins?\nA: The answer is",
]
TOLERANCE = 1e-4


def build_llama(out_dir: Path, variant: dict):
    """A random-weight LlamaForCausalLM of ``variant`` saved with the demo's tokenizer; returns it."""
    from transformers import LlamaConfig as HFLlamaConfig
    from transformers import LlamaForCausalLM

    from cotrepro.models.tiny import build_tokenizer

    tokenizer = build_tokenizer(0)
    rope = variant["rope"]
    config = HFLlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=variant["num_key_value_heads"],
        tie_word_embeddings=variant["tie_word_embeddings"],
        max_position_embeddings=512,
        rope_theta=500000.0 if rope else 10000.0,
        rope_scaling=dict(rope) if rope else None,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        initializer_range=0.05,  # wide enough that greedy continuations differ between prompts
    )
    torch.manual_seed(1)
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return model


@pytest.fixture(scope="module")
def llamas(tmp_path_factory):
    """Variant -> (transformers model, its directory)."""
    root = tmp_path_factory.mktemp("scratch-llamas")
    return {name: (build_llama(root / name, v), root / name) for name, v in VARIANTS.items()}


def left_padded(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ids, a boolean mask of the real tokens and their positions (0 at each row's first real token)."""
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[False] * (width - len(r)) + [True] * len(r) for r in rows])
    return ids, mask, (mask.cumsum(-1) - 1).clamp(min=0)


def test_every_variant_is_what_its_name_says(llamas):
    for name, (_, model_dir) in llamas.items():
        cfg = LlamaConfig.from_dict(json.loads((model_dir / "config.json").read_text()))
        assert (cfg.num_kv_heads < cfg.num_heads) == ("gqa" in name)
        assert cfg.tie_word_embeddings == ("tied" in name and "untied" not in name)
        plain = rope_frequencies(LlamaConfig(**{**cfg.__dict__, "rope_scaling": None}))
        assert torch.equal(rope_frequencies(cfg), plain) == (cfg.rope_scaling is None)


@pytest.mark.parametrize("variant", VARIANTS)
def test_logits_equal_transformers_at_every_position_with_and_without_the_cache(llamas, variant):
    hf_model, model_dir = llamas[variant]
    model = load_scratch_llama(model_dir, torch.float32, torch.device("cpu"))
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rows = tokenizer(PROMPTS)["input_ids"]
    ids, mask, positions = left_padded(rows, tokenizer.pad_token_id)
    width = ids.shape[1]
    with torch.inference_mode():
        reference = hf_model(input_ids=ids, attention_mask=mask.long(), position_ids=positions).logits
        alone = [hf_model(input_ids=torch.tensor([r])).logits[0] for r in rows]  # no padding at all
        no_cache = model(ids, positions, mask)
        # With the cache: the first 5 columns in one call, then one column a call, as decoding does.
        cache = model.new_cache(len(rows), width)
        steps = [model(ids[:, :5], positions[:, :5], mask, cache, 0)]
        steps += [model(ids[:, t : t + 1], positions[:, t : t + 1], mask, cache, t) for t in range(5, width)]
        cached = torch.cat(steps, dim=1)
    assert (width - min(len(r) for r in rows)) > 10  # the batch really is padded
    for got in (no_cache, cached):
        assert (got - reference)[mask].abs().max().item() < TOLERANCE
        for r, row in enumerate(rows):
            assert (got[r, width - len(row) :] - alone[r]).abs().max().item() < TOLERANCE


@pytest.mark.parametrize("variant", VARIANTS)
def test_64_greedy_tokens_are_identical_to_transformers_generate(llamas, variant):
    hf_model, model_dir = llamas[variant]
    backend = ScratchBackend(model_dir, device="cpu", stop=())
    pad = backend.tokenizer.pad_token_id
    rows = backend.encode(PROMPTS)
    ids, mask, _ = left_padded(rows, pad)
    with torch.inference_mode():
        out = hf_model.generate(
            input_ids=ids, attention_mask=mask.long(), max_new_tokens=64, **GREEDY, pad_token_id=pad
        )
    expected = [r + [pad] * (64 - len(r)) for r in out[:, ids.shape[1] :].tolist()]
    got = [r + [pad] * (64 - len(r)) for r in backend.greedy(rows, 64)]
    assert got == expected
    assert len({tuple(r) for r in got}) == len(rows)  # the prompts lead to different continuations
    assert out.shape[1] - ids.shape[1] == 64  # at least one row ran the whole budget


def test_backend_rows_equal_the_transformers_backends_with_stop_sequences(llamas):
    _, model_dir = llamas["llama3-rope-gqa-untied"]
    free = ScratchBackend(model_dir, device="cpu", stop=()).generate(PROMPTS, 24)
    # Stop strings the model really writes, a few tokens into two of the continuations.
    stops = tuple(c.text[len(c.text) // 3 : len(c.text) // 3 + 2] for c in free[:2])
    scratch = ScratchBackend(model_dir, device="cpu", batch_size=3, stop=stops)
    hf = HFBackend(model_dir, "causal", device="cpu", batch_size=3, stop=stops)
    got, expected = scratch.generate(PROMPTS, 24), hf.generate(PROMPTS, 24)
    # The from-scratch loop returns token ids only, so its completions carry no log-probability.
    assert all(c.logprob is None for c in got) and all(c.logprob is not None for c in expected)
    assert got == [dataclasses.replace(c, logprob=None) for c in expected]
    assert sum(c.stop_reason == "stop_sequence" for c in got) >= 2
    assert set(scratch.describe()) == set(hf.describe())
    assert scratch.describe()["engine"] == "cotrepro.scratch_llama" and scratch.describe()["dtype"] == "float32"


def test_cli_backend_scratch_writes_what_backend_hf_writes(llamas, tmp_path):
    from cotrepro.engine.cli import main

    _, model_dir = llamas["plain-rope-gqa-tied"]
    src = tmp_path / "prompts.jsonl"
    src.write_text("".join(json.dumps({"id": i, "prompt": p}) + "\n" for i, p in enumerate(PROMPTS)))
    outs = {}
    for backend in ("hf", "scratch"):
        outs[backend] = tmp_path / f"{backend}.jsonl"
        args = ["generate", "--model-dir", str(model_dir), "--architecture", "causal", "--backend", backend]
        args += ["--prompts", str(src), "--out", str(outs[backend]), "--max-new-tokens", "16", "--device", "cpu"]
        assert main(args) == 0
    assert read_jsonl(outs["scratch"]) == read_jsonl(outs["hf"])


def test_a_scratch_process_imports_no_transformers_model_code(llamas):
    _, model_dir = llamas["plain-rope-mha-untied"]
    code = (
        "import sys\n"
        "from cotrepro.engine.loader import load_backend\n"
        f"b = load_backend('scratch', {str(model_dir)!r}, 'causal', device='cpu')\n"
        "assert b.generate(['Q: Hi\\nA:'], 4)[0].generated_tokens == 4\n"
        "names = ('modeling_utils', 'modeling_llama', 'generation.utils')\n"
        "print(sorted(m for m in sys.modules if m.endswith(names)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_scratch_backend_refuses_what_it_cannot_run(llamas, tiny_models):
    with pytest.raises(ValueError, match="runs Llama models only; this one is 't5'"):
        ScratchBackend(tiny_models["seq2seq"], device="cpu")
    with pytest.raises(ValueError, match="architecture causal"):
        ScratchBackend(tiny_models["causal"], "seq2seq", device="cpu")


def test_released_config_format_reads_as_transformers_5_format(llamas):
    """Llama 3.2's config.json writes rope_theta and rope_scaling; transformers 5 saves rope_parameters."""
    _, model_dir = llamas["llama3-rope-gqa-untied"]
    saved = json.loads((model_dir / "config.json").read_text())
    released = {k: v for k, v in saved.items() if k != "rope_parameters"}
    released |= {"rope_theta": 500000.0, "rope_scaling": dict(LLAMA3_ROPE)}
    assert LlamaConfig.from_dict(released) == LlamaConfig.from_dict(saved)


def test_scratch_llama_stays_one_readable_file():
    path = Path(scratch_llama.__file__)
    source = path.read_text()
    assert len(source.splitlines()) < 350
    tree = ast.parse(source)
    public = [
        node
        for parent in [tree, *[n for n in tree.body if isinstance(n, ast.ClassDef)]]
        for node in parent.body
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_")
    ]
    assert len(public) > 15
    assert [n.name for n in public if not ast.get_docstring(n)] == []
