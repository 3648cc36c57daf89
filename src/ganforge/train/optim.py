"""Optimisers by name, each with its Keras-style learning-rate decay and gradient-value clipping."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from ..config import OptimConfig
from ..registry import OPTIMIZERS


def _adam(params: list[nn.Parameter], o: OptimConfig) -> torch.optim.Optimizer:
    """Adam, fused into one kernel a step where the weights are on a GPU (foreach on the CPU)."""
    fused = bool(params) and all(p.is_cuda for p in params)
    return torch.optim.Adam(params, lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps, fused=fused or None)


OPTIMIZERS.register("adam", _adam)
OPTIMIZERS.register("rmsprop", lambda params, o: torch.optim.RMSprop(params, lr=o.lr, alpha=o.rho, eps=o.eps))


def set_value(group: dict, key: str, value: float) -> None:
    """Set a hyperparameter of a parameter group: in place where it is a tensor (a CUDA graph reads it)."""
    if isinstance(group[key], torch.Tensor):
        group[key].fill_(value)
    else:
        group[key] = value


class NetOptimizer:
    """One network's optimiser, its inverse-time learning-rate decay (Keras `decay`; identity when
    `lr_decay` is 0) and gradient clipping (Keras `clipvalue`)."""

    def __init__(
        self, net: nn.Module, o: OptimConfig, lazy_ratio: float = 1.0, scaler: torch.amp.GradScaler | None = None
    ):
        """`lazy_ratio` < 1 (lazy regularisation phases) scales the learning rate and raises the momentum
        factors to that power, as StyleGAN2 does, so the extra steps leave the dynamics as they were."""
        self.params = list(net.parameters())
        self.scaler = scaler if scaler is not None else torch.amp.GradScaler("cpu", enabled=False)
        self.clip_value = o.clip_value
        self.graphed = False
        if lazy_ratio != 1.0:
            r = lazy_ratio
            o = replace(o, lr=o.lr * r, beta1=o.beta1**r, beta2=o.beta2**r, rho=o.rho**r)
        self.optimizer = OPTIMIZERS.get(o.name)(self.params, o)
        decay = self.decay = o.lr_decay
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: 1.0 / (1.0 + decay * step))

    def capturable(self, on: bool) -> None:
        """Whether the optimiser's step may be captured in a CUDA graph (a checkpoint may say otherwise). In
        a graph the learning rate is a tensor on the device, written in place by the schedules, and the
        decay advances outside the graph (`advance`); a checkpoint keeps it as a number."""
        self.graphed = on
        for group in self.optimizer.param_groups:
            group["capturable"] = on
            lr = float(group["lr"])
            group["lr"] = torch.tensor(lr, device=self.params[0].device) if on and self.params else lr

    def state_dict(self) -> dict:
        """The optimiser's state with plain-number learning rates, whatever the step ran in."""
        state = self.optimizer.state_dict()
        for group in state["param_groups"]:
            group["lr"] = float(group["lr"])
        return state

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def backward(self, loss: torch.Tensor) -> None:
        """Gradients of `loss`, scaled when the run's precision needs it (fp16)."""
        self.scaler.scale(loss).backward()

    def step(self, measure: bool = False) -> torch.Tensor | None:
        """Unscale, clip, step, advance the schedule; with `measure`, returns the gradients' total norm
        before clipping (on the device). An fp16 step whose gradients overflowed is skipped by the scaler."""
        scaled = self.scaler.is_enabled()
        if scaled:
            self.scaler.unscale_(self.optimizer)
        norm = nn.utils.get_total_norm([p.grad for p in self.params if p.grad is not None]) if measure else None
        if self.clip_value > 0:
            nn.utils.clip_grad_value_(self.params, self.clip_value)
        if scaled:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        if self.decay and not self.graphed:
            self.schedule.step()
        return norm

    def advance(self) -> None:
        """After a step replayed as a CUDA graph: the decay's step, which the graph cannot take, written
        into the tensors the graph reads (a scheduler of an older torch puts a number in their place)."""
        if self.decay and self.graphed:
            tensors = [group["lr"] for group in self.optimizer.param_groups]
            self.schedule.step()
            for group, lr in zip(self.optimizer.param_groups, tensors, strict=True):
                if group["lr"] is not lr:
                    lr.fill_(float(group["lr"]))
                    group["lr"] = lr
