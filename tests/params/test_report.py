"""The parameter report: per-group counts, trainable counts and LRs, with an exact totals line."""
from __future__ import annotations

import pytest

from headstart.backbones import create_backbone
from headstart.heads import build_head
from headstart.model import TransferModel
from headstart.params import discriminative_param_groups, parameter_report, set_trainable

RESNET50_WITHOUT_FC = 25_557_032 - (2048 * 1000 + 1000)  # torchvision's documented count minus its fc


@pytest.fixture(scope="module")
def resnet50() -> TransferModel:
    backbone = create_backbone("torchvision:resnet50", weights="none")
    return TransferModel(backbone, build_head("linear", backbone.num_features, 2))


def test_resnet50_feature_extraction_totals(resnet50: TransferModel) -> None:
    set_trainable(resnet50, "head")
    report = parameter_report(resnet50, discriminative_param_groups(resnet50, 1e-3), phase="head")
    head = 2048 * 2 + 2
    assert report.total == sum(p.numel() for p in resnet50.parameters()) == RESNET50_WITHOUT_FC + head
    assert report.trainable == head
    assert report.totals_line() == "Trainable: 4,098 / Total: 23,512,130"
    assert [r.name for r in report.rows] == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    stem = resnet50.backbone.model.conv1.weight.numel() + 2 * 64
    assert (report.rows[0].params, report.rows[0].trainable, report.rows[0].lr) == (stem, 0, None)
    assert report.rows[2].params == sum(p.numel() for p in resnet50.backbone.model.layer2.parameters())
    assert (report.rows[-1].params, report.rows[-1].trainable, report.rows[-1].lr) == (head, head, 1e-3)

    text = report.to_text().splitlines()
    assert text[0].split() == ["group", "params", "trainable", "lr"]
    assert text[-2].split() == ["head", "4,098", "4,098", "1.00e-03"]
    assert text[1].split() == ["stem", f"{stem:,}", "0", "-"]
    assert text[-1] == "Trainable: 4,098 / Total: 23,512,130"
    assert report.to_dict() == {"phase": "head", "total": 23_512_130, "trainable": 4_098,
                                "groups": [{"name": r.name, "params": r.params, "trainable": r.trainable, "lr": r.lr}
                                           for r in report.rows]}


def test_partial_unfreezing_counts_and_lrs(resnet50: TransferModel) -> None:
    set_trainable(resnet50, ["layer4", "head"])
    report = parameter_report(resnet50, discriminative_param_groups(resnet50, 1e-3, layer_decay=0.5))
    layer4 = sum(p.numel() for p in resnet50.backbone.model.layer4.parameters())
    assert report.trainable == layer4 + 4_098
    assert report.totals_line() == f"Trainable: {layer4 + 4_098:,} / Total: 23,512,130"
    assert {r.name: r.lr for r in report.rows} == {"stem": None, "layer1": None, "layer2": None, "layer3": None,
                                                   "layer4": 5e-4, "head": 1e-3}
    assert "Parameters" in str(report.to_rich().title)
