"""Metric golden tests (hand-computed) and agreement with a straightforward independent computation."""

from __future__ import annotations

import numpy as np
import pytest

from crackedge.metrics import MetricAccumulator, confusion_counts, prf


def _mask(shape, pixels):
    m = np.zeros(shape, np.uint8)
    for y, x in pixels:
        m[y, x] = 1
    return m


def test_counts_and_scores_hand_computed():
    gt = _mask((4, 4), [(0, 0), (0, 1), (1, 0)])
    pred = _mask((4, 4), [(0, 0), (0, 1), (2, 2)])
    c = confusion_counts(pred, gt)
    assert (c.tp, c.fp, c.fn, c.tn) == (2, 1, 1, 12)
    s = prf(c)
    assert s.precision == pytest.approx(2 / 3)
    assert s.recall == pytest.approx(2 / 3)
    assert s.f1 == pytest.approx(2 / 3)
    assert s.iou == pytest.approx(0.5)


@pytest.mark.parametrize(
    "pred_px, gt_px, expected",
    [
        ([], [], (1.0, 1.0, 1.0, 1.0)),  # empty vs empty is a perfect answer
        ([(1, 1)], [], (0.0, 0.0, 0.0, 0.0)),  # false alarm on a crack-free image
        ([], [(1, 1)], (0.0, 0.0, 0.0, 0.0)),  # missed crack
    ],
)
def test_empty_case_convention(pred_px, gt_px, expected):
    s = prf(confusion_counts(_mask((3, 3), pred_px), _mask((3, 3), gt_px)))
    assert (s.precision, s.recall, s.f1, s.iou) == expected


def test_per_image_mean_versus_pooled():
    acc = MetricAccumulator(threshold=0.5)
    acc.add(_mask((4, 4), [(0, 0), (0, 1), (2, 2)]).astype(float), _mask((4, 4), [(0, 0), (0, 1), (1, 0)]))
    acc.add(np.zeros((4, 4)), np.zeros((4, 4)))  # empty vs empty = 1
    r = acc.report()
    assert r.iou == pytest.approx((0.5 + 1.0) / 2)
    assert r.pooled.iou == pytest.approx(0.5)  # empty image adds no counts
    assert r.n_images == 2


def test_threshold_is_strict():
    acc = MetricAccumulator(threshold=0.5)
    acc.add(np.full((2, 2), 0.5), np.ones((2, 2)))  # tied logits are background
    assert acc.report().iou == 0.0


def test_sweep_hand_computed_ods_ois_miou():
    # thresholds 0.25, 0.5, 0.75
    acc = MetricAccumulator(threshold=0.5, n_thresholds=3)
    acc.add(np.array([[0.9, 0.6], [0.3, 0.1]]), np.array([[1, 1], [0, 1]]))
    d = acc.report().deepcrack
    # t=.25: tp2 fp1 fn1 F=2/3; t=.5: tp2 fp0 fn1 F=.8; t=.75: tp1 fn2 F=.5
    assert d.ods_f == pytest.approx(0.8)
    assert d.ods_threshold == pytest.approx(0.5)
    assert d.ois_f == pytest.approx(0.8)
    assert d.crack_iou == pytest.approx(2 / 3)
    assert d.background_iou == pytest.approx(0.5)
    assert d.miou == pytest.approx(7 / 12)
    assert d.accuracy == pytest.approx(0.75)
    # a second image whose best threshold differs separates OIS from ODS
    acc.add(np.array([[0.3, 0.2], [0.1, 0.1]]), np.array([[1, 0], [0, 0]]))
    d = acc.report().deepcrack
    assert d.ois_f == pytest.approx((0.8 + 1.0) / 2)
    assert d.ods_f == pytest.approx(0.75)  # pooled: t=.25 tp3 fp1 fn1
    assert d.ods_threshold == pytest.approx(0.25)


def _naive_scores(probs, gts, thresholds, fixed_t):
    """Straightforward loops: the definitions, written independently of the accumulator."""

    def f_iou(tp, fp, fn):
        if tp + fp + fn == 0:
            return 1.0, 1.0
        return 2 * tp / (2 * tp + fp + fn), tp / (tp + fp + fn)

    ious, per_img_best = [], []
    tot = {t: [0, 0, 0, 0] for t in thresholds}
    for p, g in zip(probs, gts):
        pred = p > fixed_t
        tp = int(np.sum(pred & g))
        fp = int(np.sum(pred & ~g))
        fn = int(np.sum(~pred & g))
        ious.append(f_iou(tp, fp, fn)[1])
        best = 0.0
        for t in thresholds:
            pr = p > t
            c = [int(np.sum(pr & g)), int(np.sum(pr & ~g)), int(np.sum(~pr & g)), int(np.sum(~pr & ~g))]
            best = max(best, f_iou(*c[:3])[0])
            tot[t] = [a + b for a, b in zip(tot[t], c)]
        per_img_best.append(best)
    ods_t = max(thresholds, key=lambda t: f_iou(*tot[t][:3])[0])
    tp, fp, fn, tn = tot[ods_t]
    miou = (tp / (tp + fp + fn) + tn / (tn + fp + fn)) / 2
    return float(np.mean(ious)), f_iou(*tot[ods_t][:3])[0], float(np.mean(per_img_best)), miou


def test_agrees_with_independent_computation_on_random_masks():
    rng = np.random.default_rng(0)
    probs, gts = [], []
    for i in range(6):
        g = rng.random((24, 31)) < (0.0 if i == 0 else 0.1)
        noise = rng.random((24, 31))
        probs.append(np.clip(0.6 * g + 0.5 * noise, 0, 1))
        gts.append(g)
    acc = MetricAccumulator(threshold=0.5, n_thresholds=19)
    for p, g in zip(probs, gts):
        acc.add(p, g)
    r = acc.report()
    iou, ods, ois, miou = _naive_scores(probs, gts, list(acc.thresholds), 0.5)
    assert r.iou == pytest.approx(iou)
    assert r.deepcrack.ods_f == pytest.approx(ods)
    assert r.deepcrack.ois_f == pytest.approx(ois)
    assert r.deepcrack.miou == pytest.approx(miou)


def test_report_labels_conventions_and_flat_dict():
    acc = MetricAccumulator()
    acc.add(np.eye(5), np.eye(5))
    r = acc.report()
    text = r.format()
    assert "CrackSAM convention" in text and "DeepCrack/PARNet convention" in text and "pooled" in text
    d = r.to_dict()
    assert d["iou"] == 1.0 and d["ods_f"] == 1.0 and d["miou"] == 1.0


def test_bad_shapes_and_empty_report_raise():
    acc = MetricAccumulator()
    with pytest.raises(ValueError, match="same HxW"):
        acc.add(np.zeros((3, 3)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="no images"):
        acc.report()
