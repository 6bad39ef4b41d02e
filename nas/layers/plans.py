"""The blocks' shape rules (plans), by their former names: each lives in its block's torch-free
module now (``nas.blocks.dense``, ``fire``, ``inception``, ``dynamic_conv``), with its checks
and its scaling rule. ``PLANS`` looks an Inception module's plan up by block name.
"""

from __future__ import annotations

from nas.blocks.dense import DEFAULT_BOTTLENECK as DEFAULT_BOTTLENECK
from nas.blocks.dense import DENSE_EXTRAS as DENSE_EXTRAS
from nas.blocks.dense import DenseWidths as DenseWidths
from nas.blocks.dense import dense_widths as dense_widths
from nas.blocks.dynamic_conv import DEFAULT_KERNELS as DEFAULT_KERNELS
from nas.blocks.dynamic_conv import DYNAMIC_EXTRAS as DYNAMIC_EXTRAS
from nas.blocks.dynamic_conv import dynamic_options as dynamic_options
from nas.blocks.fire import FIRE_EXTRAS as FIRE_EXTRAS
from nas.blocks.fire import SQUEEZE_RATIO as SQUEEZE_RATIO
from nas.blocks.fire import FireWidths as FireWidths
from nas.blocks.fire import fire_widths as fire_widths
from nas.blocks.inception import INCEPTION_EXTRAS as INCEPTION_EXTRAS
from nas.blocks.inception import PLANS as PLANS
from nas.blocks.inception import Conv as Conv
from nas.blocks.inception import Plan as Plan
from nas.blocks.inception import split as split
