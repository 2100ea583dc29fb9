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


def continuation_logprob(model, tokenizer, prompt: str, continuation: str) -> tuple[float, int]:
    """log P(continuation | prompt) under a causal LM (or an encoder-decoder: the prompt encoded, the
    continuation decoded), and the tokens processed."""
    (total,), tokens = continuation_logprobs(model, tokenizer, prompt, [continuation])
    return total, tokens


def continuation_logprobs(model, tokenizer, prompt: str, continuations: list[str]) -> tuple[list[float], int]:
    """log P(c | prompt) of each continuation ``c``, and the tokens processed (the prompt once per
    continuation). Continuations of one token length share one batched forward pass, since they
    need no padding; others each get their own."""
    import torch

    prompt_ids = tokenizer.encode(prompt)
    conts = [tokenizer.encode(c, add_special_tokens=False) for c in continuations]
    if len({len(c) for c in conts}) > 1:
        totals = [continuation_logprobs(model, tokenizer, prompt, [c])[0][0] for c in continuations]
        return totals, sum(len(prompt_ids) + len(c) for c in conts)
    width = len(conts[0])
    with torch.no_grad():
        if model.config.is_encoder_decoder:
            # The prompt is encoded; the decoder reads the continuation (T5: labels shifted right).
            inputs = torch.tensor([prompt_ids] * len(conts), device=model.device)
            logits = model(input_ids=inputs, labels=torch.tensor(conts, device=model.device)).logits
            offset = 0
        else:
            logits = model(torch.tensor([prompt_ids + c for c in conts], device=model.device)).logits
            offset = len(prompt_ids) - 1  # token t is predicted at position t - 1
        logprobs = torch.log_softmax(logits[:, offset : offset + width].float(), dim=-1)
    totals = [sum(logprobs[k, i, t].item() for i, t in enumerate(c)) for k, c in enumerate(conts)]
    return totals, len(conts) * (len(prompt_ids) + width)


def p_true(model, tokenizer, question: str, proposed: str) -> tuple[float, int]:
    """The model's P(True) that ``proposed`` answers ``question``, and the tokens processed."""
    (yes, no), tokens = continuation_logprobs(
        model, tokenizer, self_eval_prompt(question, proposed), [TRUE_OPTION, FALSE_OPTION]
    )
    return 1.0 / (1.0 + math.exp(no - yes)), tokens


def orm_text(question: str, reasoning: str, answer: str) -> str:
    """The one sequence an outcome reward model reads for a path."""
    return f"{question.strip()}\n{reasoning}{answer}"


def orm_score(model, tokenizer, text: str) -> tuple[float, int]:
    """A sequence-classification head's score of ``text`` (1 label: the logit; 2: P(label 1)), and
    the tokens processed; more labels are refused."""
    import torch

    ids = torch.tensor([tokenizer.encode(text)], device=model.device)
    with torch.no_grad():
        logits = model(ids).logits[0].float()
    if logits.numel() == 1:
        return logits.item(), ids.shape[1]
    if logits.numel() == 2:
        return torch.softmax(logits, dim=-1)[1].item(), ids.shape[1]
    raise ValueError(f"an ORM head has 1 or 2 labels, this one {logits.numel()}")


def prm_step_scores(model, tokenizer, fmt: str, question: str, solution: str) -> tuple[list[float], int]:
    """A process reward model's P(good) for each step of ``solution`` in PRM format ``fmt``
    (:mod:`cotrepro.engine.hf.prm_format`), and the tokens processed."""
    import torch

    from cotrepro.engine.hf.prm_format import prm_input, step_probabilities

    prm = prm_input(fmt, tokenizer, question, solution)
    with torch.no_grad():
        logits = model(torch.tensor([prm.input_ids], device=model.device)).logits[0]
    return step_probabilities(logits, prm), len(prm.input_ids)


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
