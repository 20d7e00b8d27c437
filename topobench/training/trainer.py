"""The trainer: fine-tune any trainable encoder plugin with any loss plugin through a curriculum of miners.

One optimiser (AdamW, no decay on biases and LayerNorm) and one schedule (linear warm-up, then linear decay to zero)
span the whole curriculum; each stage names a miner and a length (see :mod:`topobench.training.config`). Dev
evaluation runs where the corpus is encoded anyway — before a model miner's stage and at each of its re-minings (the
miner and the evaluation share one :class:`EmbeddingCache`) — and at the end of the run (plus every ``eval_steps``
when set); the best ``keep_best`` checkpoints by dev nDCG@10 are kept in Hugging Face + sentence-transformers layout.

A stage end followed by a miner that encodes nothing (in-batch, BM25) is not evaluated: on SciFact that evaluation
would encode the 5,183 documents for itself, about a tenth of a cell's cost (``bench/study.py``). The consequence:
such a checkpoint (the in-batch warm-up's, in the recipes) can no longer be chosen as the best, which matters only when
the later stages make the model worse on the dev queries (seed 13: 0.6745 after warm-up, 0.7039 at the end for
w = 0; 0.6397 and 0.6705 for w = 1). Weights are unaffected: evaluating reads them and draws no random numbers.

Resuming: everything random derives from ``seed`` and the position (data order from (seed, stage, epoch), negative
sampling from (seed, stage, batch)), and the resume state holds weights, optimiser, scheduler, torch's RNG (dropout),
the mined pools, the evaluations so far and the loss's own state (an index-aware loss's centroids). A run killed
at any moment restarts from its last resume state and ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from topobench.backends.embedding_cache import EmbeddingCache
from topobench.backends.hf_encoder import bf16_native
from topobench.core.atomic import atomic_path
from topobench.core.errors import ConfigError
from topobench.core.losses import check_loss
from topobench.core.miners import Miner
from topobench.core.registry import get_registry
from topobench.corpus.corpora import Corpus, load_corpus
from topobench.training import checkpoints as ckpt
from topobench.training.config import EXACT, TrainConfig
from topobench.training.data import TrainingSet, config_training_set, duplicate_free_batches
from topobench.training.dev_eval import dev_metrics

logger = logging.getLogger(__name__)


@dataclass
class StagePlan:
    """A stage's miner, its batches per epoch and its optimiser steps, with its first global step."""

    index: int
    miner: Miner
    batches_per_epoch: int
    steps: int
    start: int
    refresh_interval: int  # steps between re-minings of a refreshing miner (0: never)

    @property
    def end(self) -> int:
        return self.start + self.steps


class Trainer:
    """Train ``config`` into ``output`` (see :mod:`topobench.training.checkpoints` for the folder layout)."""

    def __init__(self, config: TrainConfig, output: str | Path, corpus: Corpus | None = None) -> None:
        self.config = config
        self.output = Path(output)
        self._corpus = corpus
        self._epoch_batches: dict[tuple[int, int], list[list[int]]] = {}

    # Set-up.

    def _check_output(self) -> None:
        """Refuse an output folder that holds a run of another configuration, or whose run files are not regular
        files (before anything is read or written)."""
        ckpt.check_run_files(self.output)
        path = self.output / ckpt.CONFIG_FILE
        if path.is_file():
            previous = TrainConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))
            if previous.fingerprint() != self.config.fingerprint():
                raise ConfigError(f"{self.output} holds a run with another configuration ({path}); "
                                  f"delete the folder or choose another output")

    def _write_config(self) -> None:
        """Create the output folder and record the configuration, once every component has been built."""
        self.output.mkdir(parents=True, exist_ok=True)
        path = self.output / ckpt.CONFIG_FILE
        if not path.is_file():
            with atomic_path(path) as tmp:
                tmp.write_text(json.dumps(self.config.to_dict(), indent=2, default=str), encoding="utf-8")

    def _setup(self) -> None:
        import torch

        cfg = self.config
        torch.manual_seed(cfg.seed)
        registry = get_registry()
        self.loss = registry.create("losses", cfg.loss, **cfg.loss_args)
        check_loss(self.loss, cfg.loss)  # before anything is written: a loss that cannot train is one line
        stage_miners = [registry.create("miners", stage.miner, **stage.miner_args) for stage in cfg.stages]
        corpus = self._corpus or load_corpus(cfg.corpus)
        self.data: TrainingSet = config_training_set(corpus, cfg)
        if not registry.get("encoders", cfg.encoder).cls.trainable:
            raise ConfigError(f"encoder {cfg.encoder!r} cannot be trained (it has no differentiable forward)")
        options = cfg.encoder_options()  # fast profile: bf16 for the training forward and mining / dev encodings
        if cfg.profile != EXACT and not bf16_native():
            logger.warning("profile %s: this CPU has no native bf16 (AVX512-BF16 or AMX), so bf16 is emulated and "
                           "slower than the exact profile", cfg.profile)
        # A local checkpoint needs no hub weights, so only a hub-weights encoder is checked for availability.
        self.encoder = registry.create("encoders", cfg.encoder, check_available="checkpoint" not in options, **options)
        self.module = self.encoder.torch_module()
        self.device = next(self.module.parameters()).device
        self.cache = EmbeddingCache()
        for miner in stage_miners:
            if miner.uses_encoder:
                miner.embedding_cache = self.cache
        self._plan_stages(stage_miners)
        if self.loss.uses_corpus_embeddings and not any(map(self._encodes_corpus, self.plans)):
            logger.warning("loss %r reads the corpus embeddings a model miner encodes, but no stage mines with the "
                           "model: its corpus term stays off for the whole run", cfg.loss)
        self._setup_optimiser()

    def _plan_stages(self, miners: list[Any]) -> None:
        """``plans`` and ``total_steps`` from the curriculum and ``self.data`` (``miners``: one per stage, instances
        or classes: only their ``refreshes`` is read here)."""
        cfg = self.config
        self.plans: list[StagePlan] = []
        start = 0
        for index, (stage, miner) in enumerate(zip(cfg.stages, miners, strict=True)):
            per_epoch = len(self._batches(index, 0))
            steps = max(1, math.ceil(stage.epochs * per_epoch / cfg.grad_accum))
            interval = stage.refresh_steps or math.ceil(stage.refresh_epochs * per_epoch / cfg.grad_accum)
            self.plans.append(StagePlan(index, miner, per_epoch, steps, start, interval if miner.refreshes else 0))
            start += steps
        self.total_steps = start

    def schedule(self) -> list[dict[str, Any]]:
        """What the run does, computed without loading the model: ``{"event": "steps", "stage", "steps"}`` per
        stage, then every mining and dev evaluation in order (``{"event": "mine" | "eval", "stage", "step"}``, the
        step after which it runs; a mining's stage is the stage it mines for). The training loop takes the same
        decisions (:meth:`_events_after`); ``bench/study.py`` costs a full run from it."""
        if not hasattr(self, "plans"):
            cfg = self.config
            self.data = config_training_set(self._corpus or load_corpus(cfg.corpus), cfg)
            self._plan_stages([get_registry().get("miners", stage.miner).cls for stage in cfg.stages])
        negatives = [stage.negatives for stage in self.config.stages]
        out: list[dict[str, Any]] = [{"event": "steps", "stage": p.index + 1, "steps": p.steps} for p in self.plans]
        if negatives[0]:
            out.append({"event": "mine", "stage": 1, "step": 0})
        for step in range(1, self.total_steps + 1):
            plan = next(p for p in self.plans if p.start < step <= p.end)
            evaluate, mine = self._events_after(plan, step)
            if evaluate and self.data.dev_query_ids:
                out.append({"event": "eval", "stage": plan.index + 1, "step": step})
            if mine is not None and negatives[mine.index]:  # a stage without negatives mines nothing
                out.append({"event": "mine", "stage": mine.index + 1, "step": step})
        return out

    def _setup_optimiser(self) -> None:
        import torch

        cfg = self.config
        decay, no_decay = [], []
        for name, param in self.module.named_parameters():
            if param.requires_grad:
                (no_decay if param.ndim < 2 or "LayerNorm" in name or "norm" in name.lower() else decay).append(param)
        groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        try:  # the fused kernel (CPU and CUDA, as the Hugging Face Trainer's default optimiser) is the faster step
            self.optimizer = torch.optim.AdamW(groups, lr=cfg.lr, fused=True)
        except (RuntimeError, TypeError, ValueError):
            self.optimizer = torch.optim.AdamW(groups, lr=cfg.lr)
        warmup = int(cfg.warmup * self.total_steps)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            return max(0.0, (self.total_steps - step) / max(1, self.total_steps - warmup))

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self.autocast_dtype = None
        if self.device.type == "cuda" and cfg.amp:
            self.autocast_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.autocast_dtype == torch.float16)

    # Data.

    def _batches(self, stage: int, epoch: int) -> list[list[int]]:
        key = (stage, epoch)
        if key not in self._epoch_batches:
            order = np.random.default_rng([self.config.seed, stage, epoch]).permutation(len(self.data.examples))
            self._epoch_batches[key] = duplicate_free_batches(self.data.examples, order, self.config.batch_size)
        return self._epoch_batches[key]

    def _micro_batch(self, plan: StagePlan, micro: int) -> tuple[list[str], list[str], list[str]]:
        """Query, positive and negative texts of micro-batch ``micro`` of a stage (negatives: ``n`` per example)."""
        epoch, position = divmod(micro, plan.batches_per_epoch)
        batches = self._batches(plan.index, epoch)
        rows = batches[position % len(batches)]
        examples = [self.data.examples[i] for i in rows]
        n = self.config.stages[plan.index].negatives
        negatives: list[str] = []
        if n:
            rng = np.random.default_rng([self.config.seed, plan.index, micro, 1])
            for query, _ in examples:
                negatives += self._sample_negatives(query, n, rng)
        return ([self.data.query_text[q] for q, _ in examples], [self.data.doc_text[d] for _, d in examples],
                [self.data.doc_text[d] for d in negatives])

    def _sample_negatives(self, query: str, n: int, rng: np.random.Generator) -> list[str]:
        """``n`` distinct negatives from the query's pool; random non-positive documents fill a short pool."""
        pool = self.pools.get(query, [])
        picks = [pool[i] for i in rng.choice(len(pool), size=min(n, len(pool)), replace=False)] if pool else []
        positives = self.data.mining.positives[query]
        doc_ids = self.data.mining.doc_ids
        while len(picks) < n:
            doc = doc_ids[int(rng.integers(len(doc_ids)))]
            if doc not in positives and doc not in picks:
                picks.append(doc)
        return picks

    # Mining and evaluation.

    def _mine(self, plan: StagePlan, step: int) -> None:
        stage = self.config.stages[plan.index]
        self.pools_mined = (plan.index, step)
        if stage.negatives == 0:
            self.pools = {}
            return
        logger.info("stage %d (%s): mining hard negatives at step %d", plan.index + 1, stage.miner, step)
        clock, encodes = _Clock(), self.cache.encodes
        pools = plan.miner.mine(self.data.mining, self.encoder)
        Miner.check_pools(pools, self.data.mining)
        self.pools = {q: list(p) for q, p in pools.items()}
        self._share_corpus_embeddings(plan)
        ckpt.append_log(self.output, {"event": "mine", "stage": plan.index + 1, "miner": stage.miner, "step": step,
                                      "queries": len(pools), "encodings": self.cache.encodes - encodes,
                                      **clock.record()})

    def _share_corpus_embeddings(self, plan: StagePlan) -> None:
        """Hand a loss that reads the corpus embeddings (``uses_corpus_embeddings``) the matrix the model miner has
        just encoded with these weights, from the shared cache: never an encoding of its own."""
        if not (self.loss.uses_corpus_embeddings and plan.miner.uses_encoder):
            return
        matrix = self.cache.cached(self.encoder, self.data.mining.doc_texts, "doc")
        if matrix is None:  # a miner that encodes outside the shared cache: nothing to hand over
            logger.warning("the %s miner's corpus embeddings are not in the trainer's cache: the loss keeps its "
                           "previous corpus view", self.config.stages[plan.index].miner)
            return
        self.loss.corpus_embeddings(matrix)

    def _evaluate(self, step: int) -> None:
        if not self.data.dev_query_ids or any(e["step"] == step for e in self.evaluations):
            return
        clock, encodes = _Clock(), self.cache.encodes
        metrics = dev_metrics(self.encoder, self.data, self.cache)
        kept = self.best.offer(self.output, step, metrics, self._save_model)
        record = {"event": "eval", "step": step, **metrics, "kept": kept, "encodings": self.cache.encodes - encodes,
                  **clock.record()}
        self.evaluations.append(record)
        ckpt.append_log(self.output, record)
        logger.info("dev at step %d: %s%s", step, ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()),
                    " (kept)" if kept else "")

    def _save_model(self, path: Path) -> None:
        """The model as a checkpoint (HF + sentence-transformers), recording the encoder's own max length."""
        trained_length = self.encoder.max_length
        self.encoder.max_length = type(self.encoder).max_length
        try:
            self.encoder.save_checkpoint(path)
        finally:
            self.encoder.max_length = trained_length
        (Path(path) / "topobench_training.json").write_text(
            json.dumps({"config": self.config.to_dict(), "fingerprint": self.config.fingerprint()}, indent=2,
                       default=str), encoding="utf-8")

    # Resume state.

    def _state(self, step: int) -> dict[str, Any]:
        import torch

        return {"fingerprint": self.config.fingerprint(), "step": step, "model": self.module.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(), "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "pools": self.pools, "pools_mined": self.pools_mined, "evaluations": self.evaluations,
                "loss_state": self.loss.state_dict(),  # the base Loss: {} (an index-aware loss: its centroids)
                "kept": self.best.kept, "seconds": self.seconds, "examples": self.examples}

    def _restore(self, state: dict[str, Any]) -> int:
        import torch

        if state.get("fingerprint") != self.config.fingerprint():
            raise ConfigError(f"{self.output / ckpt.RESUME_FILE} was written by another configuration; delete it")
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.pools, self.pools_mined = state["pools"], tuple(state["pools_mined"])
        self.loss.load_state_dict(state.get("loss_state") or {})
        self.evaluations, self.best.kept = state["evaluations"], state["kept"]
        self.seconds = state["seconds"]
        self.examples = state["examples"]
        self.best.prune_strays(self.output)
        ckpt.truncate_log(self.output, int(state["step"]))
        logger.info("resuming %s at step %d of %d", self.output, state["step"], self.total_steps)
        return int(state["step"])

    # The loop.

    def run(self) -> dict[str, Any]:
        """Train (or resume, or return the summary of a finished run) and return the summary."""
        self._check_output()
        done = ckpt.read_summary(self.output)
        if done is not None:
            logger.info("%s is already trained (best: %s)", self.output, done.get("best"))
            return done
        self._setup()
        self._write_config()
        self.pools: dict[str, list[str]] = {}
        self.pools_mined: tuple[int, int] = (-1, -1)
        self.evaluations: list[dict[str, Any]] = []
        self.best = ckpt.BestCheckpoints(self.config.keep_best)
        self.seconds = 0.0  # in optimiser steps only
        self.examples = 0  # trained (query, positive) examples
        state = ckpt.load_resume_state(self.output)
        step = self._restore(state) if state is not None else 0
        del state
        self._session = (step, self.seconds, len(self.evaluations))
        logger.info("training %s on %s with %s: %s", self.config.encoder, self.config.corpus, self.config.loss,
                    "; ".join(f"{s.spec()} = {p.steps} steps" for s, p in zip(self.config.stages, self.plans,
                                                                                  strict=True)))
        self.module.train()
        with tqdm(total=self.total_steps, initial=step, desc="train", unit="step") as bar:
            while step < self.total_steps:
                plan = next(p for p in self.plans if p.start <= step < p.end)
                if self.pools_mined[0] != plan.index:
                    self._mine(plan, step)
                self.loss.set_progress(plan.index, step, self.total_steps)
                clock = _Clock()
                components, examples = self._train_step(plan, step)
                timing = clock.record(3)
                self.seconds += timing["seconds"]
                self.examples += examples
                step += 1
                self._log_step(plan, step, components, examples, timing, bar)
                self._after_step(plan, step)
        return self._finish()

    def _train_step(self, plan: StagePlan, step: int) -> tuple[dict[str, float], int]:
        """One optimiser step over ``grad_accum`` batches: (mean loss components, examples trained)."""
        import torch

        cfg = self.config
        totals: dict[str, float] = {}
        examples = 0
        for a in range(cfg.grad_accum):
            micro = (step - plan.start) * cfg.grad_accum + a
            queries, positives, negatives = self._micro_batch(plan, micro)
            examples += len(queries)
            with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
                q = self.encoder.forward(queries, "query")
                p = self.encoder.forward(positives, "doc")
                n = self.encoder.forward(negatives, "doc").view(len(queries), -1, p.shape[-1]) if negatives else None
                out = self.loss(q, p, n)
            self.scaler.scale(out["loss"] / cfg.grad_accum).backward()
            for key, value in out.items():
                value = value.detach() if isinstance(value, torch.Tensor) else value
                totals[key] = totals.get(key, 0.0) + float(value) / cfg.grad_accum
        if cfg.max_grad_norm > 0:
            self.scaler.unscale_(self.optimizer)
            totals["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(self.module.parameters(), cfg.max_grad_norm))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        return totals, examples

    def _log_step(self, plan: StagePlan, step: int, components: dict[str, float], examples: int,
                  timing: dict[str, float], bar: tqdm) -> None:
        speed = examples / max(timing["seconds"], 1e-9)
        record = {"step": step, "stage": plan.index + 1, "lr": self.scheduler.get_last_lr()[0],
                  **{k: round(v, 6) for k, v in components.items()}, "examples_per_s": round(speed, 2), **timing}
        ckpt.append_log(self.output, record)
        bar.set_postfix({"stage": plan.index + 1, **{k: f"{v:.4f}" for k, v in components.items()}}, refresh=False)
        bar.update(1)

    def _events_after(self, plan: StagePlan, step: int) -> tuple[bool, StagePlan | None]:
        """(evaluate?, the stage to mine for or None) after optimiser step ``step`` of ``plan``.

        Mining: at a stage's end the next stage mines; a refreshing miner mines again at its re-mining points.
        Evaluating: where a miner encodes the corpus with these weights anyway (the next stage's or a re-mining
        model miner: the evaluation then costs the dev queries and one search), at the end of the run, and every
        ``eval_steps``. A stage end followed by a miner that needs no encoding (in-batch, BM25) is not evaluated:
        that evaluation would cost a whole corpus encoding for itself (see the module docstring)."""
        if step == plan.end:
            following = next((p for p in self.plans if p.start == step), None)
            return following is None or self._encodes_corpus(following) or self._eval_step_due(step), following
        if self._refresh_due(plan, step):
            return True, plan
        return self._eval_step_due(step), None

    def _encodes_corpus(self, plan: StagePlan) -> bool:
        """Whether mining for ``plan`` encodes the corpus with the current weights (a model miner with negatives)."""
        return bool(plan.miner.uses_encoder and self.config.stages[plan.index].negatives)

    def _eval_step_due(self, step: int) -> bool:
        return bool(self.config.eval_steps and step % self.config.eval_steps == 0)

    def _after_step(self, plan: StagePlan, step: int) -> None:
        """Evaluate and re-mine where due, then save the resume state (always after an event, so none repeats)."""
        evaluate, mine = self._events_after(plan, step)
        if evaluate:
            self._evaluate(step)
        if mine is not None:
            self._mine(mine, step)
        if step < self.total_steps and (evaluate or mine is not None or step % self.config.save_steps == 0):
            clock = _Clock()
            ckpt.save_resume_state(self.output, self._state(step))
            ckpt.append_log(self.output, {"event": "save", "step": step, **clock.record()})
            logger.info("saved the resume state at step %d", step)

    @staticmethod
    def _refresh_due(plan: StagePlan, step: int) -> bool:
        """A refreshing miner mines again every ``refresh_interval`` steps of its stage, unless less than half an
        interval remains (mining then would cost a corpus encoding for a handful of steps)."""
        interval = plan.refresh_interval
        return bool(interval) and (step - plan.start) % interval == 0 and plan.end - step >= interval / 2

    def _finish(self) -> dict[str, Any]:
        if self.best.best is None:  # no dev queries: the final weights are the result
            self.best.offer(self.output, self.total_steps, {}, self._save_model)
        best = self.best.best
        summary = {
            "config": self.config.to_dict(), "fingerprint": self.config.fingerprint(),
            "total_steps": self.total_steps, "train_seconds": round(self.seconds, 1),
            "examples": self.examples, "examples_per_second": round(self.examples / max(self.seconds, 1e-9), 2),
            "dev_source": self.data.dev_source, "dev_queries": len(self.data.dev_query_ids),
            "evaluations": self.evaluations, "kept": self.best.kept,
            "best": str(self.output / ckpt.step_name(best["step"])), "best_step": best["step"],
            "last_session": self._last_session(),
        }
        ckpt.write_summary(self.output, summary)
        (self.output / ckpt.RESUME_FILE).unlink(missing_ok=True)
        logger.info("trained %s: best checkpoint %s (%s)", self.output, summary["best"],
                    ", ".join(f"{k} {v:.4f}" for k, v in best.items() if k != "step"))
        return summary

    def _last_session(self) -> dict[str, Any]:
        """What this invocation did: a resumed run's earlier sessions are in ``train_seconds`` and ``evaluations``
        too, so a caller timing this invocation (a study cell's cost) subtracts only these seconds from its own."""
        from_step, seconds_at_start, evaluations_at_start = self._session
        return {"from_step": from_step, "train_seconds": round(self.seconds - seconds_at_start, 1),
                "eval_seconds": round(sum(e.get("seconds", 0.0) for e in self.evaluations[evaluations_at_start:]), 1),
                "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


class _Clock:
    """Wall and process CPU time since construction: the ``seconds`` and ``cpu_seconds`` of a log record. CPU time
    (all of this process's threads) barely moves with what else runs on the machine, wall time does; the two side by
    side tell a slow phase from a busy machine."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def record(self, digits: int = 2) -> dict[str, float]:
        return {"seconds": round(time.perf_counter() - self.wall, digits),
                "cpu_seconds": round(time.process_time() - self.cpu, digits)}


def train(config: TrainConfig, output: str | Path) -> dict[str, Any]:
    """Train (resuming if possible) and return the summary; see :class:`Trainer`."""
    return Trainer(config, output).run()
