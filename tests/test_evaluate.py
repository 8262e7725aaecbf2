"""`python -m defgan_tf.evaluate` on the tiny trained run: files written, numbers sane."""

import json

import pytest

from defgan_tf.aus import AU_CODES
from defgan_tf.evaluate import build_metrics, main
from defgan_tf.metrics import MetricOptions, MetricUnavailableError


def test_cli_writes_metrics_report_and_figures(tiny_run_dir, tiny_data_dir, tmp_path, capsys):
    out = tmp_path / "eval"
    code = main(["--run", str(tiny_run_dir), "--data", str(tiny_data_dir), "--out", str(out),
                 "--faces", "2", "--split", "all", "--expressions", "neutral,surprise",
                 "--metrics", "ground_truth,flow_error,concentration,warp_parts,critic_au_error"])
    assert code == 0, capsys.readouterr().err
    results = json.loads((out / "metrics.json").read_text())
    assert results["edits"] == 4 and results["format"] == "synthetic"
    assert results["weights"] == "raw"  # the tiny run kept no moving average
    flow = results["metrics"]["flow_error"]
    assert flow["ground_truth"]["epe"] == 0.0  # the true edit has no flow error
    assert flow["no_edit"]["offset_moved"] == 0.0
    assert results["metrics"]["ground_truth"]["ground_truth"]["edited"]["psnr"] is None  # inf
    assert results["metrics"]["concentration"]["no_edit"]["share"] is None  # no change at all
    # Surprise moves the brows: warping the input by the true motion gets closer to the
    # truth where the edit changes the face than leaving it alone does.
    changed = {b: results["metrics"]["ground_truth"][b]["edited"]["changed_l1"]
               for b in ("no_edit", "true_warp")}
    assert changed["true_warp"] < changed["no_edit"], changed
    assert flow["true_warp"]["epe"] == 0.0
    # A run directory's texture branch also paints the true warp; baselines have none.
    parts = results["metrics"]["warp_parts"]
    assert parts["model"]["changed_l1"]["true_warp_textured"] > 0
    assert "true_warp_textured" not in parts["no_edit"]["changed_l1"]
    assert parts["model"]["critic_au_mae"]["learned"] > 0  # the model's own AU head
    # The model's own AU head, read on the edits and on the true renders.
    critic = results["metrics"]["critic_au_error"]
    assert 0 < critic["ground_truth"]["mae"] != critic["model"]["mae"]
    report = (out / "report.md").read_text()
    assert "generator weights: raw." in report
    assert "| flow_error.epe_moved |" in report and "![sample grid](samples.png)" in report
    assert "| metric | model | no edit | ground truth | true warp |" in report
    for name in ("samples.png", "stages.png", "au_sweep.png", "differences.png"):
        assert (out / name).stat().st_size > 1000


def test_single_au_edits_report_where_each_aus_motion_goes(tiny_run_dir, tiny_data_dir,
                                                          tmp_path, capsys):
    out = tmp_path / "eval"
    code = main(["--run", str(tiny_run_dir), "--data", str(tiny_data_dir), "--out", str(out),
                 "--faces", "1", "--split", "all", "--single-au", "0.5",
                 "--metrics", "flow_error"])
    assert code == 0, capsys.readouterr().err
    results = json.loads((out / "metrics.json").read_text())
    assert results["edits"] == 17 and results["expressions"] == list(AU_CODES)
    assert results["faces"] == 1 and results["single_au"] == 0.5
    flow = results["metrics"]["flow_error"]
    assert list(flow["model"]["per_expression_moved"]) == list(AU_CODES)
    # Per AU, the true edit has the true motion's direction and length, no edit none.
    assert flow["ground_truth"]["per_expression_moved"]["AU26"]["cosine_moved"] == \
        pytest.approx(1.0)
    assert flow["no_edit"]["per_expression_moved"]["AU26"]["along_moved"] == 0.0
    report = (out / "report.md").read_text()
    table = report.split("## Flow in the moved pixels per target (model)", 1)[1]
    assert "| target | epe_moved | along_moved | cosine_moved |" in table
    assert "\n| AU26 | " in table


def test_single_au_replaces_the_expressions(tiny_run_dir, capsys):
    with pytest.raises(SystemExit):
        main(["--run", str(tiny_run_dir), "--single-au", "0.5", "--expressions", "happy"])
    assert "--single-au edits one AU at a time" in capsys.readouterr().err


@pytest.mark.parametrize(("options", "folder"), [
    ([], "eval"), (["--no-ema"], "eval_raw"), (["--single-au", "0.5"], "eval_single_au_0.5"),
    (["--no-ema", "--split", "train"], "eval_raw_train")])
def test_default_output_folder_differs_per_measurement(options, folder, tmp_path):
    from defgan_tf.evaluate import parse_args

    assert parse_args(["--run", str(tmp_path), *options]).out == str(tmp_path / folder)
    model = tmp_path / "m.tflite"
    assert parse_args(["--run", str(model), *options]).out == str(tmp_path / f"m_{folder}")


@pytest.mark.parametrize(("options", "message"), [
    (["--batch-size", "0"], "--batch-size must be ≥ 1. Received: 0"),
    (["--seed", "-1"], "--seed must be in [0, 2^32). Received: -1"),
    (["--out", "{file}"], "--out {file} is a file; give a folder."),
    (["--inception-weights", "{missing}"], "--inception-weights {missing}: no such file."),
    (["--au-regressor", "{missing}"], "--au-regressor {missing}: no such file."),
])
def test_bad_arguments_are_one_usage_line_before_the_model_loads(tmp_path, capsys, options,
                                                                 message):
    names = {"file": tmp_path / "metrics.json", "missing": tmp_path / "typo.h5"}
    names["file"].write_text("{}")
    with pytest.raises(SystemExit) as stopped:
        main(["--run", str(tmp_path), *(o.format(**names) for o in options)])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(message.format(**names))


def test_explicit_metric_without_its_file_is_an_error(tiny_run_dir, capsys):
    assert main(["--run", str(tiny_run_dir), "--metrics", "au_error"]) == 2
    assert "--au-regressor" in capsys.readouterr().err


def test_default_metrics_skip_what_cannot_run():
    metrics, skipped = build_metrics(None, MetricOptions(embedder="none"))
    assert {"au_error", "fid", "kid", "identity", "critic_au_error"} <= set(skipped)
    assert {"ground_truth", "flow_error", "concentration"} <= set(metrics)
    with pytest.raises(MetricUnavailableError):
        build_metrics(["fid"], MetricOptions())


def test_real_format_data_runs_without_ground_truth(tiny_run_dir, tiny_data_dir, tmp_path):
    out = tmp_path / "eval"
    out.mkdir()
    (out / "au_error_per_expression.png").write_bytes(b"an earlier evaluation's")
    (out / "notes.txt").write_text("the user's")
    assert main(["--run", str(tiny_run_dir), "--data", str(tiny_data_dir), "--format",
                 "openface", "--out", str(out), "--faces", "3", "--split", "all",
                 "--expressions", "happy", "--metrics", "concentration"]) == 0
    assert not (out / "au_error_per_expression.png").exists()  # report.md does not list it
    assert (out / "notes.txt").read_text() == "the user's"
    results = json.loads((out / "metrics.json").read_text())
    assert results["edits"] == 3 and results["metrics"] == {}
    assert results["skipped"] == {"concentration": "needs synthetic data (rendered ground truth)."}
    assert (out / "differences.png").is_file()


def test_a_run_finds_its_own_dataset_from_any_directory(tiny_run_dir, tiny_data_dir, tmp_path,
                                                        monkeypatch):
    import shutil

    from defgan_tf.config import load_config, save_config

    run = tmp_path / "moved_run"
    shutil.copytree(tiny_run_dir, run)
    shutil.copytree(tiny_data_dir, run / "data")
    config = load_config(run / "config.yaml")
    config.data.path = "data"  # as training records the data it renders inside the run
    save_config(config, run / "config.yaml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["--run", str(run), "--out", "eval", "--faces", "2", "--expressions", "happy",
                 "--metrics", "ground_truth"]) == 0
    results = json.loads((elsewhere / "eval" / "metrics.json").read_text())
    assert results["data"] == str(run / "data") and results["format"] == "synthetic"
