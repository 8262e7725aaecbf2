"""au_error with a regressor whose answers are known."""

import numpy as np
import pytest

from defgan_tf.aus import au_index
from defgan_tf.metrics.au_error import AUError


class ConstantRegressor:
    """Measures AU12 = 0.75 and nothing else on every image."""

    def predict(self, images):
        aus = np.zeros((len(images), 17), np.float32)
        aus[:, au_index("AU12")] = 0.75
        return aus


def test_errors_per_au_and_expression(edits_factory):
    edits = edits_factory()  # targets: AU12 = 1, everything else 0
    target = edits.target_aus.copy()
    target[1, au_index("AU01")] = 0.34  # the 'sad' edit also asks for AU01
    result = AUError(ConstantRegressor())(edits_factory(target_aus=target))
    assert result["per_au"]["AU12"] == pytest.approx(0.25)
    assert result["per_au"]["AU01"] == pytest.approx(0.17)
    assert result["per_expression"] == {"happy": pytest.approx(0.25 / 17),
                                        "sad": pytest.approx(0.59 / 17)}
    assert result["mae"] == pytest.approx(0.84 / 34)
