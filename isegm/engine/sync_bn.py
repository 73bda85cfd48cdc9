"""Batch normalisation over the global batch of a torch.distributed run.

With plain BatchNorm every process normalises with the statistics of its own share of the batch, so
``torchrun --nproc_per_node W`` with a global batch ``B`` computes something else than one process with
batch ``B``. Synchronised BatchNorm takes the mean and variance over all ``B`` samples, so the two agree up
to float round-off. On CUDA this is :class:`torch.nn.SyncBatchNorm`; PyTorch's module refuses CPU tensors,
so on the CPU (gloo backend: tests, debugging without a GPU) :class:`GlobalBatchNorm2d` does the same
with two differentiable all-reduces.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn as nn


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose training-mode statistics are taken over every process's batch.

    Input ``(N, C, H, W)`` float. In training mode, each process sums ``x`` per channel; the sums and the
    element count are all-reduced (``torch.distributed.nn.functional.all_reduce``, which
    carries the gradient back to every process); mean = S1/n, then the biased variance from the all-reduced
    sum of squared deviations (two passes, float64 sums, as PyTorch's own kernels); running statistics
    are updated as ``nn.BatchNorm2d`` does (unbiased variance, ``momentum``). Eval mode, or no initialised
    process group, is exactly ``nn.BatchNorm2d``. State-dict keys are those of ``nn.BatchNorm2d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        xf = x.float()
        c = x.shape[1]
        # two passes (mean, then squared deviations), as PyTorch's kernels: no cancellation in E[x^2] - E[x]^2
        count = torch.tensor([xf.numel() / c], dtype=torch.float64, device=xf.device)
        stats = _sum_over_processes(torch.cat((xf.sum(dim=(0, 2, 3), dtype=torch.float64), count)))
        n = stats[-1]
        mean = (stats[:c] / n).float()
        centered = xf - mean[None, :, None, None]
        sq = _sum_over_processes((centered * centered).sum(dim=(0, 2, 3), dtype=torch.float64))
        var = (sq / n).float()
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
                n = float(n)
                unbiased = var.detach() * (n / max(n - 1, 1.0))
                self.running_mean.mul_(1 - factor).add_(factor * mean.detach().to(self.running_mean.dtype))
                self.running_var.mul_(1 - factor).add_(factor * unbiased.to(self.running_var.dtype))
        out = centered * torch.rsqrt(var[None, :, None, None] + self.eps)
        if self.affine:
            out = out * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return out.to(x.dtype)


def _sum_over_processes(t: torch.Tensor) -> torch.Tensor:
    """Differentiable all-reduce (sum); its backward sums the gradients over the processes."""
    import warnings

    from torch.distributed.nn.functional import all_reduce
    with warnings.catch_warnings():   # deprecated in favour of a private API, but the public differentiable one
        warnings.simplefilter("ignore", FutureWarning)
        return all_reduce(t, op=dist.ReduceOp.SUM)


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Return ``module`` with every ``nn.BatchNorm2d`` synchronised over the process group.

    CUDA: :meth:`torch.nn.SyncBatchNorm.convert_sync_batchnorm` (PyTorch's fused kernels). CPU:
    :class:`GlobalBatchNorm2d` in place of each ``nn.BatchNorm2d`` (weights, buffers and the
    ``requires_grad`` flags are kept). Other norm layers are left alone.
    """
    if torch.device(device).type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _replace_bn(module)


def _replace_bn(module: nn.Module) -> nn.Module:
    if type(module) is nn.BatchNorm2d:
        new = GlobalBatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                                module.track_running_stats)
        new.load_state_dict(module.state_dict())
        if module.affine:
            new.weight.requires_grad_(module.weight.requires_grad)
            new.bias.requires_grad_(module.bias.requires_grad)
        new.train(module.training)
        return new.to(device=module.weight.device if module.affine else None)
    for name, child in module.named_children():
        replaced = _replace_bn(child)
        if replaced is not child:
            setattr(module, name, replaced)
    return module


__all__ = ["GlobalBatchNorm2d", "convert_sync_batchnorm"]
