"""``--strategy auto``: choose the strategy from the data's size, a converged linear probe and a time budget.

The evidence, all measured on the user's own data before training:

1. **Examples per class** (the smallest class). Fine-tuning a backbone moves millions of weights.
   With pretrained BatchNorm statistics kept (``--batchnorm``) and LP-FT, it paid on both image
   sets measured at 100-120 per class (+0.7 and +2 points over the converged head, docs/quality.md;
   before the BatchNorm fix it lost 2-12). Below a few dozen examples per class the validation set
   is a few dozen items too, so the best-epoch rule that guards fine-tuning cannot tell a gain from
   noise, and a converged probe is the robust answer (the few-shot regime of linear probing).
2. **The converged linear probe's cross-validated accuracy** on the training features (never on
   validation data). It costs one extraction pass, which the head phase then reuses from the
   feature cache. A probe already within 2 points of perfect leaves fine-tuning nothing to win.
3. **Time.** When fine-tuning is the answer its time is estimated from the extraction pass and
   printed with the reasons. With ``--time-budget`` a few real fine-tuning steps are timed and the
   epochs sized to fit the time left; if not even one epoch fits, the answer is feature extraction.

Rules, in order: too few examples per class or too little headroom -> feature extraction; no
time for one epoch -> feature extraction; text -> LoRA (from the probe's head); a weak probe
(less than half the way from chance to perfect) with at least ``LARGE_PER_CLASS`` examples per
class -> full fine-tuning; else two-phase, which is LP-FT: fine-tuning starts from the converged
head. Nothing here was tuned to a benchmark set: the thresholds are round numbers that follow from
the reasoning above, and every decision is printed and saved with the numbers it used.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..params.batchnorm import FROZEN_BELOW_PER_CLASS

MIN_PER_CLASS_TO_FINETUNE = 50  # smallest class; below it validation cannot tell a fine-tuning gain from noise (see 1.)
MIN_HEADROOM = 0.02  # probe CV error below this: nothing left for fine-tuning to win
LARGE_PER_CLASS = FROZEN_BELOW_PER_CLASS  # "lots of data": a weak probe then says the features need to change
MAX_BUDGET_EPOCHS = 20  # a budget sizes fine-tuning up to this many epochs
PATIENCE = 2  # fine-tuning stops after this many epochs without beating the best model so far
FINISH_S = 5.0  # after training: saving the model, the final evaluation's bookkeeping, the report


@dataclass
class AutoFacts:
    """What the decision is based on (saved in model.json and metrics.json as ``auto``)."""

    modality: str
    num_classes: int
    min_per_class: int
    probe_cv_accuracy: float | None
    probe_seconds: float
    seconds_per_step: float | None = None
    steps_per_epoch: int | None = None
    budget_s: float | None = None
    spent_s: float = 0.0
    val_steps: int = 0  # batches in one validation pass (the final evaluation repeats one)
    extract_seconds: float = 0.0  # the probe's extraction pass, which the head phase then reuses
    lora_capable: bool = False
    step_timing: str | None = None  # "timed" (real steps, with a budget) | "estimated" (from the extraction pass)


@dataclass
class AutoDecision:
    strategy: str
    epochs: int
    reasons: str
    facts: AutoFacts
    probe: dict[str, Any] = field(default_factory=dict)
    patience: int | None = None  # early stopping for the fine-tuning phase (None: the configured one)

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "epochs": self.epochs, "reasons": self.reasons,
                "facts": asdict(self.facts), "probe": self.probe, "patience": self.patience}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AutoDecision":
        """The decision a run recorded (``--resume`` keeps it instead of deciding again)."""
        return cls(data["strategy"], int(data["epochs"]), data["reasons"], AutoFacts(**data["facts"]),
                   data.get("probe", {}), data.get("patience"))


def estimated_seconds(facts: AutoFacts, epochs: int) -> float:
    """Fine-tuning time for ``epochs`` from the timed steps (+25% for validation and loader start-up)."""
    return (facts.seconds_per_step or 0.0) * (facts.steps_per_epoch or 0) * 1.25 * epochs


def format_seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def epochs_that_fit(facts: AutoFacts, default_epochs: int) -> int:
    """Fine-tuning epochs: ``default_epochs`` without a budget, else as many as the time left allows (0 = none)."""
    if facts.budget_s is None or not facts.seconds_per_step or not facts.steps_per_epoch:
        return default_epochs
    per_epoch = estimated_seconds(facts, 1)
    return max(0, min(MAX_BUDGET_EPOCHS, math.floor(time_left(facts) / per_epoch)))


def time_left(facts: AutoFacts) -> float:
    """Budget seconds left for fine-tuning epochs: what is spent, and what the run does after its last
    epoch (a final evaluation pass, at about a third of a training step per batch, and
    :data:`FINISH_S` for the model and the report), are taken off. Measured before this reserve:
    text runs overran a budget by 13-15 % (docs/quality.md)."""
    finish = (facts.seconds_per_step or 0.0) * facts.val_steps / 3 + FINISH_S
    return (facts.budget_s or 0.0) - facts.spent_s - finish


def decide(facts: AutoFacts, default_epochs: int) -> AutoDecision:
    """The strategy for ``facts`` (a pure function: the rules of the module docstring).

    Whenever the answer fine-tunes, it also stops early: after :data:`PATIENCE` epochs that do not
    beat the best model so far (the converged head first), the remaining epochs would only cost time.
    """
    decision = _decide(facts, default_epochs)
    if decision.strategy != "feature-extraction" and decision.epochs > PATIENCE:
        decision.patience = PATIENCE
        decision.reasons += (f" Fine-tuning stops early after {PATIENCE} epochs that do not beat the best model so far "
                             "(on validation loss).")
    return decision


def _decide(facts: AutoFacts, default_epochs: int) -> AutoDecision:
    acc = facts.probe_cv_accuracy
    chance = 1.0 / facts.num_classes
    probe_text = (f"a converged linear probe reaches {acc:.1%} cross-validated accuracy on the training features"
                  if acc is not None else "too few examples per class to cross-validate a probe")
    data_text = f"the smallest class has {facts.min_per_class} training examples"
    if facts.min_per_class < MIN_PER_CLASS_TO_FINETUNE:
        return AutoDecision("feature-extraction", 1, (
            f"feature-extraction: {data_text} (under {MIN_PER_CLASS_TO_FINETUNE}, too few to tell a fine-tuning "
            f"gain from noise) and {probe_text}."), facts)
    if acc is not None and 1 - acc < MIN_HEADROOM:
        return AutoDecision("feature-extraction", 1, (
            f"feature-extraction: {probe_text}, leaving under {MIN_HEADROOM:.0%} for fine-tuning to win; {data_text}."), facts)
    epochs = epochs_that_fit(facts, default_epochs)
    time_text = ""
    if facts.budget_s is not None and facts.seconds_per_step:
        time_text = (f" A fine-tuning step takes {facts.seconds_per_step:.2f} s ({facts.steps_per_epoch} per epoch); "
                     f"{max(0.0, time_left(facts)):.0f} s of the {facts.budget_s:.0f} s budget are left for it")
        if epochs < 1:
            return AutoDecision("feature-extraction", 1, (
                f"feature-extraction: {data_text} and {probe_text}, but not one fine-tuning epoch fits the time "
                f"budget.{time_text}."), facts)
        time_text += f": {epochs} epoch(s) fit."
    elif facts.seconds_per_step and facts.steps_per_epoch:
        how = " estimated from the extraction pass" if facts.step_timing == "estimated" else ""
        time_text = (f" Fine-tuning should take about {format_seconds(estimated_seconds(facts, epochs))} "
                     f"({epochs} epoch(s) of {facts.steps_per_epoch} steps at {facts.seconds_per_step:.2f} s{how}); "
                     "--time-budget caps it, --strategy feature-extraction skips it.")
    if facts.modality == "text" and facts.lora_capable:
        return AutoDecision("lora", epochs, (
            f"lora: {data_text} and {probe_text}, so adapting the encoder can pay; LoRA adapts it at a fraction of "
            f"the cost of full fine-tuning, starting from the probe's head.{time_text}"), facts)
    weak = acc is not None and acc < (1 + chance) / 2
    if weak and facts.min_per_class >= LARGE_PER_CLASS:
        return AutoDecision("fine-tune", epochs, (
            f"fine-tune: {probe_text}, less than half-way from chance ({chance:.0%}) to perfect: the features "
            f"need to change, and with {facts.min_per_class} examples in the smallest class there is data to "
            f"change them.{time_text}"), facts)
    return AutoDecision("two-phase", epochs, (
        f"two-phase (LP-FT): {data_text} and {probe_text}, so fine-tuning can pay; it starts from the converged "
        f"head.{time_text}"), facts)


def multilabel_decision(split: Any, num_labels: int, modality: str, default_epochs: int) -> AutoDecision:
    """``auto`` for a multi-label run: the rarest label's positives stand in for the smallest class.

    Why no probe: the converged probe is a multinomial (one label per item) solver; a multi-label
    head is trained by epochs on the cached features instead, and the data-size rule decides alone.
    """
    import torch

    targets = torch.stack([torch.as_tensor(y, dtype=torch.float32) for _, y in split.train])
    facts = AutoFacts(modality=modality, num_classes=num_labels, min_per_class=int(targets.sum(0).min()),
                      probe_cv_accuracy=None, probe_seconds=0.0)
    decision = decide(facts, default_epochs)
    decision.reasons = decision.reasons.replace(
        "too few examples per class to cross-validate a probe", "multi-label data (no single-label probe; "
        "the rarest label's positives count as the smallest class)")
    if decision.strategy == "feature-extraction":
        decision.epochs = default_epochs  # trained by epochs, not solved
    return decision


# ---------------------------------------------------------------- measuring the facts

def time_finetune_step(model: Any, dm: Any, precision_context: Any = None, steps: int = 3) -> float:
    """Seconds per full fine-tuning step (load a batch, forward, backward), measured on real batches.

    No optimizer step is taken; every weight, buffer, ``requires_grad`` flag and module mode is
    restored, and so are the random streams (the global ones and the data module's loader
    generator), so timing leaves the run exactly as it would have been without it: an ``auto`` run
    trains like the same strategy forced, and a resumed one (which does not time again) like one
    never interrupted.
    """
    import contextlib

    import torch
    import torch.nn.functional as F

    state = {k: v.clone() for k, v in model.state_dict().items()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    modes = {m: m.training for m in model.modules()}
    generator = getattr(dm, "_generator", None)
    generator_state = generator.get_state() if isinstance(generator, torch.Generator) else None
    for p in model.parameters():
        p.requires_grad_(True)
    model.train()
    times = []
    with torch.random.fork_rng(devices=[]):  # the global streams come back as they were
        loader = iter(dm.train_dataloader())
        try:
            for i in range(steps + 1):  # the first step warms up (workers, allocator)
                start = time.perf_counter()
                try:
                    x, y = next(loader)
                except StopIteration:
                    break
                with precision_context() if precision_context else contextlib.nullcontext():
                    loss = F.cross_entropy(model(x).float(), y)
                loss.backward()
                model.zero_grad(set_to_none=True)
                if i:
                    times.append(time.perf_counter() - start)
        finally:
            del loader  # its worker processes stop here
            if generator_state is not None:
                generator.set_state(generator_state)
            model.load_state_dict(state)
            for n, p in model.named_parameters():
                p.requires_grad_(flags[n])
            for m, training in modes.items():
                m.training = training
    return sum(times) / len(times) if times else 0.0


def step_estimate(extract_seconds: float, rows: int, batch_size: int) -> float | None:
    """Seconds per fine-tuning step from the extraction pass just done (``rows`` items in
    ``extract_seconds``): a training step costs about three forward passes (forward + a backward
    twice its cost). None when the features came from the disk cache (no pass was timed).

    Why not time real steps here as with a budget: a few full backward passes before training
    measurably slowed the training that followed on CPU (epochs 25-40 % longer on the demo; cause
    not found), a price worth paying only when a budget needs the precise figure.
    """
    if extract_seconds < 0.5 or not rows:
        return None
    return round(3 * extract_seconds / rows * batch_size, 4)


def choose_strategy(config: Any, model: Any, dm: Any, phase_data: Any, started: float) -> AutoDecision:
    """Measure the facts for ``config`` on ``model``'s data and decide.

    The training features are extracted through ``phase_data`` (the run's feature-cache hook) under
    the precision the run will train with, so the head phase that follows finds them in the cache.
    When the decision is LoRA the probe's solution becomes the head (LP before LoRA).
    """
    import lightning as L
    import torch

    from ..backbones.hf_text import HFTextBackbone
    from ..config import parse_duration
    from ..engine.feature_cache import CachedPhaseData, FeatureStore
    from ..engine.linear_probe import ProbeOptions, fit_head, fit_linear_probe
    from ..engine.runtime import quiet_lightning, resolve_accelerator, resolve_precision
    from .base import Phase

    quiet_lightning()
    accelerator = resolve_accelerator(config.accelerator)
    precision = resolve_precision(config.precision, accelerator)
    trainer = L.Trainer(accelerator=accelerator, devices=1, precision=precision, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    hook = phase_data or CachedPhaseData(dm, FeatureStore(), seed=config.seed)  # caching off: measure anyway
    start = time.perf_counter()
    features, _ = hook(0, Phase("head", 1, "head", 1.0, converge=True), model)
    features.trainer = trainer
    features.setup("fit")
    train = features.datasets["train"]
    num_classes = len(model.classes)
    _, _, probe = fit_linear_probe(train.features, train.labels, num_classes, train.views,
                                   ProbeOptions(seed=config.seed, label_smoothing=config.label_smoothing))
    facts = AutoFacts(
        modality=model.data_config.modality, num_classes=num_classes,
        min_per_class=int(torch.bincount(train.labels, minlength=num_classes).min()),
        probe_cv_accuracy=probe.cv_accuracy, probe_seconds=round(time.perf_counter() - start, 2),
        budget_s=parse_duration(config.time_budget) if config.time_budget else None,
        lora_capable=isinstance(model.backbone, HFTextBackbone),
        extract_seconds=round(float(getattr(features, "extraction_seconds", 0.0) or 0.0), 2))
    decision = decide(facts, config.epochs)
    if decision.strategy != "feature-extraction":
        facts.steps_per_epoch = max(1, train.labels.shape[0] // config.batch_size)  # the loader drops a last partial batch
        facts.val_steps = math.ceil(features.datasets["val"].labels.shape[0] / config.batch_size)
        if facts.budget_s is not None:  # a budget sizes the epochs: time real steps
            facts.seconds_per_step = round(time_finetune_step(model, dm, trainer.precision_plugin.forward_context), 4)
            facts.step_timing = "timed"
        else:  # only an estimate to print: from the extraction pass, at no cost
            rows = sum(int(d.features.shape[0]) for d in features.datasets.values())
            facts.seconds_per_step = step_estimate(facts.extract_seconds, rows, config.batch_size)
            facts.step_timing = "estimated" if facts.seconds_per_step else None
        facts.spent_s = round(time.perf_counter() - started, 1)
        decision = decide(facts, config.epochs)
    decision.probe = {k: v for k, v in probe.to_dict().items() if k != "grid"}
    if decision.strategy == "lora":  # LP before LoRA: the adapters start from the converged head
        fit_head(model.head, train.features, train.labels, train.views, ProbeOptions(seed=config.seed))
    return decision
