"""Variant names: ``<corpus>-<encoder>-<recipe>[@key=value,key=value…]`` → a full training configuration.

``scifact-minilm-topo@weight=0.8,seed=14`` is the ``topo`` recipe (:mod:`topobench.training.recipes`) for MiniLM on
SciFact with the topology weight 0.8 and seed 14. The grammar uses only ``@ = , . + -`` and word characters, so a name
needs no quoting in a shell and is a valid file name. Keys (checked before anything runs, one error line each):

* a scalar field of :class:`~topobench.training.config.TrainConfig` (``seed``, ``lr``, ``batch_size``, …);
* ``loss``: another registered loss plugin (``scifact-minilm-topo@loss=align_uniform,alpha=2``): the recipe's
  curriculum and settings with that loss; of the recipe's loss options only those the new loss takes are kept;
* an option of the variant's loss (``weight``, ``temperature``, ``stage_weights``, … for ``topology``);
* ``curriculum``: the recipe's stages to keep, by miner name, joined with ``+`` (``curriculum=in_batch+model``);
* ``train_corpus``: train on another corpus than the one encoded and benchmarked — transfer
  (``nfcorpus-minilm-topo@train_corpus=scifact``: the SciFact-trained model, evaluated on NFCorpus, with the very
  checkpoint ``scifact-minilm-topo`` trained, since the training configuration is the same).

Recipes are the built-ins of :mod:`topobench.training.recipes` and any a plugin declares (``register_recipes``).
``<corpus>-<encoder>-checkpoint@name=NAME`` trains nothing: it encodes the corpus with the model folder
``$TOPOBENCH_MODELS/NAME`` (a ``train.py --output`` run or a Hugging Face / sentence-transformers folder).

The canonical name drops overrides equal to the recipe's own values and sorts the rest, so every spelling of one
configuration names one dataset; checkpoints are keyed by the configuration's fingerprint, so two recipes that resolve
to the same configuration share one training run. ``bge`` is an alias of ``bge-small`` (the user's card writes
``nq-bge-topo``). ``zeroshot`` is the stock model: ``scifact-minilm-zeroshot`` is ``scifact-minilm``.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from topobench.core.errors import ConfigError, DatasetError
from topobench.core.registry import get_registry
from topobench.training.config import TrainConfig, parse_value
from topobench.training.recipes import CHECKPOINT, ZEROSHOT, all_recipes, known_recipes, recipe_values

ENCODER_ALIASES = {"bge": "bge-small"}
CURRICULUM_KEY = "curriculum"
LOSS_KEY = "loss"
TRAIN_CORPUS_KEY = "train_corpus"
CHECKPOINT_KEY = "name"  # checkpoint@name=NAME
# TrainConfig fields a name may not set: they are the name itself, nested, or device choices (not part of a variant).
NOT_OVERRIDABLE = ("corpus", "encoder", "loss", "loss_args", "encoder_args", "stages", "device", "amp")
_RECIPE = r"[a-z0-9_]+(?:-[a-z0-9_]+)*"
_VALUE = re.compile(r"[\w.+\-]+")


@dataclass(frozen=True)
class Variant:
    """A parsed dataset name of the ``<corpus>-<encoder>[-<recipe>[@overrides]]`` family."""

    corpus: str
    encoder: str
    recipe: str | None  # None or ZEROSHOT: the stock model; CHECKPOINT: a model folder made elsewhere
    overrides: dict[str, Any] = field(default_factory=dict)  # canonical: typed, recipe defaults dropped

    @property
    def stock(self) -> bool:
        return self.recipe in (None, ZEROSHOT)

    @property
    def trains(self) -> bool:
        return not self.stock and self.recipe != CHECKPOINT

    @property
    def checkpoint_name(self) -> str | None:
        """NAME of a ``checkpoint@name=NAME`` variant (its folder is ``$TOPOBENCH_MODELS/NAME``), else None."""
        return str(self.overrides[CHECKPOINT_KEY]) if self.recipe == CHECKPOINT else None

    @property
    def stock_name(self) -> str:
        return f"{self.corpus}-{self.encoder}"

    @property
    def suffix(self) -> str:
        """The recipe and its overrides, as in the canonical name (``topo@seed=14,weight=0.8``), or ``zeroshot``."""
        if self.stock:
            return ZEROSHOT
        items = ",".join(f"{k}={format_value(v)}" for k, v in sorted(self.overrides.items()))
        return f"{self.recipe}@{items}" if items else str(self.recipe)

    @property
    def name(self) -> str:
        """The canonical dataset name."""
        return self.stock_name if self.stock else f"{self.stock_name}-{self.suffix}"

    def config(self) -> TrainConfig:
        """The full training configuration of this variant."""
        if not self.trains:
            raise DatasetError(f"{self.name} is the stock model: it has no training configuration")
        return build_config(self.corpus, self.encoder, str(self.recipe), self.overrides)


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def encoder_names() -> list[str]:
    """Registered encoder names and their aliases, longest first (so ``bge-small`` wins over ``bge``)."""
    return sorted([*get_registry().names("encoders"), *ENCODER_ALIASES], key=len, reverse=True)


def split_dataset_name(name: str) -> tuple[str, str, str | None, str | None] | None:
    """``nq-bge-topo@weight=0.8`` → (``nq``, ``bge-small``, ``topo``, ``weight=0.8``); None when no registered
    encoder name (or alias) appears in ``name`` as ``<corpus>-<encoder>[-<recipe>[@…]]``."""
    base, at, overrides = name.partition("@")
    for encoder in encoder_names():
        match = re.fullmatch(rf"(?P<corpus>.+?)-{re.escape(encoder)}(?:-(?P<recipe>{_RECIPE}))?", base)
        if match:
            recipe = match["recipe"]
            if at and recipe is None:
                return None
            return match["corpus"], ENCODER_ALIASES.get(encoder, encoder), recipe, overrides if at else None
    return None


def parse_variant(name: str) -> Variant | None:
    """The variant a dataset name denotes (validated), or None when it is not of the corpus-encoder family.

    Unknown recipes, unknown keys, values of the wrong type and malformed items are one ``DatasetError`` each, naming
    the key and the fix.
    """
    parts = split_dataset_name(name)
    if parts is None:
        return None
    corpus, encoder, recipe, text = parts
    if recipe is None:
        return Variant(corpus, encoder, None)
    if recipe not in (ZEROSHOT, CHECKPOINT) and recipe not in all_recipes():
        raise DatasetError(f"unknown training recipe {recipe!r} in {name!r}; known recipes: {known_recipes()}")
    raw = _parse_overrides(text or "", name)
    if recipe == ZEROSHOT:
        if raw:
            raise DatasetError(f"{name!r}: the zeroshot recipe trains nothing, so it takes no overrides; drop "
                               f"'@{text}'")
        return Variant(corpus, encoder, ZEROSHOT)
    if recipe == CHECKPOINT:
        if set(raw) != {CHECKPOINT_KEY}:
            raise DatasetError(f"{name!r}: a checkpoint variant takes exactly name=NAME (the model folder "
                               f"$TOPOBENCH_MODELS/NAME), e.g. {corpus}-{encoder}-checkpoint@name=my-run")
        return Variant(corpus, encoder, CHECKPOINT, {CHECKPOINT_KEY: raw[CHECKPOINT_KEY]})
    return Variant(corpus, encoder, recipe, canonical_overrides(recipe, raw, name, corpus))


def _parse_overrides(text: str, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in text.split(",") if text else []:
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[a-z_][a-z0-9_]*", key) or not _VALUE.fullmatch(value):
            raise DatasetError(f"{name!r}: {item!r} is not key=value (letters, digits, _ . + - only), e.g. "
                               "scifact-minilm-topo@weight=0.8,seed=14")
        if key in out:
            raise DatasetError(f"{name!r}: {key!r} is given twice; keep one")
        out[key] = value
    return out


def _field_types() -> dict[str, Any]:
    hints = typing.get_type_hints(TrainConfig)
    return {k: v for k, v in hints.items() if k not in NOT_OVERRIDABLE}


def _loss_parameters(loss: str) -> dict[str, inspect.Parameter]:
    cls = get_registry().get("losses", loss).cls
    return {k: p for k, p in inspect.signature(cls).parameters.items() if p.kind is p.POSITIONAL_OR_KEYWORD}


def _variant_loss(values: dict[str, Any], loss: str | None, name: str) -> tuple[str, dict[str, Any]]:
    """The loss a variant trains with (``loss`` when given, else the recipe's) and the recipe's loss options it
    keeps: all of them for the recipe's own loss, those the other loss takes otherwise."""
    if loss is None or loss == values["loss"]:
        return values["loss"], dict(values["loss_args"])
    if loss not in get_registry().entries["losses"]:
        raise DatasetError(f"{name!r}: loss={loss} is not a registered loss; known losses: "
                           f"{', '.join(get_registry().names('losses'))} (see `python run.py --list`)")
    takes = _loss_parameters(loss)
    return loss, {k: v for k, v in values["loss_args"].items() if k in takes}


def _coerce(value: str, annotation: Any, key: str, name: str) -> Any:
    """``value`` converted to ``annotation`` (int, float, bool, str, or an Optional of one), or a DatasetError."""
    parsed = parse_value(value)
    if isinstance(annotation, str):
        annotation = {"int": int, "float": float, "bool": bool, "str": str}.get(annotation, Any)
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) or \
        typing.get_origin(annotation) is typing.Union else (annotation,)
    if parsed is None and type(None) in options:
        return None
    for kind in options:
        if kind is bool and isinstance(parsed, bool):
            return parsed
        if kind is int and isinstance(parsed, int) and not isinstance(parsed, bool):
            return parsed
        if kind is float and isinstance(parsed, int | float) and not isinstance(parsed, bool):
            return float(parsed)
        if kind is str or kind is Any or kind is inspect.Parameter.empty:
            return parsed if kind is not str else value
    wanted = " or ".join(getattr(k, "__name__", str(k)) for k in options)
    raise DatasetError(f"{name!r}: {key}={value} is not a {wanted}; give e.g. {key}={_example(options)}")


def _example(options: tuple[Any, ...]) -> str:
    return {int: "3", float: "0.5", bool: "true", str: "text"}.get(options[0], "1")


def canonical_overrides(recipe: str, raw: dict[str, str], name: str, corpus: str | None = None) -> dict[str, Any]:
    """Typed overrides with those equal to the recipe's own values dropped; unknown keys are DatasetErrors."""
    values = recipe_values(recipe)
    fields = _field_types()
    loss_name, loss_args = _variant_loss(values, raw.get(LOSS_KEY), name)
    loss = _loss_parameters(loss_name)
    out: dict[str, Any] = {}
    for key, text in raw.items():
        if key == LOSS_KEY:
            if loss_name != values["loss"]:
                out[key] = loss_name
            continue
        if key == TRAIN_CORPUS_KEY:
            if not re.fullmatch(r"[a-z0-9][a-z0-9_.+\-]*", text):
                raise DatasetError(f"{name!r}: train_corpus={text} is not a corpus name (e.g. train_corpus=scifact)")
            if text != corpus:
                out[key] = text
            continue
        if key == CURRICULUM_KEY:
            kept = text.split("+")
            stages = [s.split(":", 1)[0] for s in values["stages"]]
            if len(set(kept)) != len(kept) or any(k not in stages for k in kept):
                raise DatasetError(f"{name!r}: curriculum={text} must name stages of recipe {recipe!r} once each, "
                                   f"joined with '+', from: {'+'.join(stages)}")
            if kept != stages:
                out[key] = "+".join(s for s in stages if s in kept)
            continue
        if key in fields:
            value, default = _coerce(text, fields[key], key, name), values.get(key, _default(key))
        elif key in loss:
            parameter = loss[key]
            value = _coerce(text, parameter.annotation, key, name)
            default = loss_args.get(key, parameter.default)
        else:
            known = sorted([*fields, *loss, CURRICULUM_KEY, LOSS_KEY, TRAIN_CORPUS_KEY])
            raise DatasetError(f"{name!r}: unknown override {key!r} for recipe {recipe!r} with loss {loss_name!r}; "
                               f"known keys: {', '.join(known)}")
        if value != default:
            out[key] = value
    return out


def _default(key: str) -> Any:
    spec = TrainConfig.__dataclass_fields__[key]
    return spec.default


def build_config(corpus: str, encoder: str, recipe: str, overrides: dict[str, Any]) -> TrainConfig:
    """The TrainConfig of ``recipe`` with canonical ``overrides`` applied (loss options into ``loss_args``)."""
    values = recipe_values(recipe)
    loss_name, loss_args = _variant_loss(values, overrides.get(LOSS_KEY), f"{corpus}-{encoder}-{recipe}")
    loss_keys = set(_loss_parameters(loss_name))
    top: dict[str, Any] = {"loss": loss_name}
    corpus = str(overrides.get(TRAIN_CORPUS_KEY, corpus))  # transfer: trained on another corpus
    for key, value in overrides.items():
        if key in (LOSS_KEY, TRAIN_CORPUS_KEY):
            continue
        if key == CURRICULUM_KEY:
            kept = value.split("+")
            top["stages"] = [s for s in values["stages"] if s.split(":", 1)[0] in kept]
        elif key in loss_keys and key not in _field_types():
            loss_args[key] = value
        else:
            top[key] = value
    try:
        return TrainConfig(corpus=corpus, encoder=encoder, **{**values, "loss_args": loss_args, **top})
    except ConfigError as exc:
        raise DatasetError(f"{corpus}-{encoder}-{recipe}: {exc}") from None
