"""Metric reports that say which convention each number follows."""

from __future__ import annotations

from dataclasses import dataclass

from crackedge.metrics.counts import PRF

CRACKSAM_CONVENTION = (
    "CrackSAM convention: crack-class scores at a fixed threshold, computed per image and averaged "
    "(empty prediction vs empty ground truth = 1)"
)
POOLED_CONVENTION = "pooled: the same scores from counts summed over every pixel of the dataset"
DEEPCRACK_CONVENTION = (
    "DeepCrack/PARNet convention: threshold sweep; ODS = best F with one dataset-wide threshold (pooled "
    "counts), OIS = mean of per-image best F; mIoU = mean of crack and background IoU and accuracy, both "
    "pooled at the ODS threshold"
)


@dataclass(frozen=True)
class DeepCrackScores:
    ods_f: float
    ods_threshold: float
    ods_precision: float
    ods_recall: float
    ois_f: float
    miou: float
    crack_iou: float
    background_iou: float
    accuracy: float


@dataclass(frozen=True)
class MetricReport:
    n_images: int
    threshold: float
    # CrackSAM convention (per-image mean)
    precision: float
    recall: float
    f1: float
    iou: float
    pooled: PRF
    deepcrack: DeepCrackScores

    def to_dict(self) -> dict[str, float]:
        """Flat dictionary; keys without prefix are the CrackSAM per-image means."""
        d = self.deepcrack
        return {
            "n_images": float(self.n_images),
            "threshold": self.threshold,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "iou": self.iou,
            "pooled_precision": self.pooled.precision,
            "pooled_recall": self.pooled.recall,
            "pooled_f1": self.pooled.f1,
            "pooled_iou": self.pooled.iou,
            "ods_f": d.ods_f,
            "ods_threshold": d.ods_threshold,
            "ods_precision": d.ods_precision,
            "ods_recall": d.ods_recall,
            "ois_f": d.ois_f,
            "miou": d.miou,
            "accuracy": d.accuracy,
        }

    def format(self, title: str = "") -> str:
        """A small text table; every block names its convention."""
        d = self.deepcrack
        lines = [title] if title else []
        lines += [
            f"images: {self.n_images}",
            f"[{CRACKSAM_CONVENTION}; threshold {self.threshold:.2f}]",
            f"  IoU {self.iou:.4f}  F1 {self.f1:.4f}  precision {self.precision:.4f}  recall {self.recall:.4f}",
            f"[{POOLED_CONVENTION}]",
            f"  IoU {self.pooled.iou:.4f}  F1 {self.pooled.f1:.4f}  precision {self.pooled.precision:.4f}  "
            f"recall {self.pooled.recall:.4f}",
            f"[{DEEPCRACK_CONVENTION}]",
            f"  ODS F {d.ods_f:.4f} (t={d.ods_threshold:.2f}, P {d.ods_precision:.4f}, R {d.ods_recall:.4f})  "
            f"OIS F {d.ois_f:.4f}  mIoU {d.miou:.4f} (crack {d.crack_iou:.4f}, background {d.background_iou:.4f})  "
            f"accuracy {d.accuracy:.4f}",
        ]
        return "\n".join(lines)
