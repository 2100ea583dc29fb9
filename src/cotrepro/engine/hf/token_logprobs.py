"""Each generated token's log-probability under the model, recorded while transformers' ``generate``
runs: a logits processor placed before any sampler sees the model's own next-token scores (no
temperature, top-k or top-p), and the token chosen at one step is read from the ids of the next
(the last from the output). A path's weight for a verifier is the sum over its kept tokens
(Wang et al.'s unnormalized weighting; divided by the token count, the normalized one)."""

from __future__ import annotations

import torch
from transformers import LogitsProcessor


class TokenLogprobs(LogitsProcessor):
    """Records, per row of a batch, the log-probability of every token ``generate`` appends."""

    def __init__(self):
        self.previous: torch.Tensor | None = None  # [B, V] log-probabilities of the step before
        self.chosen: list[torch.Tensor] = []  # one [B] tensor a finished step

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Keeps this step's log-probabilities and reads the last step's chosen token; ``scores`` unchanged."""
        if self.previous is not None:
            self.chosen.append(self.previous.gather(1, input_ids[:, -1:]).squeeze(1))
        self.previous = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def per_row(self, sequences: torch.LongTensor) -> list[list[float]]:
        """Each row's token log-probabilities, in order, given ``generate``'s output (whose last
        column holds the last step's tokens)."""
        steps = list(self.chosen)
        if self.previous is not None:
            steps.append(self.previous.gather(1, sequences[:, -1:]).squeeze(1))
        if not steps:
            return [[] for _ in range(sequences.shape[0])]
        return torch.stack(steps, dim=1).tolist()


def kept_sum(logprobs: list[float], n: int) -> float:
    """The summed log-probability of a row's first ``n`` tokens (those its completion kept, the
    end-of-sequence token included where it ended so), rounded to 1e-6."""
    return round(sum(logprobs[:n]), 6)
