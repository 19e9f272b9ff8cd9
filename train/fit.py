"""Fit one fold: AdamW + warm-up/cosine schedule, optional class-balanced loss, geometry-consistent
augmentation, a checkpoint after every epoch, and resume that reproduces the uninterrupted run.

Reproducible resume: all randomness of epoch ``e`` (batch order, augmentation) is drawn from a
generator seeded with ``(seed, fold, e)``, never from state carried over from earlier epochs, so a
run restarted from the checkpoint of epoch ``e - 1`` computes exactly what the original would have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from mpt_edge.errors import MptEdgeError
from mpt_edge.motion.config import MotionConfig
from mpt_edge.preprocess import readings
from train.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from train.data.pairs import PairSet, encode_pairs, motion_features
from train.distributed import DistContext
from train.metrics import summarize
from train.model import MPT
from train.options import TrainOptions, default_probe_head  # noqa: F401  (re-exported: the options live where no torch is needed)


class Reporter(Protocol):
    """Progress sink; the CLI passes a rich-backed one, tests and non-zero ranks a silent one."""

    def epoch_started(self, epoch: int, epochs: int, batches: int) -> None: ...
    def batch_done(self, loss: float) -> None: ...
    def epoch_done(self, record: dict[str, Any]) -> None: ...


class SilentReporter:
    def epoch_started(self, epoch: int, epochs: int, batches: int) -> None:
        pass

    def batch_done(self, loss: float) -> None:
        pass

    def epoch_done(self, record: dict[str, Any]) -> None:
        pass


@dataclass
class FoldResult:
    history: list[dict[str, Any]]
    start: dict[str, float]  # held-out metrics before the first gradient step (the solved read-out)
    best_epoch: int
    selection: str
    eval_keys: list[str] = field(default_factory=list)
    y_true: list[int] = field(default_factory=list)
    y_pred: list[int] = field(default_factory=list)
    scores: list[list[float]] = field(default_factory=list)


READOUT_AUGMENTED_COPIES = (
    4  # hard preset, 10 splits: read-out UF1 0.817 clean, 0.844 / 0.859 with 1 / 2 augmented copies
)
READOUT_STREAM = 0x5EAD  # 4th seed word: the read-out's augmentation stream never equals an epoch's (seed, fold, epoch)


@torch.no_grad()
def init_linear_heads(
    model: MPT,
    train_motion: np.ndarray | None,
    cls_features: np.ndarray | None,
    labels: np.ndarray,
    groups: list[str],
    seed: int,
) -> float:
    """Solve the model's linear outputs before gradient training (linear probing, then fine-tuning:
    Kumar et al., ICLR 2022): one convex fit of :func:`train.baselines.fit_classifier` on the training
    clips' prompts (the prompt read-out) and, with ``cls_features``, the frozen backbone's final [CLS]
    (the head) side by side, rewritten for the model's own standardisation. The model then starts
    exactly where that linear probe ends; fine-tuning goes on from there. Sub-pixel motion is found in
    seconds this way, where SGD needs thousands of steps; a pretrained [CLS] is read from the start
    instead of from a zero head. Returns the C chosen."""
    from train.baselines import fit_classifier

    readout = model.prompt_readout if train_motion is not None else None
    parts: list[tuple[nn.Linear, np.ndarray]] = []
    if cls_features is not None:
        parts.append((model.head, np.asarray(cls_features, np.float64)))
    if readout is not None:
        assert model.motion_embed is not None
        assert train_motion is not None
        parts.append((readout, np.asarray(train_motion, np.float64).reshape(len(train_motion), -1)))
    if not parts:
        return float("nan")
    for layer, _ in parts:
        layer.weight.zero_()
        layer.bias.zero_()
    bias_layer = parts[-1][0]  # the whole intercept lives in one layer
    present = np.unique(labels)
    if len(present) < 2:
        bias_layer.bias[int(present[0])] = 1.0 if len(present) else 0.0
        return float("nan")
    fitted, c = fit_classifier(np.concatenate([x for _, x in parts], axis=1), labels, groups, seed)
    scaler, classifier = fitted[0], fitted[-1]
    coef, intercept = classifier.coef_, classifier.intercept_
    if len(classifier.classes_) == 2:  # sklearn keeps one row for two classes: logits (-z/2, +z/2)
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    rows = torch.as_tensor(classifier.classes_)
    bias = intercept.astype(np.float64)
    start = 0
    for layer, x in parts:
        width = x.shape[1]
        block, mean, scale = (
            coef[:, start : start + width],
            scaler.mean_[start : start + width],
            scaler.scale_[start : start + width],
        )
        start += width
        if layer is readout:  # input z = (x - feature_mean) / feature_std, so x = z * feature_std + feature_mean
            assert model.motion_embed is not None
            feature_std = model.motion_embed.feature_std.double().flatten().numpy()
            feature_mean = model.motion_embed.feature_mean.double().flatten().numpy()
            weight = block * (feature_std / scale)[None, :]
            bias = bias + block @ ((feature_mean - mean) / scale)
        else:  # input x itself
            weight = block / scale[None, :]
            bias = bias - block @ (mean / scale)
        layer.weight[rows] = torch.from_numpy(weight).float()
    bias_layer.bias.fill_(float(bias.min()) - 10.0)  # a class never seen in training is never predicted
    bias_layer.bias[rows] = torch.from_numpy(bias).float()
    return c


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """LR multiplier: linear warm-up to 1, then cosine to 0 at ``total``."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def class_weights(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """Inverse-frequency weights (N / (C * n_c)); a class absent from training gets weight 0."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = np.divide(len(labels), num_classes * counts, out=np.zeros(num_classes), where=counts > 0)
    return torch.tensor(weights, dtype=torch.float32)


def _batches(order: np.ndarray, batch_size: int, world: int) -> list[np.ndarray]:
    """Batches of the epoch's order; a last batch too small to give every rank a sample is dropped."""
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [b for b in batches if len(b) >= world]


@torch.no_grad()
def predict(
    model: nn.Module, images: torch.Tensor, motion: torch.Tensor, use_motion: bool, batch_size: int = 32
) -> torch.Tensor:
    """Softmax scores in eval mode, batched to keep memory flat."""
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(images), batch_size):
        logits = model(images[i : i + batch_size], motion[i : i + batch_size] if use_motion else None)
        out.append(torch.softmax(logits.float(), dim=1).cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 0)


Readings = list[tuple[torch.Tensor, torch.Tensor]]  # (images, prompts) of each reading of the same clips


def predict_readings(model: nn.Module, inputs: Readings, use_motion: bool) -> torch.Tensor:
    """The mean softmax of every reading of the same clips (:func:`mpt_edge.preprocess.readings`)."""
    return torch.stack([predict(model, images, motion, use_motion) for images, motion in inputs]).mean(0)


@dataclass(frozen=True)
class FoldData:
    """The clips of one fold: every pair, and which of them train, are held out (evaluated for the curves
    and the fold's predictions) and select the best epoch (none: the last epoch is kept)."""

    pairs: PairSet
    train_idx: np.ndarray
    eval_idx: np.ndarray
    val_idx: np.ndarray = field(default_factory=lambda: np.array([], int))
    train_motion: np.ndarray | None = None  # the training clips' prompts, where already computed
    # (images, prompts) of *every* pair, used when augmentation is off: batches are then slices,
    # not a fresh magnification and tokenization of each clip in every epoch
    cached_inputs: tuple[np.ndarray, np.ndarray] | None = None


@dataclass(frozen=True)
class FoldPlace:
    """Where a fold runs and what it writes: its folder, index and class names, device and DDP context,
    and the run identity its checkpoints carry (a resume must match it)."""

    folder: Path
    index: int
    class_names: list[str]
    device: torch.device
    dist: DistContext = field(default_factory=DistContext)
    identity: dict[str, Any] = field(default_factory=dict)


class FoldTrainer:
    """Trains ``model`` on one fold (:class:`FoldData`) at one place (:class:`FoldPlace`). :meth:`prepare`
    sets the starting point (prompt statistics, solved linear heads, optimizer); :meth:`fit` runs it
    first. Selecting the epoch on the held-out subjects would leak them: only ``val_idx`` selects."""

    def __init__(
        self, model: MPT, data: FoldData, options: TrainOptions, place: FoldPlace, reporter: Reporter | None = None
    ) -> None:
        if len(data.train_idx) == 0:
            raise MptEdgeError("no training clips in this fold; use more subjects or another --protocol")
        self.model, self.pairs, self.options = model, data.pairs, options
        self.train_idx, self.eval_idx = np.asarray(data.train_idx), np.asarray(data.eval_idx)
        self.val_idx = np.asarray(data.val_idx)
        self.class_names, self.folder, self.fold_index = place.class_names, place.folder, place.index
        self.device, self.dist = place.device, place.dist
        self.cached_inputs = data.cached_inputs if not options.augment else None
        self.train_motion = data.train_motion
        self.reporter = reporter or SilentReporter()
        self.identity = place.identity
        self.motion_config: MotionConfig = model.motion_config
        self.use_motion = model.cfg.use_motion_prompts
        self.num_classes = model.cfg.num_classes
        self.start: dict[str, float] = {}
        self.prepared = False

    def prepare(self) -> None:
        """The starting point of fine-tuning: the prompts standardised with this fold's training clips, the
        linear heads solved, the optimizer and schedule made; done once (:meth:`fit` calls it)."""
        if self.prepared:
            return
        self.prepared = True
        model, options, dist, device = self.model, self.options, self.dist, self.device
        if dist.is_main:
            self.folder.mkdir(parents=True, exist_ok=True)
        self.model.to(device)
        model.freeze_backbone(not options.train_backbone)
        train_motion = self.train_motion
        if model.motion_embed is not None:
            if train_motion is None:
                train_motion = motion_features(self.pairs, self.train_idx, self.motion_config)
            model.motion_embed.set_feature_statistics(torch.from_numpy(np.asarray(train_motion)))
        if options.probe_head or model.prompt_readout is not None:
            self.readout_c = self._solve_linear_heads(None if train_motion is None else np.asarray(train_motion))
        self.trainable = [p for p in model.parameters() if p.requires_grad]
        readout = {id(p) for p in model.prompt_readout.parameters()} if model.prompt_readout is not None else set()
        groups: list[dict[str, Any]] = [{"params": [p for p in self.trainable if id(p) not in readout]}]
        if readout and options.readout_lr_scale > 0:
            groups.append(
                {"params": [p for p in self.trainable if id(p) in readout], "lr": options.lr * options.readout_lr_scale}
            )
        elif readout and model.prompt_readout is not None:
            model.prompt_readout.requires_grad_(False)
        self.optimizer = torch.optim.AdamW(groups, lr=options.lr, weight_decay=options.weight_decay)
        self.steps_per_epoch = len(_batches(np.arange(len(self.train_idx)), options.batch_size, dist.world_size))
        total = options.epochs * self.steps_per_epoch
        warmup = int(round(options.warmup_epochs * self.steps_per_epoch))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: warmup_cosine(step, total, warmup)
        )
        weight = (
            class_weights(self.pairs.labels[self.train_idx], self.num_classes).to(device)
            if options.class_balanced
            else None
        )
        self.loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=options.label_smoothing)
        self.wrapped: nn.Module = model
        if dist.enabled:
            self.wrapped = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )
        self.eval_inputs = self._fixed_inputs(self.eval_idx)
        self.val_inputs = self._fixed_inputs(self.val_idx)

    def _solve_linear_heads(self, train_motion: np.ndarray | None) -> float:
        """The prompt read-out (and, with ``probe_head``, the [CLS] head) solved on the training clips
        as fine-tuning will see them: the clean inputs plus, with augmentation on,
        READOUT_AUGMENTED_COPIES augmented versions (seeded by (seed, fold), so resume and DDP ranks
        solve the same). A read-out solved on clean prompts alone is knocked off its optimum by the
        first augmented batches."""
        copies = READOUT_AUGMENTED_COPIES if self.options.augment else 0
        rng = np.random.default_rng([self.options.seed, self.fold_index, 0, READOUT_STREAM])
        use_readout = self.model.prompt_readout is not None and train_motion is not None
        motions, cls = [], []
        for copy in range(1 + copies):
            if self.options.probe_head:  # the backbone's [CLS] needs the images too
                images, motion = self._encoded(self.train_idx, rng if copy else None)
                cls.append(self._cls_features(images, motion))
                motions.append(train_motion if copy == 0 and train_motion is not None else motion)
            elif use_readout:
                motions.append(
                    train_motion
                    if copy == 0 and train_motion is not None
                    else motion_features(self.pairs, self.train_idx, self.motion_config, rng)
                )
        labels = np.tile(self.pairs.labels[self.train_idx], 1 + copies)
        groups = [self.pairs.subjects[i] for i in self.train_idx] * (1 + copies)
        return init_linear_heads(
            self.model,
            np.concatenate(motions) if use_readout else None,
            np.concatenate(cls) if cls else None,
            labels,
            groups,
            self.options.seed,
        )

    @torch.no_grad()
    def _cls_features(self, images: np.ndarray, motion: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """What the head reads (the final [CLS], see ``MPT.pooled``) of the model as it stands, in eval mode."""
        self.model.eval()
        out = []
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(images[i : i + batch_size]).to(self.device)
            m = torch.from_numpy(motion[i : i + batch_size]).to(self.device) if self.use_motion else None
            out.append(self.model.pooled(self.model.forward_features(x, m)).double().cpu().numpy())
        self.model.train()
        return np.concatenate(out)

    def _encoded(self, indices: np.ndarray, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        if rng is None and self.cached_inputs is not None:
            return self.cached_inputs[0][indices], self.cached_inputs[1][indices]
        return encode_pairs(self.pairs, indices, self.motion_config, rng)

    def _fixed_inputs(self, indices: np.ndarray) -> Readings:
        """The clips' inputs of every reading the device makes (a mirrored one is never cached)."""
        out = []
        for mirror in readings(self.motion_config):
            images, motion = (
                encode_pairs(self.pairs, indices, self.motion_config, mirror=True) if mirror else self._encoded(indices)
            )
            out.append((torch.from_numpy(images).to(self.device), torch.from_numpy(motion).to(self.device)))
        return out

    # --- checkpoints ------------------------------------------------------------------------
    @property
    def last_path(self) -> Path:
        return self.folder / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.folder / "best.pt"

    def _save(
        self, path: Path, epoch: int, history: list[dict[str, Any]], best: tuple[float, int], with_state: bool
    ) -> None:
        if not self.dist.is_main:
            return
        extra: dict[str, Any] = {
            "epoch": epoch,
            "history": history,
            "identity": self.identity,
            "best_score": best[0],
            "best_epoch": best[1],
            "start": self.start,
            # which subjects this model never trained on: calibration and accuracy reports respect it
            "held_out_subjects": sorted({self.pairs.subjects[i] for i in self.eval_idx}),
        }
        if with_state:
            extra["optimizer"] = self.optimizer.state_dict()
            extra["scheduler"] = self.scheduler.state_dict()
        save_checkpoint(path, self.model, self.class_names, **extra)

    def _resume(self) -> tuple[int, list[dict[str, Any]], tuple[float, int]]:
        payload = read_checkpoint(self.last_path)
        if payload.get("identity") != self.identity:
            raise CheckpointError(
                f"{self.last_path} belongs to a different run (other data, split, model or options); "
                "resume with the original options or train into a new --out"
            )
        try:
            self.model.load_state_dict(payload["state_dict"], strict=True)
            self.optimizer.load_state_dict(payload["optimizer"])
            self.scheduler.load_state_dict(payload["scheduler"])
        except (KeyError, RuntimeError, ValueError) as error:
            raise CheckpointError(
                f"{self.last_path} cannot be resumed ({str(error).splitlines()[0][:160]}); delete "
                "it to start the fold again"
            ) from None
        self.start = dict(payload.get("start", {}))
        return (
            int(payload["epoch"]),
            list(payload["history"]),
            (float(payload["best_score"]), int(payload["best_epoch"])),
        )

    # --- training ---------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> FoldResult:
        self.prepare()
        history: list[dict[str, Any]] = []
        start, best = 0, (-1.0, -1)
        if resume and self.last_path.is_file():
            start, history, best = self._resume()
        else:  # where fine-tuning starts from: the curves show what it added
            self.start = self._evaluate("eval", self.eval_idx, self.eval_inputs)
        opts = self.options
        for epoch in range(start, opts.epochs):
            rng = np.random.default_rng([opts.seed, self.fold_index, epoch])
            torch.manual_seed(int(rng.integers(2**62)))
            order = self.train_idx[rng.permutation(len(self.train_idx))]
            batches = _batches(order, opts.batch_size, self.dist.world_size)
            self.reporter.epoch_started(epoch, opts.epochs, len(batches))
            self.wrapped.train()
            losses = []
            for batch in batches:
                local = batch[self.dist.rank :: self.dist.world_size]
                images, motion = self._encoded(local, rng if opts.augment else None)
                labels = torch.from_numpy(self.pairs.labels[local]).to(self.device)
                logits = self.wrapped(
                    torch.from_numpy(images).to(self.device),
                    torch.from_numpy(motion).to(self.device) if self.use_motion else None,
                )
                loss = self.loss_fn(logits, labels)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                self.scheduler.step()
                losses.append(loss.item())
                self.reporter.batch_done(losses[-1])
            record = {
                "epoch": epoch + 1,
                "train_loss": float(np.mean(losses)) if losses else float("nan"),
                "lr": self.scheduler.get_last_lr()[0],
            }
            record.update(self._evaluate("eval", self.eval_idx, self.eval_inputs))
            record.update(self._evaluate("val", self.val_idx, self.val_inputs))
            history.append(record)
            score = record["val_uf1"] if len(self.val_idx) else float(epoch)  # no validation set: the last epoch
            if score >= best[0]:
                best = (float(score), epoch + 1)
                self._save(self.best_path, epoch + 1, history, best, with_state=False)
            self._save(self.last_path, epoch + 1, history, best, with_state=True)
            self.reporter.epoch_done(record)
        self.dist.barrier()
        return self._result(history, best)

    def _evaluate(self, prefix: str, indices: np.ndarray, inputs: Readings) -> dict[str, float]:
        if not len(indices):
            return {}
        scores = predict_readings(self.model, inputs, self.use_motion)
        metrics = summarize(self.pairs.labels[indices], scores.argmax(1).numpy(), self.num_classes)
        return {
            f"{prefix}_uf1": metrics.uf1,
            f"{prefix}_uar": metrics.uar,
            f"{prefix}_accuracy": metrics.accuracy,
        }

    def _result(self, history: list[dict[str, Any]], best: tuple[float, int]) -> FoldResult:
        """Predictions of the selected (best) model on the held-out subjects."""
        selection = "best validation UF1" if len(self.val_idx) else "last epoch"
        result = FoldResult(history, self.start, best[1], selection)
        if len(self.eval_idx):
            payload = read_checkpoint(self.best_path) if self.best_path.is_file() else None
            if payload is not None:
                self.model.load_state_dict(payload["state_dict"])
            scores = predict_readings(self.model, self.eval_inputs, self.use_motion)
            result.eval_keys = [self.pairs.keys[i] for i in self.eval_idx]
            result.y_true = self.pairs.labels[self.eval_idx].tolist()
            result.y_pred = scores.argmax(1).tolist()
            result.scores = np.round(scores.numpy(), 6).tolist()
        return result
