"""`warp_parts`: which part of the learned motion costs pixels (synthetic data only).

A deformed image can miss the truth because the warp moves where nothing should, moves
too far, or moves the wrong way; `flow_error` measures the flow, this metric measures
what each of those costs in the image. Each entry warps the input by a flow made of
parts of the model's flow and of the true one, and reports its L1 against the true
render in the changed region (as `ground_truth`'s `changed_l1`):

- `learned`: the model's flow (its deformed image, before the texture branch);
- `half`: half the model's flow. Below `learned` means the warp overshoots;
- `where_true_moves`: the model's flow kept only where the truth moves (more than
  `MOVED_PX`); its gap to `learned` is the cost of motion where nothing should move;
- `true_length`: the model's directions with the true lengths (the cost of wrong lengths);
- `true_direction`: the true directions with the model's lengths (the cost of wrong
  directions);
- `true_warp_textured` (when the model's texture branch can run alone, i.e. a run
  directory): the input warped by the true flow, then painted by the model's texture
  branch. What it leaves wrong is the texture branch's share of the error; against the
  true warp alone (the `true_warp` baseline) it shows what the branch adds.

With the independent AU regressor (`--au-regressor`) each entry also gets the AU error
of its image (`au_mae`): a warp that moves farther than the truth can read closer to the
target AUs, standing in for texture it cannot make (docs/tuning.md, "Why AU error and
pixels pull apart", reads both for configs/synthetic.yaml). When the model has its
critic's AU head (`Backend.has_au_estimator`) each entry also gets the error that head
reads (`critic_au_mae`): the head is what the generators were trained to satisfy, so where
it reads `learned` closer to the targets than `where_true_moves` the training losses
pay for the motion outside the moved pixels (docs/tuning.md, "Fourteenth round").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from defgan_tf.metrics.au_error import BatchedReader
from defgan_tf.metrics.edit_set import EditSet
from defgan_tf.metrics.flow_error import MOVED_PX
from defgan_tf.metrics.ground_truth import changed_pixels, masked_l1
from defgan_tf.metrics.registry import Metric, MetricOptions, MetricUnavailableError, register

if TYPE_CHECKING:
    from defgan_tf.metrics.au_regressor import AURegressor


def _direction_and_length(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors (zero where the flow is zero) and lengths, (N, S, S, 2) and (N, S, S, 1)."""
    length = np.linalg.norm(flow, axis=-1, keepdims=True)
    direction = np.divide(flow, length, out=np.zeros_like(flow), where=length > 0)
    return direction, length


def mixed_flows(flow: np.ndarray, true_flow: np.ndarray) -> dict[str, np.ndarray]:
    """The flows of the module docstring, by name; each (N, S, S, 2) float32."""
    flow = flow.astype(np.float32)
    direction, length = _direction_and_length(flow)
    true_direction, true_length = _direction_and_length(true_flow.astype(np.float32))
    moved = true_length > MOVED_PX
    return {"learned": flow, "half": 0.5 * flow, "where_true_moves": flow * moved,
            "true_length": direction * true_length, "true_direction": true_direction * length}


@register
class WarpParts(Metric):
    """Changed-region L1 (and AU errors) of the input warped by mixes of learned and true flow.

    Args:
        regressor: the independent AU regressor, or None.
        critic: the model's own AU reading, (B, S, S, 3) → (B, 17), or None.
    """

    name = "warp_parts"
    needs_ground_truth = True

    def __init__(self, regressor: AURegressor | None = None,
                 critic: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        self.readers = {"au_mae": regressor,
                        "critic_au_mae": BatchedReader(critic) if critic is not None else None}

    @classmethod
    def from_options(cls, options: MetricOptions) -> WarpParts:
        regressor = None
        if options.au_regressor is not None:
            from defgan_tf.metrics.au_regressor import load_au_regressor

            regressor = load_au_regressor(options.au_regressor)
        return cls(regressor, options.critic)

    def __call__(self, edits: EditSet) -> dict[str, Any]:
        """Returns {"changed_l1": {flow name: L1}} and, per AU reader given, its MAE alike."""
        if edits.targets is None or edits.true_flow is None:
            raise MetricUnavailableError("warp_parts needs synthetic data (true renders and "
                                         "flows).")
        changed = changed_pixels(edits.inputs, edits.targets)
        warped = {name: edits.warp_inputs(flow)
                  for name, flow in mixed_flows(edits.flow, edits.true_flow).items()}
        if edits.textured_true_warp is not None:
            warped["true_warp_textured"] = edits.textured_true_warp
        result = {"changed_l1": {name: masked_l1(images, edits.targets, changed)
                                 for name, images in warped.items()}}
        for key, reader in self.readers.items():
            if reader is not None:
                result[key] = {
                    name: float(np.abs(reader.predict(images) - edits.target_aus).mean())
                    for name, images in warped.items()}
        return result
