"""benchmarks/: a bad argument is one usage line (exit 2) before any work; the suite's --out."""

import json
from pathlib import Path

import pytest

from benchmarks import __main__ as suite
from benchmarks import (
    ablation,
    edit_latency,
    identity_throughput,
    pipeline_throughput,
    profile_ops,
    synthetic_throughput,
    train_throughput,
    warp_throughput,
)


@pytest.mark.parametrize(("script", "argv", "message"), [
    (identity_throughput, ["--cores", "0"], "argument --cores: must be ≥ 1, received 0"),
    (identity_throughput, ["--batch", "two"],
     "argument --batch: must be an integer ≥ 1, received 'two'"),
    (synthetic_throughput, ["--count", "0"], "argument --count: must be ≥ 1, received 0"),
    (synthetic_throughput, ["--sizes", "64", "16"],
     "argument --sizes: must be ≥ 32, received 16"),
    (synthetic_throughput, ["--workers", "0"], "argument --workers: must be ≥ 1, received 0"),
    (train_throughput, ["--modes", "defgn"],
     "argument --modes: unknown mode 'defgn'. Valid: defgan, texture_only, deformation_only. "
     "Did you mean defgan?"),
    (train_throughput, ["--steps", "0"], "argument --steps: must be ≥ 1, received 0"),
    (suite, ["--only", "model_summary, warp"],
     "argument --only: unknown benchmark 'warp'. Valid: model_summary, warp_throughput,"),
    (suite, ["--only", "warp"], "Did you mean warp_throughput?"),
    (warp_throughput, ["--batch", "0"], "argument --batch: must be ≥ 1, received 0"),
    (pipeline_throughput, ["--shards", "-2"], "argument --shards: must be ≥ 1, received -2"),
    (profile_ops, ["--calls", "0"], "argument --calls: must be ≥ 1, received 0"),
    (edit_latency, ["--repeats", "0"], "argument --repeats: must be ≥ 1, received 0"),
    (ablation, ["--seeds", "0", "-1"], "argument --seeds: must be ≥ 0, received -1"),
    (ablation, ["--faces", "0"], "argument --faces: must be ≥ 1, received 0"),
])
def test_a_bad_argument_is_one_usage_line(script, argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        script.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["--configs", "missing.yaml"], "error: config file not found: missing.yaml"),
    (["--set", "train.batch_sise=2"], "Did you mean train.batch_size?"),
])
def test_train_throughput_checks_every_config_before_timing(argv, message, capsys, monkeypatch):
    monkeypatch.setattr(train_throughput, "matmul_peak_gflops",
                        lambda: pytest.fail("timed before the configs were checked"))
    with pytest.raises(SystemExit) as exit_info:
        train_throughput.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.fixture
def instant_suite(monkeypatch):
    """The suite's main with every benchmark and the matmul peak replaced by constants."""
    monkeypatch.setattr(suite, "matmul_peak_gflops", lambda: 100.0)
    monkeypatch.setattr(suite, "run", lambda benchmark, quick, timeout: {"result": {"ok": 1}})


def test_out_is_replaced_whole_or_not_at_all(instant_suite, tmp_path, monkeypatch, capsys):
    out = tmp_path / "bench.json"
    out.write_text("previous report\n")
    write_text = Path.write_text

    def disk_full(path, text, *args, **kwargs):
        write_text(path, text[:10], *args, **kwargs)
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(Path, "write_text", disk_full)
        assert suite.main(["--only", "warp_throughput", "--out", str(out)]) == 2
    assert f"error: --out {out}: No space left on device" in capsys.readouterr().err
    assert out.read_text() == "previous report\n"
    assert list(tmp_path.iterdir()) == [out]  # no half-written hidden file left behind
    assert suite.main(["--only", "warp_throughput", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["benchmarks"] == {"warp_throughput": {"result": {"ok": 1}}}
