"""Every knob of a training run in one place: :class:`TrainConfig` and its curriculum of :class:`Stage` s.

A stage is written ``miner:key=value,...`` on the command line and in recipes, e.g.
``model:epochs=1,negatives=1,refresh_steps=13,depth=30,skip=3``. The keys ``epochs``, ``negatives`` and
``refresh_steps`` belong to the stage; every other key is passed to the miner's constructor.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import typing
from dataclasses import dataclass, field
from typing import Any

from topobench.core.arguments import fits, misfit
from topobench.core.errors import ConfigError

STAGE_KEYS = ("epochs", "negatives", "refresh_steps", "refresh_epochs")
# Arithmetic profiles (issue 23). exact: float32 throughout, the committed cells reproduce bit for bit. fast: bf16
# autocast for training, mining and dev-evaluation encodings and the final dataset encoding (vectors stored float32).
PROFILES = ("exact", "fast")
EXACT = "exact"


def parse_value(text: str) -> Any:
    """``1`` → 1, ``0.5`` → 0.5, ``true`` → True, anything else stays a string (YAML-like, no YAML needed)."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text.strip()


def check_fields(obj: Any, where: str, exclude: tuple[str, ...] = ()) -> None:
    """Each field of the dataclass ``obj`` against its annotation (a string where a number belongs, NaN, a float
    where a whole number belongs): a ``ConfigError`` prefixed with ``where`` for the first misfit."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.name not in exclude and not fits(value, hints[f.name]):
            raise ConfigError(f"{where}{misfit(f.name, value, hints[f.name])}")


def parse_assignments(text: str, where: str) -> dict[str, Any]:
    """``a=1,b=x`` → {"a": 1, "b": "x"}; a malformed item is a ConfigError naming ``where``."""
    out: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{where}: {item!r} is not key=value")
        out[key.strip()] = parse_value(value)
    return out


# Upper bounds of the numbers that size a run (its steps, its batches, its token length): a typo such as
# epochs=1e308 or --max-length 1000000000 is refused here, before anything is loaded or written, instead of
# overflowing or failing after training started. Each is far above any useful value.
STAGE_BOUNDS = {"epochs": 1000, "refresh_epochs": 1000, "negatives": 1000, "refresh_steps": 1_000_000_000}
MAX_TOKENS = 32_768  # the longest context of a shipped encoder (nv-embed); an encoder's own limit is checked on load
CONFIG_BOUNDS = {"batch_size": 65_536, "grad_accum": 65_536, "encode_batch_size": 65_536, "max_length": MAX_TOKENS,
                 "keep_best": 1000, "save_steps": 1_000_000_000, "eval_steps": 1_000_000_000,
                 "seed": (1 << 63) - 1, "dev_queries": 100_000_000}


@dataclass
class Stage:
    """One step of the curriculum: which miner supplies hard negatives, for how long, how many per example.

    ``epochs`` may be fractional; ``negatives`` is the number of hard negatives sampled per example from the query's
    pool (0: in-batch only); ``refresh_steps`` makes a refreshing miner (``model``) mine again every that many
    optimiser steps (0: once, at the start of the stage).
    """

    miner: str
    epochs: float = 1.0
    negatives: int = 0
    refresh_steps: int = 0
    refresh_epochs: float = 0.0
    miner_args: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str) -> Stage:
        miner, _, rest = spec.partition(":")
        if not miner.strip():
            raise ConfigError(f"stage {spec!r}: expected miner[:key=value,...], e.g. bm25:epochs=1,negatives=1")
        values = parse_assignments(rest, f"stage {spec!r}")
        own = {k: values.pop(k) for k in STAGE_KEYS if k in values}
        return cls(miner=miner.strip(), miner_args=values, **own)

    def __post_init__(self) -> None:
        """Refuse values of the wrong type or range (``epochs=abc``, ``negatives=-1``, ``epochs=nan``) up front."""
        check_fields(self, f"stage {self.miner!r}: ", exclude=("miner_args",))
        if not self.miner.strip():
            raise ConfigError("a stage needs a miner name, e.g. bm25:epochs=1,negatives=1")
        if self.epochs <= 0 or min(self.negatives, self.refresh_steps, self.refresh_epochs) < 0:
            raise ConfigError(f"stage {self.miner!r}: epochs must be > 0, negatives and refresh_* >= 0 (got "
                              f"epochs={self.epochs}, negatives={self.negatives}, refresh_steps={self.refresh_steps}, "
                              f"refresh_epochs={self.refresh_epochs})")
        for name, high in STAGE_BOUNDS.items():
            if getattr(self, name) > high:
                raise ConfigError(f"stage {self.miner!r}: {name}={getattr(self, name)} is more than {high:,}; use a "
                                  "smaller value")

    def spec(self) -> str:
        items = {"epochs": self.epochs, "negatives": self.negatives, "refresh_steps": self.refresh_steps,
                 "refresh_epochs": self.refresh_epochs}
        items = {k: v for k, v in items.items() if v or k == "epochs"} | self.miner_args
        return f"{self.miner}:" + ",".join(f"{k}={v}" for k, v in items.items())


DEFAULT_STAGES = (
    "in_batch:epochs=1",
    "bm25:epochs=1,negatives=1,depth=30,skip=0",
    "model:epochs=1,negatives=1,refresh_epochs=0.5,depth=30,skip=3",
)


# Fields added after runs and cells were written: left out of ``to_dict`` (and so of the fingerprint) at these values.
LEFT_OUT_AT_DEFAULT: dict[str, Any] = {"profile": EXACT, "positives_per_query": None}


@dataclass
class TrainConfig:
    """A training run. Field docs double as ``python train.py --help``."""

    corpus: str = field(metadata={"help": "corpus to train on (its train split), e.g. scifact"})
    encoder: str = field(metadata={"help": "encoder plugin to fine-tune, e.g. minilm"})
    loss: str = field(default="infonce", metadata={"help": "loss plugin: infonce | topology | any registered loss"})
    loss_args: dict[str, Any] = field(default_factory=dict,
                                      metadata={"help": "loss options, e.g. temperature=0.05,weight=0.6"})
    encoder_args: dict[str, Any] = field(default_factory=dict,
                                         metadata={"help": "encoder options, e.g. checkpoint=DIR to start from one"})
    stages: list[Stage] = field(default_factory=lambda: list(DEFAULT_STAGES),
                                metadata={"help": "the curriculum, miner:key=value,... per stage"})
    batch_size: int = field(default=32, metadata={"help": "examples per batch (in-batch negatives come from it)"})
    grad_accum: int = field(default=1, metadata={"help": "batches per optimiser step"})
    lr: float = field(default=3e-5, metadata={"help": "AdamW peak learning rate"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (not on biases and LayerNorm)"})
    warmup: float = field(default=0.1, metadata={"help": "linear warm-up, fraction of all steps; then linear decay"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping norm (0: off)"})
    max_length: int = field(default=128, metadata={"help": "token limit while training, mining and dev-evaluating"})
    encode_batch_size: int = field(default=64, metadata={"help": "texts per batch when encoding the corpus"})
    dev_queries: int = field(default=100, metadata={"help": "dev queries (held out of train when no dev split)"})
    max_train_queries: int | None = field(default=None, metadata={"help": "train on the first N queries only"})
    positives_per_query: int | None = field(default=None, metadata={
        "help": "examples per query: a seeded draw of N of its positives (default: every positive)"})
    keep_best: int = field(default=2, metadata={"help": "best checkpoints kept, by dev nDCG@10"})
    save_steps: int = field(default=10, metadata={"help": "steps between resume checkpoints"})
    eval_steps: int = field(default=0, metadata={"help": "extra dev evaluation every N steps (0: stage ends only)"})
    seed: int = field(default=13, metadata={"help": "seed of data order, sampling, dropout and the dev hold-out"})
    device: str | None = field(default=None, metadata={"help": "cpu | cuda | cuda:N (default: CUDA when present)"})
    amp: bool = field(default=True, metadata={"help": "mixed precision on CUDA (bf16, else fp16 with scaling)"})
    profile: str = field(default=EXACT, metadata={"help": "arithmetic: exact (float32, reproducible bit for bit) | "
                                                          "fast (bf16 autocast for training and every encoding)"})

    def __post_init__(self) -> None:
        # Stages arrive as Stage objects, spec strings (recipes, the command line) or dicts (a saved config.json).
        self.stages = [Stage.parse(s) if isinstance(s, str) else Stage(**s) if isinstance(s, dict) else s
                       for s in self.stages]
        check_fields(self, "", exclude=("stages",))
        positive = ("batch_size", "grad_accum", "max_length", "encode_batch_size", "save_steps", "keep_best")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("dev_queries", "eval_steps", "seed", "weight_decay", "max_grad_norm"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be at least 0, got {getattr(self, name)}")
        for name, high in CONFIG_BOUNDS.items():
            if getattr(self, name) > high:
                raise ConfigError(f"{name}={getattr(self, name)} is more than {high:,}; use a smaller value")
        for name in ("max_train_queries", "positives_per_query"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1 (or left out), got {getattr(self, name)}")
        if not self.stages:
            raise ConfigError("the curriculum needs at least one stage")
        if self.batch_size < 2:
            raise ConfigError("batch_size must be at least 2: in-batch negatives need a second example")
        if not 0 <= self.warmup < 1 or self.lr <= 0:
            raise ConfigError(f"warmup must be in [0, 1) and lr > 0 (got warmup={self.warmup}, lr={self.lr})")
        if self.profile not in PROFILES:
            raise ConfigError(f"profile {self.profile!r} is not one of {', '.join(PROFILES)}")
        if self.device is not None and not re.fullmatch(r"cpu|cuda(:[0-9]+)?|mps", self.device):
            raise ConfigError(f"device {self.device!r} is not one of cpu, cuda, cuda:N, mps")

    def to_dict(self) -> dict[str, Any]:
        """Every field, except those of ``LEFT_OUT_AT_DEFAULT`` at their default: runs and cells written before
        these fields existed keep their configuration and fingerprint, and a run that sets one differs from its twin
        that does not."""
        values = dataclasses.asdict(self)
        return {k: v for k, v in values.items() if k not in LEFT_OUT_AT_DEFAULT or v != LEFT_OUT_AT_DEFAULT[k]}

    @property
    def encoder_precision(self) -> str:
        """The encoder ``precision`` option of this profile: float32 (exact) or bf16 (fast)."""
        return "float32" if self.profile == EXACT else "bf16"

    def encoder_options(self) -> dict[str, Any]:
        """The encoder options training, mining and dev evaluation run with: the training ``max_length``, the
        encoding batch size, float32 weights, the device, the variant's ``encoder_args`` and (fast profile) bf16."""
        options = {"max_length": self.max_length, "batch_size": self.encode_batch_size, "fp16": False,
                   "device": self.device, **self.encoder_args}
        if self.profile != EXACT:
            options["precision"] = self.encoder_precision
        return options

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        return cls(**values)

    def fingerprint(self) -> str:
        """Short hash of every field except the device ones: two runs with the same fingerprint train the same."""
        values = {k: v for k, v in self.to_dict().items() if k not in ("device", "amp")}
        return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:12]
