"""benchmarks/profile_ops.py: op time by type from a real TF profiler trace."""

import tensorflow as tf

from benchmarks.profile_ops import op_time_by_type


def test_a_traced_matmul_chain_is_counted_under_its_op_types(tmp_path):
    a = tf.random.stateless_normal((256, 256), seed=(1, 2))

    @tf.function
    def work(x):
        for _ in range(4):
            x = tf.nn.relu(tf.matmul(x, x) * 1e-3)
        return x

    work(a).numpy()
    tf.profiler.experimental.start(str(tmp_path))
    for _ in range(5):
        work(a).numpy()
    tf.profiler.experimental.stop()
    trace = next(tmp_path.glob("**/*.xplane.pb"))
    totals = op_time_by_type(trace)
    assert {"Relu", "Mul"} <= set(totals)
    # oneDNN's kernel is _MklMatMul; 33 MFLOP each, the rest elementwise.
    assert totals.most_common(1)[0][0].endswith("MatMul")
    assert "Record" not in totals and "ExecutorState::Process" not in totals
    assert all(ms > 0 for ms in totals.values())
