"""Verifier forward passes on one (question, path) pair: an outcome reward head's score, the
generating model's own P(True), and the refusal of verifiers that would need remote code.

What each kind sees (the verify job's contract):

- ``orm``: ``"{question}\\n{reasoning}{answer}"`` (for two-stage zero-shot CoT ``answer`` is the
  answer trigger plus the stage-2 completion) as one sequence; score = the head's output: with
  one label the raw logit, with two labels P(label 1) (the "good"/"chosen" class by the
  sequence-classification convention).
- ``self``: Kadavath et al.'s (2022) P(True) prompt with the path's reasoning and answer as the
  proposed answer; score = P(" (A)") / (P(" (A)") + P(" (B)")), each the continuation's probability
  under the model (option (A) is "True").
"""

from __future__ import annotations

import math

SELF_EVAL_TEMPLATE = (
    "Question: {question}\nProposed Answer: {answer}\nIs the proposed answer:\n (A) True\n (B) False\n"
    "The proposed answer is:"
)
TRUE_OPTION, FALSE_OPTION = " (A)", " (B)"


def self_eval_prompt(question: str, proposed: str) -> str:
    """Kadavath et al.'s P(True) prompt for ``proposed`` as the answer to ``question``."""
    return SELF_EVAL_TEMPLATE.format(question=question.strip(), answer=proposed.strip())


BATCH = 16
"""Sequences one verifier forward pass reads at most (a question's paths, right-padded, in chunks)."""


def _chunks(items: list, size: int = BATCH) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _padded(model, sequences: list[list[int]], pad_id: int):
    """``sequences`` right-padded with ``pad_id`` and their attention mask, on the model's device.
    Right padding leaves a causal model's logits at the real positions as they are unpadded."""
    import torch

    longest = max(map(len, sequences))
    ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for i, seq in enumerate(sequences):
        ids[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[i, : len(seq)] = 1
    return ids.to(model.device), mask.to(model.device)


def _pad_id(model, tokenizer) -> int:
    """A padding id (any id works under the attention mask; the model's own where it has one)."""
    candidates = (model.config.pad_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id)
    return next((c for c in candidates if c is not None), 0)


def continuation_logprob(model, tokenizer, prompt: str, continuation: str) -> tuple[float, int]:
    """log P(continuation | prompt) under a causal LM (or an encoder-decoder: the prompt encoded, the
    continuation decoded), and the tokens processed."""
    (((total,), tokens),) = continuation_logprobs(model, tokenizer, [prompt], [continuation])
    return total, tokens


def continuation_logprobs(
    model, tokenizer, prompts: list[str], continuations: list[str]
) -> list[tuple[list[float], int]]:
    """For each prompt, log P(c | prompt) of each continuation ``c``, and the tokens processed (the
    prompt once per continuation), in batched forward passes. The continuations must be of one
    token length (the options of P(True)): an encoder-decoder then needs no label padding."""
    import torch

    conts = [tokenizer.encode(c, add_special_tokens=False) for c in continuations]
    if len({len(c) for c in conts}) != 1:
        raise ValueError(f"continuations {continuations} are of different token lengths in this tokenizer")
    width, pad = len(conts[0]), _pad_id(model, tokenizer)
    pairs = [(tokenizer.encode(p), c) for p in prompts for c in conts]
    totals = []
    for chunk in _chunks(pairs):
        with torch.no_grad():
            if model.config.is_encoder_decoder:
                # The prompt is encoded; the decoder reads the continuation (T5: labels shifted right).
                ids, mask = _padded(model, [p for p, _ in chunk], pad)
                labels = torch.tensor([c for _, c in chunk], device=model.device)
                logits = model(input_ids=ids, attention_mask=mask, labels=labels).logits
                starts = [0] * len(chunk)
            else:
                ids, mask = _padded(model, [p + c for p, c in chunk], pad)
                logits = model(input_ids=ids, attention_mask=mask).logits
                starts = [len(p) - 1 for p, _ in chunk]  # token t is predicted at position t - 1
        for k, ((_, c), start) in enumerate(zip(chunk, starts, strict=True)):
            logprobs = torch.log_softmax(logits[k, start : start + width].float(), dim=-1)
            totals.append(sum(logprobs[i, t].item() for i, t in enumerate(c)))
    n = len(conts)
    return [(totals[j * n : (j + 1) * n], n * (len(pairs[j * n][0]) + width)) for j in range(len(prompts))]


def p_true(model, tokenizer, question: str, proposed: str) -> tuple[float, int]:
    """The model's P(True) that ``proposed`` answers ``question``, and the tokens processed."""
    return p_trues(model, tokenizer, question, [proposed])[0]


def p_trues(model, tokenizer, question: str, proposals: list[str]) -> list[tuple[float, int]]:
    """:func:`p_true` of each proposed answer to ``question``, in batched forward passes."""
    prompts = [self_eval_prompt(question, p) for p in proposals]
    scored = continuation_logprobs(model, tokenizer, prompts, [TRUE_OPTION, FALSE_OPTION])
    return [(1.0 / (1.0 + math.exp(no - yes)), tokens) for (yes, no), tokens in scored]


def orm_text(question: str, reasoning: str, answer: str) -> str:
    """The one sequence an outcome reward model reads for a path."""
    return f"{question.strip()}\n{reasoning}{answer}"


def orm_score(model, tokenizer, text: str) -> tuple[float, int]:
    """A sequence-classification head's score of ``text`` (1 label: the logit; 2: P(label 1)), and
    the tokens processed; more labels are refused."""
    return orm_scores(model, tokenizer, [text])[0]


def orm_scores(model, tokenizer, texts: list[str]) -> list[tuple[float, int]]:
    """:func:`orm_score` of each text, in batched forward passes (one at a time where the model
    names no padding token: its head finds a sequence's last token by that id)."""
    import torch

    pad = model.config.pad_token_id
    encoded = [tokenizer.encode(t) for t in texts]
    out = []
    for chunk in _chunks(encoded, BATCH if pad is not None else 1):
        ids, mask = _padded(model, chunk, pad if pad is not None else 0)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
        if logits.shape[-1] not in (1, 2):
            raise ValueError(f"an ORM head has 1 or 2 labels, this one {logits.shape[-1]}")
        scores = logits[:, 0] if logits.shape[-1] == 1 else torch.softmax(logits, dim=-1)[:, 1]
        out += [(score, len(seq)) for score, seq in zip(scores.tolist(), chunk, strict=True)]
    return out


def prm_step_scores(model, tokenizer, fmt: str, question: str, solution: str) -> tuple[list[float], int]:
    """A process reward model's P(good) for each step of ``solution`` in PRM format ``fmt``
    (:mod:`cotrepro.engine.hf.prm_format`), and the tokens processed."""
    return prm_step_scores_many(model, tokenizer, fmt, question, [solution])[0]


def prm_step_scores_many(
    model, tokenizer, fmt: str, question: str, solutions: list[str]
) -> list[tuple[list[float], int]]:
    """:func:`prm_step_scores` of each solution to ``question``, in batched forward passes."""
    import torch

    from cotrepro.engine.hf.prm_format import prm_input, step_probabilities

    inputs = [prm_input(fmt, tokenizer, question, s) for s in solutions]
    out = []
    for chunk in _chunks(inputs):
        ids, mask = _padded(model, [p.input_ids for p in chunk], _pad_id(model, tokenizer))
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits
        out += [(step_probabilities(logits[k], prm), len(prm.input_ids)) for k, prm in enumerate(chunk)]
    return out


def load_verifier_model(model_dir, head: str, device: str = "auto", dtype: str = "auto"):
    """(model, tokenizer) of a verifier's local safetensors files, remote code off, in eval mode:
    ``head`` ``classifier`` (an ORM's sequence-classification head), ``causal`` (a PRM, or a causal
    model asked for P(True)) or ``seq2seq`` (an encoder-decoder asked for P(True))."""
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSeq2SeqLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    from cotrepro.engine.tokens import resolve_device, resolve_dtype

    classes = {
        "classifier": AutoModelForSequenceClassification,
        "causal": AutoModelForCausalLM,
        "seq2seq": AutoModelForSeq2SeqLM,
    }
    if head not in classes:
        raise ValueError(f"unknown verifier head {head!r}; allowed values: {', '.join(classes)}")
    where = resolve_device(device)
    model = classes[head].from_pretrained(
        model_dir, dtype=resolve_dtype(dtype, where), use_safetensors=True, trust_remote_code=False
    )
    model.to(where).eval()
    return model, AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)


def safetensors_parameters(model_dir) -> int:
    """The parameters in a model folder's safetensors files, read from their headers without loading
    a weight (for FLOPs: about 2 x parameters x tokens processed)."""
    from pathlib import Path

    from safetensors import safe_open

    total = 0
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as fh:
            for name in fh.keys():  # noqa: SIM118 (a safe_open handle is not a dict)
                total += math.prod(fh.get_slice(name).get_shape())
    return total


def refuse_remote_code(slug: str, config: dict) -> None:
    """Raise ValueError (one line naming the verifier) when a verifier's config.json needs remote
    code: an ``auto_map``, or an architecture this transformers does not have."""
    import transformers

    if config.get("auto_map"):
        raise ValueError(f"verifier {slug}: config.json has auto_map (remote code); trust_remote_code stays off")
    missing = [a for a in config.get("architectures") or [] if not hasattr(transformers, a)]
    if missing:
        raise ValueError(
            f"verifier {slug}: architecture {missing[0]} is not in transformers {transformers.__version__} "
            "(it would need remote code, which stays off)"
        )
