"""The pretext tasks the rows pretrain with, by name: a pretext is one module here (see
`base`) and one entry below."""

from __future__ import annotations

from course.experiments.pretexts import context, jigsaw, rotation, simclr
from course.experiments.pretexts.base import Pretext, Pretrained

PRETEXTS: dict[str, Pretext] = {
    module.PRETEXT.name: module.PRETEXT for module in (rotation, context, jigsaw, simclr)
}

__all__ = ["PRETEXTS", "Pretext", "Pretrained"]
