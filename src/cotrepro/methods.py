"""The prompting methods, each declared once: everything a consumer needs to know about a method.

Prompts, the generation runner, answer extraction, scoring, the paired tests, figures, tables,
the report and the paper all read :data:`REGISTRY` (through the functions below) at call time;
none keeps its own list, so adding a method is one :class:`MethodSpec` here.

A run may add *variants* of a method, the ablations of its prompt: another reasoning trigger for
zero-shot CoT (Kojima et al.'s Table 4), another exemplar order, the chat prompt format. A variant's
key is the method's key, ``@`` and a slug (``zero_shot_cot@detective``); it behaves as its method
does everywhere, and what it changes lives in the run's settings (:mod:`cotrepro.config`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class MethodSpec:
    """One prompting method.

    ``few_shot``: the prompt starts with k worked exemplars (config key ``shots``).
    ``reasoning``: the model writes its reasoning before the answer (exemplar rationales, or the
    "Let's think step by step." trigger); its first generation then uses the reasoning budget.
    ``stages``: 2 when a second prompt extracts the answer from the reasoning (Kojima et al.).
    ``cot_baseline``: the method with the same shots and no reasoning, which the paired tests and
    the paper compare this one against; ``zero_shot_counterpart``: the method with the same
    reasoning and no exemplars (few-shot against zero-shot).
    ``samples``: self-consistency (Wang et al.): config ``sampling.paths`` reasoning paths are
    sampled per question (a two-stage method's answer step stays greedy, per path) and the answer
    is the majority vote; ``greedy_counterpart`` is the same prompt decoded greedily, once.
    ``default``: run when the config does not list ``methods`` (sampling methods multiply the
    generation work by the number of paths, so they are asked for by name).
    """

    key: str
    label: str
    color: str  # one colour per method in every figure (Okabe-Ito, colour-blind safe)
    few_shot: bool
    reasoning: bool
    stages: int = 1
    cot_baseline: str | None = None
    zero_shot_counterpart: str | None = None
    paper: str = ""  # whose comparison this method stands for, for captions
    samples: bool = False
    greedy_counterpart: str | None = None
    default: bool = True
    variant: str | None = None  # the slug of a variant (``zero_shot_cot@detective``), else None

    def __post_init__(self):
        if self.stages not in (1, 2):
            raise ValueError(f"method {self.key}: stages must be 1 or 2, not {self.stages}")
        if self.stages == 2 and (self.few_shot or not self.reasoning):
            raise ValueError(f"method {self.key}: only zero-shot reasoning methods have an answer-extraction stage")
        if self.samples and not (self.reasoning and self.greedy_counterpart):
            raise ValueError(f"method {self.key}: self-consistency samples reasoning paths of a greedy method")

    @property
    def base(self) -> str:
        """The registry method a variant varies (the method itself when it is not a variant)."""
        return self.key.partition(VARIANT_SEPARATOR)[0]

    @property
    def two_stage(self) -> bool:
        """Whether a second prompt reads the answer out of the generated reasoning."""
        return self.stages == 2

    @property
    def first_stage_budget(self) -> str:
        """Which max-new-tokens budget the first generation uses: ``reasoning`` or ``answer``."""
        return "reasoning" if self.reasoning else "answer"

    def shaping(self) -> dict:
        """The fields that decide generated text (not label, colour or pairing): what a generation
        job's parameters and fingerprint hold, so that a cosmetic change regenerates nothing."""
        return {"few_shot": self.few_shot, "reasoning": self.reasoning, "stages": self.stages, "samples": self.samples}


REGISTRY: dict[str, MethodSpec] = {
    spec.key: spec
    for spec in (
        MethodSpec("zero_shot", "zero-shot", "#E69F00", few_shot=False, reasoning=False),
        MethodSpec(
            "zero_shot_cot",
            "zero-shot CoT",
            "#56B4E9",
            few_shot=False,
            reasoning=True,
            stages=2,
            cot_baseline="zero_shot",
            paper="Kojima et al.",
        ),
        MethodSpec(
            "few_shot", "few-shot", "#009E73", few_shot=True, reasoning=False, zero_shot_counterpart="zero_shot"
        ),
        MethodSpec(
            "few_shot_cot",
            "few-shot CoT",
            "#D55E00",
            few_shot=True,
            reasoning=True,
            cot_baseline="few_shot",
            zero_shot_counterpart="zero_shot_cot",
            paper="Wei et al.",
        ),
        MethodSpec(
            "few_shot_cot_sc",
            "few-shot CoT + self-consistency",
            "#CC79A7",
            few_shot=True,
            reasoning=True,
            samples=True,
            greedy_counterpart="few_shot_cot",
            default=False,
            paper="Wang et al.",
        ),
        MethodSpec(
            "zero_shot_cot_sc",
            "zero-shot CoT + self-consistency",
            "#0072B2",
            few_shot=False,
            reasoning=True,
            stages=2,
            samples=True,
            greedy_counterpart="zero_shot_cot",
            default=False,
            paper="Wang et al.",
        ),
    )
}
"""Every method by key, in the order tables and figures show them."""


VARIANT_SEPARATOR = "@"


def variant_key(base: str, slug: str) -> str:
    """The key of variant ``slug`` of registry method ``base``: ``zero_shot_cot@detective``."""
    get(base)
    return f"{base}{VARIANT_SEPARATOR}{slug}"


def get(key: str) -> MethodSpec:
    """The method ``key`` (a registry method or a variant of one), or a ValueError naming the known ones."""
    base, sep, slug = key.partition(VARIANT_SEPARATOR)
    try:
        spec = REGISTRY[base]
    except KeyError:
        raise ValueError(f"unknown method {key!r}; allowed: {', '.join(REGISTRY)}") from None
    if not sep:
        return spec
    if not slug:
        raise ValueError(f"method {key!r}: a variant needs a slug after {VARIANT_SEPARATOR!r}")
    # A variant is drawn and paired like its method; only its label tells it apart.
    return replace(spec, key=key, label=f"{spec.label} [{slug}]", variant=slug, default=False)


def all_keys() -> tuple[str, ...]:
    """Every method key, in display order."""
    return tuple(REGISTRY)


def default_keys() -> tuple[str, ...]:
    """The methods a config runs when it does not list ``methods``."""
    return tuple(k for k, s in REGISTRY.items() if s.default)


def sampling_keys() -> tuple[str, ...]:
    """The self-consistency methods (sampled paths, majority vote)."""
    return tuple(k for k, s in REGISTRY.items() if s.samples)


def ordered(present) -> list[str]:
    """The registry methods among ``present``, in display order (variants are left out: they have
    tables of their own; :func:`ordered_with_variants` keeps them)."""
    present = set(present)
    return [k for k in REGISTRY if k in present]


def ordered_with_variants(present) -> list[str]:
    """The methods among ``present`` in display order, each method's variants (by slug) right after it."""
    present = set(present)
    out = []
    for k in REGISTRY:
        variants = sorted(p for p in present if p.partition(VARIANT_SEPARATOR)[0] == k and p != k)
        out += ([k] if k in present else []) + variants
    return out


def label(key: str) -> str:
    """How tables and figures name the method (an unknown key as itself, e.g. a published-only one)."""
    try:
        return get(key).label
    except ValueError:
        return key


def color(key: str) -> str:
    """The method's colour in every figure."""
    return get(key).color


def labels() -> dict[str, str]:
    """Key -> label for every method."""
    return {k: s.label for k, s in REGISTRY.items()}


def cot_pairs() -> list[tuple[str, str]]:
    """(cot_baseline, method) for each reasoning method that has a baseline: the papers' CoT comparisons."""
    return [(s.cot_baseline, s.key) for s in REGISTRY.values() if s.cot_baseline]


def voting_pairs() -> list[tuple[str, str]]:
    """(greedy_counterpart, method) for each self-consistency method: Wang et al.'s comparison."""
    return [(s.greedy_counterpart, s.key) for s in REGISTRY.values() if s.greedy_counterpart]


def pairs(present=()) -> list[tuple[str, str]]:
    """The method pairs the papers compare, as (baseline, method): each reasoning method against its
    no-reasoning baseline first, then each few-shot method against its zero-shot counterpart, then
    each self-consistency method against its greedy counterpart; then, for each variant among
    ``present``, its method against it (the ablation's paired test)."""
    shots = [(s.zero_shot_counterpart, s.key) for s in REGISTRY.values() if s.zero_shot_counterpart]
    variants = [(get(k).base, k) for k in ordered_with_variants(present) if get(k).variant]
    return cot_pairs() + shots + voting_pairs() + variants
