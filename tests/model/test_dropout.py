"""SampleDropout: per-sample masks inside per_sample_dropout, torch's dropout outside it."""
import pytest
import torch

from isegm.model.modeling.dropout import SampleDropout, per_sample_dropout


@pytest.mark.parametrize("channelwise", [False, True])
def test_a_samples_mask_depends_on_its_seed_not_on_its_batch(channelwise):
    layer = SampleDropout(0.5, channelwise=channelwise).train()
    x = torch.ones(4, 6, 5, 5)
    with per_sample_dropout([11, 12, 13, 14]):
        whole = layer(x)
    with per_sample_dropout([13, 14]):
        half = layer(x[2:])
    assert torch.equal(whole[2:], half)
    assert set(whole.unique().tolist()) <= {0.0, 2.0}          # kept values scaled by 1 / (1 - p)
    if channelwise:
        assert (whole.amax(dim=(2, 3)) == whole.amin(dim=(2, 3))).all()   # whole channels dropped
    with per_sample_dropout([21, 22, 13, 14]):           # other seeds, other masks; same seeds, same
        again = layer(x)
    assert not torch.equal(again[:2], whole[:2]) and torch.equal(again[2:], half)


def test_eval_mode_and_outside_the_block_are_torchs_dropout():
    layer = SampleDropout(0.3, channelwise=True)
    x = torch.randn(2, 3, 4, 4)
    assert torch.equal(layer.eval()(x), x)
    layer.train()
    torch.manual_seed(0)
    ours = layer(x)
    torch.manual_seed(0)
    assert torch.equal(ours, torch.nn.functional.dropout2d(x, 0.3, True))
    with per_sample_dropout([1]), pytest.raises(ValueError, match="1 seeds for a batch of 2"):
        layer(x)
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        SampleDropout(1.0)
