"""SAM adapter: prompt geometry, mask feedback, first-click multimask choice, undo, variant checks, NoC loop.

The SAM is built from the package's modules with a tiny random image encoder (no weights exist here)."""
from functools import partial

import numpy as np
import pytest
import torch

pytest.importorskip("segment_anything")

from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer  # noqa: E402

from isegm.errors import UserError  # noqa: E402
from isegm.geometry import Click  # noqa: E402
from isegm.inference.clicker import Clicker  # noqa: E402
from isegm.inference.evaluation import evaluate_sample  # noqa: E402
from isegm.inference.predictors.sam import SAM_VARIANTS, SamClickPredictor, detect_sam_variant, load_sam  # noqa: E402

IMG_SIZE = 64  # encoder input side; embedding 4 x 4, low-res masks 16 x 16


def tiny_sam(seed: int = 0, embed_dim: int = 32) -> Sam:
    torch.manual_seed(seed)
    dim = 32
    sam = Sam(
        image_encoder=ImageEncoderViT(img_size=IMG_SIZE, patch_size=16, embed_dim=embed_dim, depth=1, num_heads=2,
                                      out_chans=dim, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6)),
        prompt_encoder=PromptEncoder(embed_dim=dim, image_embedding_size=(IMG_SIZE // 16, IMG_SIZE // 16),
                                     input_image_size=(IMG_SIZE, IMG_SIZE), mask_in_chans=4),
        mask_decoder=MaskDecoder(num_multimask_outputs=3, transformer=TwoWayTransformer(
            depth=1, embedding_dim=dim, mlp_dim=64, num_heads=2), transformer_dim=dim, iou_head_depth=2,
            iou_head_hidden_dim=32),
        pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375])
    return sam.eval()


def _image(h=40, w=50, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _clicker(shape, *clicks):
    clicker = Clicker(image_shape=shape)
    for y, x, pos in clicks:
        clicker.add_click(Click(y, x, pos))
    return clicker


class _Capture:
    """Records what reaches the prompt encoder and the mask decoder."""

    def __init__(self, sam, monkeypatch):
        self.calls = []
        encoder_forward = sam.prompt_encoder.forward
        decoder_forward = sam.mask_decoder.forward

        def prompt(points, boxes, masks):
            self.calls.append({"points": None if points is None else (points[0].clone(), points[1].clone()),
                               "masks": None if masks is None else masks.clone()})
            return encoder_forward(points, boxes, masks)

        def decode(**kwargs):
            self.calls[-1]["multimask"] = kwargs["multimask_output"]
            return decoder_forward(**kwargs)

        monkeypatch.setattr(sam.prompt_encoder, "forward", prompt)
        monkeypatch.setattr(sam.mask_decoder, "forward", decode)


def test_click_reaches_the_prompt_encoder_as_xy_in_the_resized_frame(monkeypatch):
    sam = tiny_sam()
    capture = _Capture(sam, monkeypatch)
    h, w = 40, 50  # longest side 50 -> 64: resized to (51, 64) (SAM rounds the short side)
    predictor = SamClickPredictor(sam)
    predictor.set_input_image(_image(h, w))
    probs = predictor.get_prediction(_clicker((h, w), (10, 30, True)))
    assert probs.shape == (h, w) and probs.dtype == np.float32 and 0 <= probs.min() and probs.max() <= 1
    coords, labels = capture.calls[-1]["points"]
    new_h, new_w = int(h * IMG_SIZE / w + 0.5), IMG_SIZE
    np.testing.assert_allclose(coords[0, 0].numpy(), [30 * new_w / w, 10 * new_h / h], rtol=1e-6)
    assert labels.tolist() == [[1]]

    predictor.get_prediction(_clicker((h, w), (10, 30, True), (35, 5, False)))
    coords, labels = capture.calls[-1]["points"]
    np.testing.assert_allclose(coords[0, 1].numpy(), [5 * new_w / w, 35 * new_h / h], rtol=1e-6)
    assert labels.tolist() == [[1, 0]]


def test_first_click_multimask_by_score_later_clicks_feed_back_the_logits(monkeypatch):
    sam = tiny_sam(seed=1)
    capture = _Capture(sam, monkeypatch)
    predictor = SamClickPredictor(sam)
    image = _image()
    predictor.set_input_image(image)
    first = predictor.get_prediction(_clicker((40, 50), (20, 20, True)))
    assert capture.calls[-1]["multimask"] is True and capture.calls[-1]["masks"] is None

    # the kept mask is the one of highest predicted IoU among SAM's three
    masks, scores, low = predictor.sam_predictor.predict(point_coords=np.array([[20.0, 20.0]]),
                                                         point_labels=np.array([1]), multimask_output=True,
                                                         return_logits=True)
    best = int(np.argmax(scores))
    np.testing.assert_allclose(first, 1 / (1 + np.exp(-masks[best])), rtol=1e-5, atol=1e-6)
    kept = predictor.low_res_logits
    np.testing.assert_array_equal(kept, low[best:best + 1])
    assert kept.shape == (1, 4 * IMG_SIZE // 16, 4 * IMG_SIZE // 16)

    predictor.get_prediction(_clicker((40, 50), (20, 20, True), (5, 45, False)))
    assert capture.calls[-1]["multimask"] is False
    torch.testing.assert_close(capture.calls[-1]["masks"], torch.from_numpy(kept)[None])


def test_undo_restores_the_fed_back_mask():
    predictor = SamClickPredictor(tiny_sam(seed=2))
    predictor.set_input_image(_image())
    one = _clicker((40, 50), (20, 25, True))
    two = _clicker((40, 50), (20, 25, True), (30, 10, False))
    three = _clicker((40, 50), (20, 25, True), (30, 10, False), (8, 40, True))
    predictor.get_prediction(one)
    predictor.get_prediction(two)
    states = predictor.get_states()
    expected = predictor.get_prediction(three)
    predictor.get_prediction(_clicker((40, 50), (20, 25, True), (30, 10, False), (2, 2, False)))  # another branch
    assert not np.array_equal(predictor.low_res_logits, states["low_res_logits"])
    predictor.set_states(states)
    np.testing.assert_array_equal(predictor.get_prediction(three), expected)


def test_new_image_resets_the_feedback():
    predictor = SamClickPredictor(tiny_sam())
    predictor.set_input_image(_image())
    predictor.get_prediction(_clicker((40, 50), (20, 25, True)))
    predictor.set_input_image(_image(seed=3))
    assert predictor.low_res_logits is None


def test_external_prev_mask_becomes_the_mask_input(monkeypatch):
    sam = tiny_sam()
    capture = _Capture(sam, monkeypatch)
    predictor = SamClickPredictor(sam)
    predictor.set_input_image(_image(32, 64))   # resized to (32, 64): the lower half of the square is padding
    prev = np.zeros((32, 64), np.float32)
    prev[:, 32:] = 1.0
    predictor.get_prediction(_clicker((32, 64), (10, 40, True)), prev_mask=prev)
    mask = capture.calls[-1]["masks"][0, 0]
    assert mask.shape == (16, 16)
    assert mask[:8, 12:].min() > 5 and mask[:8, :4].max() < -5 and mask[10:].max() < -5


def test_evaluate_sample_runs_a_few_clicks():
    gt = np.zeros((40, 50), np.int32)
    gt[10:30, 15:40] = 1
    predictor = SamClickPredictor(tiny_sam())
    clicks, ious, probs, times = evaluate_sample(_image(), gt, predictor, max_iou_thr=1.01, max_clicks=4)
    assert len(clicks) == len(ious) == len(times) == 4 and probs.shape == gt.shape
    assert np.all((ious >= 0) & (ious <= 1))


def test_variant_detection_and_wrong_variant_error(tmp_path):
    state = {"image_encoder.patch_embed.proj.weight": torch.zeros(SAM_VARIANTS["vit_l"], 3, 1, 1)}
    assert detect_sam_variant(state) == "vit_l"
    path = tmp_path / "sam_vit_l.pth"
    torch.save(state, path)
    with pytest.raises(UserError) as info:
        load_sam(path, "vit_b")
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "vit_l" in message and "vit_b" in message


@pytest.mark.parametrize("content", [b"not a checkpoint", None])
def test_bad_checkpoint_files(tmp_path, content):
    path = tmp_path / "x.pth"
    if content is None:
        torch.save({"model": torch.zeros(1)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(UserError, match=str(path)):
        load_sam(path, "vit_b")
    with pytest.raises(UserError, match="no such file"):
        load_sam(tmp_path / "missing.pth", "vit_b")
    with pytest.raises(UserError, match="vit_b, vit_l, vit_h"):
        load_sam(path, "vit_x")


def test_load_sam_builds_and_loads(tmp_path, monkeypatch):
    import isegm.inference.predictors.sam as sam_module

    monkeypatch.setitem(sam_module.SAM_VARIANTS, "tiny", 48)
    reference = tiny_sam(seed=4, embed_dim=48)
    path = tmp_path / "tiny.pth"
    torch.save(reference.state_dict(), path)
    model = load_sam(path, "tiny", builders={"tiny": lambda: tiny_sam(seed=9, embed_dim=48)})
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)
