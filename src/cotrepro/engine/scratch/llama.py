"""A Llama built from scratch in plain PyTorch: Llama 3.x, Llama 2, TinyLlama.

One readable file, no transformers model classes: token embedding, RMSNorm, rotary position
embeddings (with Llama 3's frequency scaling or without), grouped-query attention over a
preallocated KV cache, SwiGLU feed-forward, and a tied or untied output head. The weights load
straight from a Hugging Face model directory (``config.json`` and safetensors); module names
follow the checkpoint's, so the state dict loads as it is.

Shapes use B = batch, T = tokens in this call, S = cached tokens (keys), D = hidden size,
H = query heads, K = key/value heads, E = head size, V = vocabulary, F = feed-forward size.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

_LLAMA3_KEYS = ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")


@dataclass(frozen=True)
class LlamaConfig:
    """The architecture, read from a Hugging Face ``config.json`` (its key names in comments)."""

    vocab_size: int  # vocab_size: V, rows of the embedding and of the output head
    hidden_size: int  # hidden_size: D, the width of the residual stream
    intermediate_size: int  # intermediate_size: F, the SwiGLU feed-forward's inner width
    num_layers: int  # num_hidden_layers: transformer blocks
    num_heads: int  # num_attention_heads: H, query heads
    num_kv_heads: int  # num_key_value_heads: K, key/value heads; K < H is grouped-query attention
    head_dim: int  # head_dim (else D / H): E, the width of one head
    rms_norm_eps: float  # rms_norm_eps: added to the mean square before the root
    rope_theta: float  # rope_theta: base of the rotary frequencies (10,000 Llama 2; 500,000 Llama 3)
    rope_scaling: dict | None  # rope_scaling: Llama 3.1+ stretches low frequencies (rope_type llama3; its 4 keys)
    tie_word_embeddings: bool  # tie_word_embeddings: the output head reuses the embedding matrix
    attention_bias: bool  # attention_bias: q/k/v/o projections with a bias (False in Llama)
    max_position_embeddings: int  # max_position_embeddings: the context the model was trained for

    @classmethod
    def from_dict(cls, cfg: dict) -> LlamaConfig:
        """The configuration of a llama ``config.json``, or a ValueError naming what is unsupported."""
        if cfg.get("model_type") != "llama":
            raise ValueError(f"the scratch backend runs Llama models only; this one is {cfg.get('model_type')!r}")
        if cfg.get("hidden_act", "silu") != "silu" or cfg.get("mlp_bias"):
            raise ValueError("the scratch backend needs Llama's SwiGLU feed-forward (hidden_act silu, no mlp_bias)")
        # Released checkpoints write rope_theta and rope_scaling; transformers 5 saves both as rope_parameters.
        rope = cfg.get("rope_parameters") or cfg.get("rope_scaling") or {}
        rope_type = rope.get("rope_type", rope.get("type", "default"))
        if rope_type not in ("llama3", "default"):
            raise ValueError(f"rope_type {rope_type!r} is not supported; allowed values: llama3, default")
        heads = cfg["num_attention_heads"]
        return cls(
            vocab_size=cfg["vocab_size"],
            hidden_size=cfg["hidden_size"],
            intermediate_size=cfg["intermediate_size"],
            num_layers=cfg["num_hidden_layers"],
            num_heads=heads,
            num_kv_heads=cfg.get("num_key_value_heads") or heads,
            head_dim=cfg.get("head_dim") or cfg["hidden_size"] // heads,
            rms_norm_eps=cfg.get("rms_norm_eps", 1e-6),
            rope_theta=cfg.get("rope_theta", rope.get("rope_theta", 10000.0)),
            rope_scaling={k: rope[k] for k in _LLAMA3_KEYS} if rope_type == "llama3" else None,
            tie_word_embeddings=cfg.get("tie_word_embeddings", False),
            attention_bias=cfg.get("attention_bias", False),
            max_position_embeddings=cfg.get("max_position_embeddings", 2048),
        )


def rope_frequencies(cfg: LlamaConfig) -> torch.Tensor:
    """Inverse frequencies of the rotary embedding, one per pair of head dimensions: [E/2].

    Llama 3's scaling divides the low frequencies (wavelengths longer than the original context
    over ``low_freq_factor``) by ``factor``, keeps the high ones, and blends linearly in between,
    so that positions beyond the original context stay distinguishable.
    """
    inv_freq = 1.0 / cfg.rope_theta ** (torch.arange(0, cfg.head_dim, 2, dtype=torch.float32) / cfg.head_dim)
    if cfg.rope_scaling is None:
        return inv_freq
    s = cfg.rope_scaling
    factor, low, high = s["factor"], s["low_freq_factor"], s["high_freq_factor"]
    context = s["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > context / low, inv_freq / factor, inv_freq)
    smooth = (context / wavelen - low) / (high - low)  # 0 at the low-frequency edge, 1 at the high one
    blended = (1 - smooth) * scaled / factor + smooth * scaled
    between = (wavelen >= context / high) & (wavelen <= context / low)
    return torch.where(between, blended, scaled)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each head's two halves by the angles of its positions (Hugging Face's half-split layout).

    x: [B, heads, T, E]; cos, sin: [B, 1, T, E], broadcast over the heads.
    """
    first, second = x.chunk(2, dim=-1)  # [B, heads, T, E/2] each
    return x * cos + torch.cat((-second, first), dim=-1) * sin


class RMSNorm(nn.Module):
    """Scale each vector to unit root mean square (computed in float32), then by a learned weight."""

    def __init__(self, size: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, T, D] -> [B, T, D] in x's dtype."""
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


class KVCache:
    """Preallocated keys and values of every layer for a batch: nothing grows or is copied per step."""

    def __init__(self, cfg: LlamaConfig, batch: int, length: int, dtype: torch.dtype, device: torch.device):
        shape = (batch, cfg.num_kv_heads, length, cfg.head_dim)  # [B, K, S_max, E]
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(cfg.num_layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(cfg.num_layers)]

    def store(self, layer: int, start: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write a call's keys and values ([B, K, T, E]) at ``start`` and return all so far: [B, K, start + T, E]."""
        end = start + k.shape[2]
        self.keys[layer][:, :, start:end] = k
        self.values[layer][:, :, start:end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]


class Attention(nn.Module):
    """Grouped-query self-attention: K key/value heads, each shared by H / K query heads."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        bias = cfg.attention_bias
        self.q_proj = nn.Linear(cfg.hidden_size, cfg.num_heads * cfg.head_dim, bias=bias)
        self.k_proj = nn.Linear(cfg.hidden_size, cfg.num_kv_heads * cfg.head_dim, bias=bias)
        self.v_proj = nn.Linear(cfg.hidden_size, cfg.num_kv_heads * cfg.head_dim, bias=bias)
        self.o_proj = nn.Linear(cfg.num_heads * cfg.head_dim, cfg.hidden_size, bias=bias)

    def forward(self, x, cos, sin, allowed, cache: KVCache | None, layer: int, start: int) -> torch.Tensor:
        """x: [B, T, D]; allowed: [B, 1, T, S] (True where a query may see a key) -> [B, T, D]."""
        b, t, _ = x.shape
        # [B, T, heads * E] -> [B, T, heads, E] -> [B, heads, T, E]: heads first, as attention wants.
        q = self.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        if cache is not None:
            k, v = cache.store(layer, start, k, v)  # [B, K, S, E]: this call's tokens after the cached ones
        # Each key/value head serves H / K query heads: repeat it for them, [B, K, S, E] -> [B, H, S, E].
        k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
        v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)  # [B, H, T, E], scaled by 1/sqrt(E)
        # [B, H, T, E] -> [B, T, H, E] -> [B, T, H * E], then back to the residual width D.
        return self.o_proj(out.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))


class FeedForward(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x)), through the wider F dimensions."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, T, D] -> [B, T, F] inside -> [B, T, D]."""
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    """One transformer block: attention then feed-forward, each on a normalised copy added back to the residual."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = FeedForward(cfg)

    def forward(self, x, cos, sin, allowed, cache, layer, start) -> torch.Tensor:
        """x: [B, T, D] -> [B, T, D]."""
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, allowed, cache, layer, start)
        return x + self.mlp(self.post_attention_layernorm(x))


class Backbone(nn.Module):
    """Embedding, the blocks and the final norm (the checkpoint's ``model.`` prefix)."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class ScratchLlama(nn.Module):
    """The whole causal language model: token ids in, next-token logits out."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.config = cfg
        self.model = Backbone(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight  # one [V, D] matrix in and out
        self.register_buffer("inv_freq", rope_frequencies(cfg), persistent=False)  # [E/2]

    def new_cache(self, batch: int, length: int) -> KVCache:
        """An empty KV cache for ``batch`` rows of up to ``length`` tokens, in the model's dtype and device."""
        weight = self.lm_head.weight
        return KVCache(self.config, batch, length, weight.dtype, weight.device)

    def forward(
        self,
        ids: torch.Tensor,
        positions: torch.Tensor,
        key_mask: torch.Tensor,
        cache: KVCache | None = None,
        start: int = 0,
    ) -> torch.Tensor:
        """Logits of the next token after each input token.

        ids, positions: [B, T] token ids and their rotary positions (a left-padded row's first real
        token is at position 0); key_mask: [B, S'] with S' >= start + T, True for the real tokens of
        the cache and the input (padding is False); cache: keys and values of the ``start`` earlier
        tokens, which this call extends (None: attend within ``ids`` only). Returns [B, T, V].
        """
        t = ids.shape[1]
        x = self.model.embed_tokens(ids)  # [B, T] -> [B, T, D]
        # Angles: [B, T] positions x [E/2] frequencies -> [B, T, E/2], repeated for both halves -> [B, T, E];
        # a head axis of 1 lets them broadcast over the heads: [B, 1, T, E].
        angles = positions.float()[..., None] * self.inv_freq
        angles = torch.cat((angles, angles), dim=-1)[:, None]
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
        # Query i (absolute index start + i) sees key j when j <= start + i and key j is real;
        # each query also sees itself, so that a padding query's softmax never runs over nothing.
        keys = torch.arange(start + t, device=ids.device)  # [S]
        queries = torch.arange(start, start + t, device=ids.device)[:, None]  # [T, 1]
        allowed = ((keys <= queries) & key_mask[:, None, : start + t]) | (keys == queries)  # [B, T, S]
        allowed = allowed[:, None]  # [B, 1, T, S], shared by the heads
        for i, block in enumerate(self.model.layers):
            x = block(x, cos, sin, allowed, cache, i, start)
        return self.lm_head(self.model.norm(x))  # [B, T, D] -> [B, T, V]


def load_scratch_llama(model_dir: Path, dtype: torch.dtype, device: torch.device) -> ScratchLlama:
    """A :class:`ScratchLlama` with the weights of a Hugging Face model directory (``config.json`` and
    ``*.safetensors``, sharded or not), in ``dtype`` on ``device``, ready for inference."""
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    cfg = LlamaConfig.from_dict(json.loads((model_dir / "config.json").read_text(encoding="utf-8")))
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{model_dir} holds no *.safetensors weights")
    state = {}
    for path in files:
        state.update(load_file(path, device=str(device)))
    state = {name: tensor.to(dtype) for name, tensor in state.items()}
    if cfg.tie_word_embeddings:
        state.pop("lm_head.weight", None)  # the head is the embedding; a saved copy is the same matrix
    with torch.device("meta"):  # no memory for random weights that the checkpoint replaces at once
        model = ScratchLlama(cfg)
    model.load_state_dict(state, strict=False, assign=True)
    if cfg.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight  # assign=True replaced the shared parameter
    missing = [n for n, p in model.named_parameters() if p.is_meta]
    if missing:
        raise ValueError(f"{model_dir}: the weights lack {', '.join(missing[:5])}")
    model.inv_freq = rope_frequencies(cfg).to(device)
    return model.eval()
