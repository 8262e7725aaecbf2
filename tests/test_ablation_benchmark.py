"""benchmarks/ablation.py: the variants' settings and the results table."""

import json

from benchmarks import ablation
from defgan_tf.config import load_config


def test_every_variant_is_the_quickstart_with_one_budget():
    configs = {v: load_config(ablation.QUICKSTART,
                              [*ablation.overrides("base"), *ablation.overrides(v)])
               for v in ablation.VARIANTS}
    assert {c.train.max_steps for c in configs.values()} == {400}
    assert all(c.train.max_minutes is None for c in configs.values())
    assert configs["texture_only"].model.mode == "texture_only"
    assert configs["identity"].identity.embedder == "dlib_resnet"
    assert configs["no_composition"].losses.lambda_comp == 0.0
    assert configs["integral"].deformation.mode == "integral"
    assert configs["defgan"].model.mode == "defgan"


def fake_run(tmp_path, name, steps, au_error, seconds):
    run = tmp_path / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / f"ckpt-{steps}.index").write_text("")
    (run / "ablation_timing.json").write_text(json.dumps(
        [{"from_step": 0, "to_step": steps, "seconds": seconds}]))
    metrics = {"au_error": {"model": {"mae": au_error}, "no_edit": {"mae": 0.2},
                            "ground_truth": {"mae": 0.05}}}
    return run, {"metrics": metrics}


def test_table_gives_mean_and_half_range_over_seeds_and_the_baselines(tmp_path):
    a, result_a = fake_run(tmp_path, "defgan-s0", 400, 0.10, 800.0)
    b, result_b = fake_run(tmp_path, "defgan-s1", 400, 0.14, 1000.0)
    table = ablation.table({"defgan": [a, b]}, {a: result_a, b: result_b}).splitlines()
    assert table[2].startswith("| defgan | 2 | 400 | 2.25 ± 0.25 | 0.12 ± 0.02 | – |")
    assert table[3].startswith("| *no edit* | – | – | – | 0.2 |")
    assert table[4].startswith("| *ground truth* | – | – | – | 0.05 |")
