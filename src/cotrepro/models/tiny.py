"""Tiny random-weight models for the offline demo and the tests.

Two architectures, mirroring the real ones the reproduction uses: a T5-style encoder-decoder
(Flan-T5) and a Llama-style decoder-only model (TinyLlama, Zephyr). Their tokenizer is a
byte-level BPE trained here on a synthetic corpus, so any text encodes without unknown tokens.
Everything is deterministic from the seed; the weights are random, so their answers mean nothing.
"""

from __future__ import annotations

import random
from pathlib import Path

SPECIAL_TOKENS = ["<pad>", "</s>", "<unk>", "<s>"]  # ids 0..3, T5's pad=0 / eos=1 convention
VOCAB_SIZE = 1024

# A Zephyr-like chat template written for the demo, so the chat-template switch is exercised offline.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

# fmt: off
# Kept compact: two small model shapes, read side by side.
T5_SHAPE = dict(d_model=64, d_ff=128, d_kv=16, num_layers=2, num_decoder_layers=2, num_heads=4,
                relative_attention_num_buckets=32, n_positions=512)
LLAMA_SHAPE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, max_position_embeddings=2048)
# Llama 3.2's choices in small: RoPE base 500,000 with llama3 frequency scaling (its original context
# shortened to 64 tokens so the scaling changes frequencies the demo's prompts use), 4 query heads per
# key/value head, and the output head tied to the embedding. At the default weight std (0.02) the tied
# head makes it write "." after every prompt, which would make comparing its completions empty; at
# 0.1 each of the demo's 20 questions gets its own.
LLAMA3_SHAPE = dict(LLAMA_SHAPE, num_attention_heads=8, num_key_value_heads=2, head_dim=8,
                    tie_word_embeddings=True, rope_theta=500000.0, initializer_range=0.1,
                    rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                      original_max_position_embeddings=64))
# fmt: on
SHAPES = {"llama": dict(LLAMA_SHAPE, tie_word_embeddings=False), "llama3": LLAMA3_SHAPE}
"""The causal tiny models by ``tiny_shape``: the demo's Llama 2-style decoder, or a Llama 3-style one."""


def training_corpus(seed: int = 0, n: int = 400) -> list[str]:
    """Synthetic sentences in the shape of the prompts (Q:/A:, numbers, triggers) to train the tokenizer."""
    rng = random.Random(seed)
    names = ["Ada", "Ben", "Caro", "Dev", "Ema", "Finn", "Gus", "Hana"]
    things = ["apples", "books", "coins", "eggs", "pencils", "stamps", "tickets", "marbles"]
    verbs = ["buys", "sells", "finds", "gives away", "loses", "bakes", "collects"]
    fixed = [
        "Q: How many are left?\nA: Let's think step by step.",
        "Therefore, the answer (arabic numerals) is",
        "The answer (arabic numerals) is",
        "The answer is",
        "Therefore, among A through E, the answer is (A) (B) (C) (D) (E)",
        "Therefore, the answer (Yes or No) is Yes. No.",
        "$ % , . ? ! : ; ( ) + - * / = < > # 0 1 2 3 4 5 6 7 8 9",
    ]
    out = list(fixed)
    for _ in range(n):
        a, b = rng.randint(1, 999), rng.randint(1, 99)
        name, thing, verb = rng.choice(names), rng.choice(things), rng.choice(verbs)
        out.append(
            f"Q: {name} has {a} {thing}. {name} {verb} {b} more. How many {thing} now?\n"
            f"A: {name} starts with {a} {thing}. {a} + {b} = {a + b}. The answer is {a + b}."
        )
    return out


def build_tokenizer(seed: int = 0, chat_template: str | None = None):
    """A byte-level BPE tokenizer trained on :func:`training_corpus`, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(training_corpus(seed), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", bos_token="<s>"
    )
    if chat_template:
        fast.chat_template = chat_template
    return fast


def build_tiny_model(architecture: str, out_dir: Path, seed: int = 0, shape: str = "llama") -> Path:
    """Build and save a tiny random-weight model (safetensors) with its tokenizer in ``out_dir``.

    ``architecture`` is ``"seq2seq"`` (T5-style) or ``"causal"`` (Llama-style, with a chat template,
    in the ``shape`` of :data:`SHAPES`).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

    out_dir = Path(out_dir)
    tokenizer = build_tokenizer(seed, chat_template=CHAT_TEMPLATE if architecture == "causal" else None)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    torch.manual_seed(seed)
    tokens = {"vocab_size": len(tokenizer), "pad_token_id": ids["<pad>"], "eos_token_id": ids["</s>"]}
    if architecture == "seq2seq":
        model = T5ForConditionalGeneration(T5Config(**tokens, decoder_start_token_id=ids["<pad>"], **T5_SHAPE))
    elif architecture == "causal":
        config = LlamaConfig(**tokens, bos_token_id=ids["<s>"], **SHAPES[shape])
        model = LlamaForCausalLM(config)
    else:
        raise ValueError(f"unknown architecture {architecture!r}; allowed values: seq2seq, causal")
    # A trained model never predicts padding or start tokens; zeroing their output rows keeps the
    # random model from emitting only invisible special tokens, so the demo shows real text. (With a
    # tied head these are also the tokens' embeddings, which the prompts never use.)
    with torch.no_grad():
        for token in ("<pad>", "<unk>", "<s>"):
            model.get_output_embeddings().weight[ids[token]] = 0.0
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def tiny_manifest(model: str, architecture: str, weights_dir: Path, seed: int) -> dict:
    """The manifest of a built tiny model: where it is, how it was made, each file's sha256.

    Its ``resolved_revision`` is a digest of the files, standing in for a hub commit.
    """
    from cotrepro.provenance import digest, file_entries

    files = file_entries(weights_dir)
    return {
        "model": model,
        "source": "tiny",
        "path": str(weights_dir),
        "architecture": architecture,
        "seed": seed,
        "requested_revision": None,
        "resolved_revision": "tiny-" + digest(files)[:12],
        "files": files,
        "note": "random weights built by cotrepro for the offline demo; its answers mean nothing",
    }


VERIFIER_KINDS = ("orm", "prm")
PRM_TOKENS = ["ки", "+", "-"]
"""Math-Shepherd's step tag and label tokens, each one token in the tiny PRM's tokenizer (as in
Mistral's vocabulary), so that the demo's PRM is fed that documented format."""


def build_tiny_verifier(kind: str, out_dir: Path, seed: int = 0) -> Path:
    """Build and save a tiny random-weight verifier (safetensors) with its tokenizer in ``out_dir``.

    ``kind`` ``"orm"``: a Llama-style sequence classifier with one label (its logit is the path's
    score); ``"prm"``: a Llama-style causal LM whose tokenizer has :data:`PRM_TOKENS` as single
    tokens, read in the Math-Shepherd format. Both in the demo model's shape; their scores mean nothing.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification

    if kind not in VERIFIER_KINDS:
        raise ValueError(f"unknown tiny verifier kind {kind!r}; allowed values: {', '.join(VERIFIER_KINDS)}")
    out_dir = Path(out_dir)
    tokenizer = build_tokenizer(seed)
    if kind == "prm":
        tokenizer.add_tokens(PRM_TOKENS)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    # Seeded apart from the generating models (seed + 1), so the verifier is not the model's twin.
    torch.manual_seed(seed + 1)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        pad_token_id=ids["<pad>"],
        eos_token_id=ids["</s>"],
        bos_token_id=ids["<s>"],
        **SHAPES["llama"],
        **({"num_labels": 1} if kind == "orm" else {}),
    )
    model = (LlamaForSequenceClassification if kind == "orm" else LlamaForCausalLM)(config)
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir
