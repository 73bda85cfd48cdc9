"""Our CPU NoBRS evaluation reproduces the original RITM code's per-click IoUs (GrabCut 'llama').

Reference (``fixtures/ritm_cpu_grabcut.json``) recorded from the original code, not from ours:

* repository https://github.com/SamsungLabs/ritm_interactive_segmentation, commit
  b9b44603672e15aa0be878b54fd26e7e1c5d2311;
* a driver run in its own process with that checkout first on ``sys.path`` (never importing
  this package): ``isegm.inference.utils.load_is_model(weights/hrnet18s_cocomval_itermask.pth,
  cpu)`` (fp16 weights copied into the fp32 model by ``load_state_dict``), ``get_predictor(model,
  'NoBRS', cpu, prob_thresh=0.49, predictor_params={}, zoom_in_params={'target_size': 400})`` (its
  ``scripts/evaluate_model.py`` cvpr mode), its ``GrabCutDataset`` and
  ``evaluate_sample(image, gt_mask, predictor, max_iou_thr=1.01, pred_thr=0.49, max_clicks=20)``;
* CPU, torch 2.14.1+cu130, 2 intra-op threads (torch default on the 2-core machine), numpy 2.4.6,
  OpenCV 5.1.0;
* patches to the original, none changing what it computes: ``np.int`` / ``np.bool`` /
  ``np.float`` -> ``int`` / ``bool`` / ``float`` (removed numpy aliases); ``torch.load(...,
  weights_only=False)``; the training-only albumentations imports in ``isegm/data/transforms.py``
  (``to_tuple``, ``functional``) wrapped in try/except.

With weights in channels-last layout (what ``load_is_model`` used to do on CPU) 'llama' click 3
falls at (319, 300) instead of the original's (320, 300) and its IoU is 0.36073 instead of 0.36190.
"""
import json
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT = REPO_ROOT / "weights" / "hrnet18s_cocomval_itermask.pth"
REFERENCE = Path(__file__).resolve().parent / "fixtures" / "ritm_cpu_grabcut.json"
N_CLICKS = 3


def test_llama_first_clicks_match_original_ritm_on_cpu(grabcut_path):
    grabcut = grabcut_path
    if not CHECKPOINT.exists():
        pytest.skip(f"shipped checkpoint not found at {CHECKPOINT}")
    from isegm.data.datasets import GrabCutDataset
    from isegm.inference.evaluation import evaluate_sample
    from isegm.inference.predictors import get_predictor
    from isegm.inference.utils import get_eval_zoom_in_params
    from isegm.model import load_is_model

    reference = json.loads(REFERENCE.read_text())["samples"]["llama"]
    model = load_is_model(str(CHECKPOINT), device="cpu", eval_mode=True)
    predictor = get_predictor(model, "NoBRS", "cpu",
                              zoom_in_params=get_eval_zoom_in_params("cvpr", "GrabCut"))
    dataset = GrabCutDataset(str(grabcut))
    index = [s.name for s in dataset.dataset_samples].index("llama")
    sample = dataset.get_sample(index)

    clicks, ious, _, _ = evaluate_sample(sample.image, sample.gt_mask, predictor, max_iou_thr=1.01,
                                         pred_thr=0.49, max_clicks=N_CLICKS)

    ours_clicks = [[bool(c.is_positive), int(c.coords[0]), int(c.coords[1])] for c in clicks]
    assert ours_clicks == reference["clicks"][:N_CLICKS]
    np.testing.assert_allclose(ious, reference["ious"][:N_CLICKS], rtol=0, atol=1e-4)
