"""Mask refinement training (issue 9, "Fusing Forces"): dataset items carry an initial mask and its
corrective strokes, the trainer predicts once from that previous mask, the recipe field builds it."""
import numpy as np
import pytest
import torch
from test_trainer_icl import H, W, _FakeModel

from isegm.data.datasets import get_dataset
from isegm.engine.recipe import build_losses, build_refinement, replace
from isegm.engine.trainer import ISTrainer, TrainerSettings
from isegm.inference.correction import CorrectionSimulator


def _images_dir(tmp_path, n=3):
    import cv2

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        cv2.imwrite(str(tmp_path / "images" / f"{i}.png"), rng.integers(0, 255, (64, 80, 3), dtype=np.uint8))
        mask = np.zeros((64, 80), np.uint8)
        mask[10 + i:50, 15:60 - i] = 255
        cv2.imwrite(str(tmp_path / "masks" / f"{i}.png"), mask)
    return tmp_path


def test_refinement_items_carry_an_initial_mask_and_stroke_clicks(tmp_path):
    data = get_dataset("ImagesDir", _images_dir(tmp_path), refinement=CorrectionSimulator(max_points=12))
    data.set_item_seeding(0)
    item = data[1]
    assert item["prev_masks"].shape == (1, 64, 80) and item["points"].shape == (24, 3)
    gt = item["instances"][0].numpy() > 0.5
    prev = item["prev_masks"][0].numpy() > 0.5
    assert prev.any() and not np.array_equal(prev, gt)          # a wrong initial mask to correct
    rows = item["points"].numpy()
    assert (rows[:, 0] >= 0).any()
    for y, x, _ in rows[:12]:                                    # add-stroke clicks lie on the object
        assert y < 0 or gt[int(y), int(x)]
    again = data[1]
    assert torch.equal(again["prev_masks"], item["prev_masks"]) and torch.equal(again["points"], item["points"])
    plain = get_dataset("ImagesDir", tmp_path)
    assert "prev_masks" not in plain[0]


def test_trainer_predicts_once_from_the_given_previous_mask():
    from models.base import COCOMVAL_CPU

    model = _FakeModel()
    settings = TrainerSettings(batch_size=2, workers=0, max_num_next_clicks=3)
    data = [{"images": torch.zeros(3, H, W), "points": torch.full((4, 3), -1.0), "instances": torch.zeros(1, H, W)}
            for _ in range(2)]
    trainer = ISTrainer(model, data, None, build_losses(COCOMVAL_CPU), settings, exp=None, device="cpu")
    prev = torch.zeros(2, 1, H, W)
    prev[:, :, 4:12, 4:12] = 1.0
    batch = {"images": torch.rand(2, 3, H, W), "points": torch.full((2, 4, 3), -1.0),
             "instances": torch.zeros(2, 1, H, W), "prev_masks": prev}
    rngs = (np.random.default_rng(0), [np.random.default_rng(1), np.random.default_rng(2)])
    trainer.batch_forward(batch, rngs=rngs)
    assert len(model.calls) == 1                                # no IT-M clicks before the pass
    assert torch.equal(model.calls[0]["input"][:, 3:], prev)    # the initial mask is the previous mask
    model.with_prev_mask = False
    with pytest.raises(ValueError, match="previous-mask input"):
        trainer.batch_forward(batch, rngs=rngs)


def test_recipe_refinement_field():
    from models.base import COCOMVAL_CPU

    sim = build_refinement(replace(COCOMVAL_CPU, refinement={"max_strokes": 2}))
    assert isinstance(sim, CorrectionSimulator) and sim.max_strokes == 2 and sim.max_points == COCOMVAL_CPU.num_max_points
    assert build_refinement(COCOMVAL_CPU) is None
    with pytest.raises(ValueError, match="unknown field"):
        replace(COCOMVAL_CPU, refinement={"max_stroke": 2})
    with pytest.raises(ValueError, match="icl_weights"):
        replace(COCOMVAL_CPU, refinement={}, icl_weights=(1, 2, 3), max_num_next_clicks=3)


def test_initial_masks_from_a_click_model(tmp_path):
    """With initial_model_prob 1 every item starts from the click model's mask after its simulated clicks."""
    from pathlib import Path

    from models.base import COCOMVAL_CPU

    shipped = Path(__file__).resolve().parents[2] / "weights" / "hrnet18s_cocomval_itermask.pth"
    if not shipped.is_file():
        pytest.skip(f"needs the shipped checkpoint {shipped}")
    recipe = replace(COCOMVAL_CPU, refinement={"initial_model": str(shipped), "initial_model_prob": 1.0,
                                                "initial_model_clicks": (1, 1), "max_points": 12})
    sim = build_refinement(recipe)
    data = get_dataset("ImagesDir", _images_dir(tmp_path), refinement=sim)
    data.set_item_seeding(0)
    item = data[1]
    gt = item["instances"][0].numpy() > 0.5
    # the model's mask after one click at RITM's first click (the object's deepest pixel), on the item's crop
    from isegm.inference.clicker import Clicker

    image = (item["images"].numpy().transpose(1, 2, 0) * 255).round().astype(np.uint8)
    clicker = Clicker(gt_mask=gt.astype(np.int32))
    clicker.make_next_click(np.zeros_like(gt))
    predictor = sim.initial_model.predictor
    predictor.set_input_image(image)
    expected = predictor.get_prediction(clicker) > 0.49
    np.testing.assert_array_equal(item["prev_masks"][0].numpy() > 0.5, expected)
    again = data[1]
    assert torch.equal(again["prev_masks"], item["prev_masks"]) and torch.equal(again["points"], item["points"])


def test_initial_model_settings_are_checked():
    from models.base import COCOMVAL_CPU

    with pytest.raises(ValueError, match="needs initial_model"):
        replace(COCOMVAL_CPU, refinement={"initial_model_prob": 0.5})
    with pytest.raises(ValueError, match="1 <= lo <= hi"):
        replace(COCOMVAL_CPU, refinement={"initial_model": "x.pth", "initial_model_clicks": (3, 1)})
    recipe = replace(COCOMVAL_CPU, refinement={"initial_model": "missing/click.pth", "initial_model_prob": 0.5})
    with pytest.raises(ValueError, match="missing/click.pth: no such checkpoint"):
        build_refinement(recipe)
    with pytest.raises(ValueError, match="needs the item's image"):
        CorrectionSimulator(initial_model=lambda *a: None, initial_model_prob=1.0)(np.ones((8, 8)), np.random.default_rng(0))
    # probability 0: the simulator draws what it draws without a model (no extra coin)
    mask = np.zeros((40, 40), np.float32)
    mask[10:30, 8:25] = 1
    a = CorrectionSimulator()(mask, np.random.default_rng(3))
    b = CorrectionSimulator(initial_model=lambda *a: None, initial_model_prob=0.0)(mask, np.random.default_rng(3))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
