"""isegm.model.torch_file: the one safe reader of .pth files (checkpoints, ImageNet weights)."""
import pytest
import torch

from isegm.model.torch_file import CheckpointError, read_torch_file


class _NotPlainData:
    pass


def test_reads_tensors_and_refuses_what_is_not_a_plain_torch_file(tmp_path):
    good = tmp_path / "good.pth"
    torch.save({"w": torch.arange(3)}, good)
    assert torch.equal(read_torch_file(good)["w"], torch.arange(3))
    (tmp_path / "text.pth").write_text("not a checkpoint")
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "cut.pth").write_bytes(good.read_bytes()[:200])
    torch.save({"obj": _NotPlainData()}, tmp_path / "code.pth")
    for name, needle in (("text.pth", "not a PyTorch checkpoint"), ("empty.pth", "empty file"),
                         ("cut.pth", "truncated or damaged"), ("code.pth", "refused to unpickle")):
        with pytest.raises(CheckpointError, match=needle) as info:
            read_torch_file(tmp_path / name)
        assert name in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        read_torch_file(tmp_path / "missing.pth")
    with pytest.raises(IsADirectoryError):
        read_torch_file(tmp_path)


def test_pretrained_weights_go_through_the_same_reader(tmp_path):
    from isegm.model.modeling.pretrained import load_pretrained_state

    (tmp_path / "weights.pth").write_text("html error page")
    with pytest.raises(CheckpointError, match="weights.pth: not a PyTorch checkpoint"):
        load_pretrained_state(torch.nn.Linear(2, 2), tmp_path / "weights.pth")
