"""Network building blocks: LayerNorm+SiLU MLPs and a small CNN encoder/decoder (DreamerV3)."""
from __future__ import annotations

import torch
from torch import nn


def mlp(inp: int, units: int, layers: int, out: int | None = None) -> nn.Sequential:
    """``layers`` × (Linear → LayerNorm → SiLU), then an optional linear output layer."""
    mods: list[nn.Module] = []
    d = inp
    for _ in range(layers):
        mods += [nn.Linear(d, units, bias=False), nn.LayerNorm(units), nn.SiLU()]
        d = units
    if out is not None:
        mods.append(nn.Linear(d, out))
    return nn.Sequential(*mods)


def set_layer_norm_eps(module: nn.Module, eps: float) -> None:
    """Give every LayerNorm inside ``module`` the epsilon ``eps`` (the authors' networks use 1e-3)."""
    for m in module.modules():
        if isinstance(m, nn.LayerNorm):
            m.eps = eps


def dreamerv3_init(module: nn.Module, output_scales: dict[nn.Module, float],
                   fan_in_of: dict[nn.Module, int] | None = None) -> None:
    """DreamerV3's initialisation, as in the authors' code: every linear/conv weight truncated-normal
    (std = √(1/fan_avg)/0.8796, cut at ±2 std), the output layers in ``output_scales`` uniform with
    limit √(3·scale/fan_avg) (scale 0: zeros), biases 0. fan_avg = (fan_in + fan_out)/2.

    ``fan_in_of`` gives the fan-in of a layer that is one part of a layer split in two (the RSSM's input and
    posterior layers, split so a part can be computed ahead): the authors' layer is unsplit, so its fan-in
    is the sum of the parts' and each part is initialised as that whole layer would be."""
    fan_in_of = fan_in_of or {}

    def fan_avg(m: nn.Module) -> float:
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(m.weight)
        return (fan_in_of.get(m, fan_in) + fan_out) / 2

    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                std = (1.0 / fan_avg(m)) ** 0.5 / 0.87962566103423978
                nn.init.trunc_normal_(m.weight, 0.0, std, -2 * std, 2 * std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for m, scale in output_scales.items():
            limit = (3.0 * scale / fan_avg(m)) ** 0.5
            nn.init.uniform_(m.weight, -limit, limit)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def zero_init_last(module: nn.Sequential) -> nn.Sequential:
    """Zero the output layer (DreamerV3 initialises reward and critic heads to predict 0)."""
    last = module[-1]
    nn.init.zeros_(last.weight)
    if last.bias is not None:
        nn.init.zeros_(last.bias)
    return module


class ConvEncoder(nn.Module):
    """64×64 (or 84×84, resized) uint8 images → a flat embedding. Four stride-2 convolutions."""

    def __init__(self, channels: int = 3, depth: int = 32, size: int = 64) -> None:
        super().__init__()
        layers, c = [], channels
        for i in range(4):
            layers += [nn.Conv2d(c, depth * 2 ** i, 4, 2, 1), nn.GroupNorm(1, depth * 2 ** i), nn.SiLU()]
            c = depth * 2 ** i
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.size = size
        self.out_dim = c * (size // 16) ** 2

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        lead = image.shape[:-3]
        x = image.reshape(-1, *image.shape[-3:]).permute(0, 3, 1, 2).float() / 255.0 - 0.5
        if x.shape[-1] != self.size:
            x = nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.net(x).reshape(*lead, -1)


class ConvDecoder(nn.Module):
    """Features → image mean in [-0.5, 0.5] (size × size × channels); MSE loss."""

    def __init__(self, feat: int, channels: int = 3, depth: int = 32, size: int = 64) -> None:
        super().__init__()
        self.size, self.channels, self.depth = size, channels, depth
        self.fc = nn.Linear(feat, depth * 8 * (size // 16) ** 2)
        layers, c = [], depth * 8
        for i in reversed(range(3)):
            layers += [nn.ConvTranspose2d(c, depth * 2 ** i, 4, 2, 1), nn.GroupNorm(1, depth * 2 ** i), nn.SiLU()]
            c = depth * 2 ** i
        layers.append(nn.ConvTranspose2d(c, channels, 4, 2, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        lead = feat.shape[:-1]
        s = self.size // 16
        x = self.fc(feat.reshape(-1, feat.shape[-1])).reshape(-1, self.depth * 8, s, s)
        return self.net(x).permute(0, 2, 3, 1).reshape(*lead, self.size, self.size, self.channels)
