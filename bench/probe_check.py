"""Converged linear head vs scikit-learn's LogisticRegressionCV on the same frozen features.

Extracts each benchmark set's features once with headstart's own extraction (eval transform),
stores them under the bench data folder, then fits headstart's L-BFGS probe and sklearn's
``LogisticRegressionCV`` (5-fold, 10 Cs, lbfgs, on standardised features and on raw features)
on the training features and scores both on the validation features. Prints a Markdown table.

    PYTHONPATH=src python bench/probe_check.py [--sets hymenoptera,trashnet,sst2,sms_spam]
"""
from __future__ import annotations

import argparse
import time

import _common as c
import torch
from _quality_sets import OUT, bench_sets


def features_for(bench_set, model_name: str, views: int = 0):
    """``(train_x, train_y, val_x, val_y)``: cached in OUT/features."""
    path = OUT / "features" / f"{bench_set.name}-{model_name}-aug{views}.pt"
    if path.exists():
        return torch.load(path)
    from headstart.config import RunConfig
    from headstart.engine.feature_cache import extract_features, extraction_sources
    from headstart.runner import build_model
    from torch.utils.data import DataLoader

    config = RunConfig(data=bench_set.train, val_data=bench_set.val, model=model_name, num_workers=0)
    built = build_model(config)
    train, val = extraction_sources(built.datamodule, augment_views=views)
    out = []
    for source in (train, val):
        xs = []
        for view in range(source.views):
            torch.manual_seed(7919 * view)
            loader = DataLoader(source.dataset, batch_size=32, collate_fn=source.collate_fn)
            xs.append(extract_features(built.model.backbone, loader))
        out += [torch.cat(xs), source.labels]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(tuple(out), path)
    return tuple(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="hymenoptera,trashnet,sst2,sms_spam")
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from headstart.engine.linear_probe import fit_linear_probe

    rows = []
    for s in bench_sets():
        if s.name not in args.sets.split(","):
            continue
        model_name = "efficientnet_lite0" if s.modality == "image" else "minilm"
        with c.Timer() as t_x:
            xt, yt, xv, yv = features_for(s, model_name)
        with c.Timer() as t_h:
            w, b, result = fit_linear_probe(xt, yt, int(yt.max()) + 1)
        ours = float(((xv @ w.T + b).argmax(1) == yv).float().mean())
        scores = {}
        for label, make in (("raw", lambda: LogisticRegressionCV(Cs=10, cv=5, max_iter=1000)),
                            ("scaled", lambda: make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=10, cv=5, max_iter=1000)))):
            start = time.perf_counter()
            clf = make().fit(xt.numpy(), yt.numpy())
            scores[label] = (float(clf.score(xv.numpy(), yv.numpy())), time.perf_counter() - start)
        rows.append([s.name, len(yt), len(yv), f"{ours:.4f}", f"{t_h.seconds:.1f}", f"{result.l2:g}",
                     f"{scores['raw'][0]:.4f}", f"{scores['raw'][1]:.1f}", f"{scores['scaled'][0]:.4f}",
                     f"{scores['scaled'][1]:.1f}", f"{t_x.seconds:.0f}"])
        print(rows[-1], flush=True)
    print(c.machine_line())
    print(c.table(["set", "train", "val", "headstart probe", "s", "l2", "sklearn LRCV raw", "s",
                   "sklearn LRCV scaled", "s", "extract s"], rows))


if __name__ == "__main__":
    c.quiet()
    main()
