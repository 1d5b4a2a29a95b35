"""A folded inference copy of a backbone, for the optimizer's forward + backward to the input.

While `optimize` runs, the model is in eval mode and its weights need no gradient, so:
- each batch normalization is an affine map and folds into the convolution before it;
- the gradient to a stride-1 convolution's input is itself a convolution (of the output gradient
  with the kernel flipped and its in/out channels swapped), which oneDNN's forward kernels compute
  faster than its backward-data kernels: 1.6x a CIFAR-10 model's step at batch 64. Below
  INPUT_GRAD_MIN_BATCH, PyTorch's own backward was as fast, so small batches keep it.
Values equal the original network's to float32 rounding (tests/test_frozen.py). Training never
sees this copy: it updates the original, and the copy's values are refreshed in place when the
weights change (`refresh`: the adversary sees new weights at every training step, and rebuilding
the copy each time cost more on a GPU than folding saves).
"""
import copy

import torch
from torch import nn
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_conv_bn_weights


class _InputGradConv(torch.autograd.Function):
    """conv2d (stride 1) whose backward computes only the input gradient, as a forward convolution."""

    @staticmethod
    def forward(ctx, x, weight, bias, flipped, padding):
        ctx.save_for_backward(flipped)
        ctx.padding = padding
        return F.conv2d(x, weight, bias, 1, padding)

    @staticmethod
    def backward(ctx, grad):
        (flipped,) = ctx.saved_tensors
        pad = flipped.shape[-1] - 1 - ctx.padding
        grad_x = F.conv2d(grad, flipped.to(grad.dtype), None, 1, pad)
        return grad_x, None, None, None, None


INPUT_GRAD_MIN_BATCH = 8   # measured: no gain at batch 1, 1.15x (photo model) from batch 16


class FoldedConv(nn.Module):
    """A convolution (batch norm folded in) that needs no weight gradient."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        w = conv.weight.detach()
        self.register_buffer("weight", w.contiguous(memory_format=torch.channels_last))
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach())
        self.stride, self.padding, self.dilation, self.groups = conv.stride, conv.padding, conv.dilation, conv.groups
        self.simple = (conv.stride == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
                       and w.shape[-1] == w.shape[-2] and conv.padding[0] == conv.padding[1]
                       and conv.padding_mode == "zeros")
        if self.simple:
            self.register_buffer("flipped", _flipped(w))

    @torch.no_grad()
    def load(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        """New values for the same convolution (folded weights after a training step)."""
        self.weight.copy_(weight)
        if bias is not None:
            self.bias.copy_(bias)
        if self.simple:
            self.flipped.copy_(_flipped(weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.simple and x.shape[0] >= INPUT_GRAD_MIN_BATCH and torch.is_grad_enabled() and x.requires_grad:
            return _InputGradConv.apply(x, self.weight, self.bias, self.flipped, self.padding[0])
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


def _flipped(w: torch.Tensor) -> torch.Tensor:
    return w.flip(-1, -2).transpose(0, 1).contiguous(memory_format=torch.channels_last)


def folded_copy(backbone: nn.Module) -> nn.Module:
    """A deep copy in eval mode with every conv+BN pair folded and every conv a FoldedConv.

    Pairs are found by the layouts' names: `convK` + `bnK` in one module (both ResNet layouts),
    and `Sequential(conv, bn)` (shortcuts / downsample). A batch norm in any other place stays.
    The copy's `folds` maps each FoldedConv's name to its batch norm's (None: none), for `refresh`.
    """
    net = copy.deepcopy(backbone).eval()
    folds = {}
    for path, module in list(net.named_modules()):
        prefix = path + "." if path else ""
        children = dict(module.named_children())
        for name, child in children.items():
            bn_name = "bn" + name[len("conv"):]
            if name.startswith("conv") and isinstance(child, nn.Conv2d) and isinstance(children.get(bn_name), nn.BatchNorm2d):
                setattr(module, name, fuse_conv_bn_eval(child, children[bn_name]))
                setattr(module, bn_name, nn.Identity())
                folds[prefix + name] = prefix + bn_name
        if (isinstance(module, nn.Sequential) and len(module) == 2 and isinstance(module[0], nn.Conv2d)
                and isinstance(module[1], nn.BatchNorm2d)):
            module[0], module[1] = fuse_conv_bn_eval(module[0], module[1]), nn.Identity()
            folds[prefix + "0"] = prefix + "1"
    for path, module in list(net.named_modules()):
        for name, child in module.named_children():
            if type(child) is nn.Conv2d:
                setattr(module, name, FoldedConv(child))
                folds.setdefault(f"{path}.{name}" if path else name, None)
    for p in net.parameters():
        p.requires_grad_(False)
    net.folds = folds
    return net


@torch.no_grad()
def refresh(net: nn.Module, backbone: nn.Module) -> None:
    """Give a folded copy of `backbone` the backbone's current values (same layout, device, dtype)."""
    for path, bn_path in net.folds.items():
        conv = backbone.get_submodule(path)
        weight, bias = conv.weight, conv.bias
        if bn_path is not None:
            bn = backbone.get_submodule(bn_path)
            weight, bias = fuse_conv_bn_weights(weight, bias, bn.running_mean, bn.running_var, bn.eps,
                                                bn.weight, bn.bias)
        net.get_submodule(path).load(weight, bias)
    folded = tuple(path + "." for path in net.folds)
    for name, value in [*net.named_parameters(), *net.named_buffers()]:
        if not name.startswith(folded):   # what was not folded: the classifier, any other layer
            source = backbone.get_parameter(name) if isinstance(value, nn.Parameter) else backbone.get_buffer(name)
            value.copy_(source)
