"""The networks: shapes, the identity-warp start, modes, serialisation, training steps."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from defgan_tf import losses
from defgan_tf.config import load_config
from defgan_tf.models import Critic, DeformationGenerator, TextureGenerator, build_defgan
from defgan_tf.models.layers import combine_per_au
from defgan_tf.ops.warp import identity_grid

TINY = ["model.image_size=32", "model.generator_width=4", "model.n_res=1",
        "model.critic_width=4", "train.batch_size=2", "train.n_critic=2", "identity.embedder=none"]


def tiny_model(*overrides):
    return build_defgan(load_config(None, [*TINY, *overrides]))


def batch(n=2, size=32, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.uniform(-1, 1, (n, size, size, 3)).astype(np.float32)
    source = rng.uniform(0, 1, (n, 17)).astype(np.float32)
    target = rng.uniform(0, 1, (n, 17)).astype(np.float32)
    return image, source, target


def test_output_shapes_ranges_and_identity_start():
    model = tiny_model()
    image, source, target = batch()
    out = model(image, source, target)
    assert set(out) == {"edited", "deformed", "grid", "color", "mask"}
    assert out["edited"].shape == (2, 32, 32, 3) and out["grid"].shape == (2, 32, 32, 2)
    assert out["mask"].shape == (2, 32, 32, 1)
    # The deformation head starts at zero: the first warp is the identity, exactly.
    np.testing.assert_allclose(out["deformed"], image, atol=1e-5)
    # The mask head's bias of 3 keeps ≈ 95 % of the deformed image at the start.
    assert 0.9 < float(tf.reduce_mean(out["mask"])) < 0.99
    assert float(tf.reduce_max(tf.abs(out["edited"]))) <= 1.0


def test_texture_only_has_no_deformation_and_identity_grid():
    model = tiny_model("model.mode=texture_only")
    assert model.deformation_generator is None
    image, source, target = batch()
    out = model(image, source, target)
    np.testing.assert_array_equal(out["deformed"], image)
    assert not {"g_comp", "g_tv", "g_def", "g_id"} & set(model.generator_metric_names())


def test_deformation_only_edits_by_warp_alone():
    model = tiny_model("model.mode=deformation_only")
    assert model.texture_generator is None
    image, source, target = batch()
    out = model(image, source, target)
    np.testing.assert_array_equal(out["edited"], out["deformed"])
    np.testing.assert_array_equal(out["mask"], np.ones((2, 32, 32, 1), np.float32))


def test_texture_branch_alone_repaints_any_deformed_image():
    model = tiny_model()
    image, source, target = batch()
    out = model(image, source, target)
    again = model.texture(out["deformed"], source, target)
    for name in ("edited", "color", "mask"):
        np.testing.assert_allclose(again[name], out[name], atol=1e-6, err_msg=name)
    other = batch(seed=1)[0]
    painted = model.texture(other, source, target)
    assert np.abs(painted["edited"] - out["edited"]).mean() > 0.1
    mask = painted["mask"]
    np.testing.assert_allclose(painted["edited"], mask * other + (1 - mask) * painted["color"],
                               atol=1e-6)
    warp_only = tiny_model("model.mode=deformation_only").texture(other, source, target)
    np.testing.assert_array_equal(warp_only["edited"], other)


def test_grid_offsets_are_bounded_by_max_offset():
    model = tiny_model("deformation.max_offset_px=2.0")
    head = model.deformation_generator.field_head
    head.kernel.assign(tf.random.normal(head.kernel.shape, stddev=10.0))
    image, source, target = batch()
    grid = model(image, source, target)["grid"]
    from defgan_tf.ops.grids import grid_to_flow_px

    flow = grid_to_flow_px(grid).numpy()
    assert 0.5 < np.abs(flow).max() <= 2.0 + 1e-4


@pytest.mark.parametrize("decoder,smooth", [("bilinear", True), ("conv", False)])
def test_bilinear_decoder_field_is_linear_between_cell_centres(decoder, smooth):
    generator = DeformationGenerator(width=4, n_down=2, n_res=1, decoder=decoder)
    image, source, target = batch()
    generator(image, source, target)
    generator.field_head.kernel.assign(
        tf.random.normal(generator.field_head.kernel.shape, stddev=1.0, seed=1))
    field = generator(image, source, target).numpy()
    # ×4 with half-pixel centres: columns 4k+2 … 4k+5 lie between trunk cells k and k+1,
    # so the second difference at 4k+3 and 4k+4 is 0 when the field is interpolated.
    second = field[:, :, 2:] - 2 * field[:, :, 1:-1] + field[:, :, :-2]
    inner = [j - 1 for j in range(32) if j % 4 in (0, 3) and 2 <= j <= 29]
    largest = np.abs(second[:, :, inner]).max() / np.abs(field).max()
    assert (largest < 1e-5) == smooth, largest


@pytest.mark.parametrize("head", ["field", "per_au"])
def test_unet_decoder_reads_the_encoder_features_of_each_size(head):
    generator = DeformationGenerator(width=4, n_down=2, n_res=1, decoder="unet", head=head)
    image, source, target = batch()
    np.testing.assert_array_equal(generator(image, source, target), 0.0)  # identity start
    # Trunk 16 channels at H/4; level 0 reads them (×2) with down0's 8 at H/2, level 1 its
    # own 8 (×2) with the stem's 4 at H: 16 + 8 and 8 + 4 input channels.
    assert [up.block.conv.kernel.shape[2] for up in generator.ups] == [24, 12]
    plain = DeformationGenerator(width=4, n_down=2, n_res=1, head=head)
    plain(image, source, target)
    assert [up.block.conv.kernel.shape[2] for up in plain.ups] == [16, 8]


def per_au_generator(n_down=2):
    """A per-AU deformation generator with a random (non-zero) field head."""
    generator = DeformationGenerator(width=4, n_down=n_down, n_res=1, head="per_au")
    image, source, target = batch()
    generator(image, source, target)
    generator.field_head.kernel.assign(
        tf.random.normal(generator.field_head.kernel.shape, stddev=1.0, seed=2))
    return generator, image, source, target


def test_per_au_head_is_linear_in_the_au_change():
    generator, image, source, target = per_au_generator()
    field = generator(image, source, target).numpy()
    zeros = np.zeros_like(source)
    assert np.abs(field).max() > 0.1
    # No change asked, no motion, whatever the AUs; the edit back is the opposite field.
    np.testing.assert_array_equal(generator(image, target, target), 0.0)
    np.testing.assert_allclose(generator(image, target, source), -field, atol=1e-5)
    # Only y_t − y_o counts, and fields add: Δ(0, a + b) = Δ(0, a) + Δ(0, b).
    np.testing.assert_allclose(generator(image, zeros, target - source), field, atol=1e-5)
    half = (target - source) / 2
    np.testing.assert_allclose(
        generator(image, zeros, half).numpy() + generator(image, -half, zeros).numpy(), field,
        atol=1e-5)


def test_per_au_head_combines_one_field_per_au():
    rng = np.random.default_rng(3)
    fields = rng.normal(size=(2, 4, 5, 34)).astype(np.float32)
    change = rng.uniform(-1, 1, (2, 17)).astype(np.float32)
    expected = np.einsum("bhwkc,bk->bhwc", fields.reshape(2, 4, 5, 17, 2), change)
    np.testing.assert_allclose(combine_per_au(fields, change), expected, atol=1e-5)
    # One AU changed by 1: its own field, channels 2k (x) and 2k + 1 (y).
    only_au12 = np.zeros((2, 17), np.float32)
    only_au12[:, 8] = 1.0
    np.testing.assert_array_equal(combine_per_au(fields, only_au12),
                                  fields[..., 16:18])


def test_per_au_fields_read_the_face_alone():
    generator, image, source, target = per_au_generator()
    # Same change from other AUs: the trunk never sees the AUs themselves.
    np.testing.assert_allclose(generator(image, source * 0.5, target - source * 0.5),
                               generator(image, source, target), rtol=1e-4, atol=1e-5)
    assert generator.trunk.stem.conv.kernel.shape[2] == 3


def per_au_texture(scale=0.01):
    """A per-AU texture generator with a random (non-zero) change head."""
    generator = TextureGenerator(width=4, n_down=2, n_res=1, head="per_au", decoder="upsample")
    image, source, target = batch()
    untrained = generator(image, source, target)
    generator.change_head.kernel.assign(
        tf.random.normal(generator.change_head.kernel.shape, stddev=scale, seed=4))
    return generator, untrained, image * 0.25, source, target


def test_per_au_texture_starts_painting_nothing_and_paints_by_the_au_change():
    generator, untrained, image, source, target = per_au_texture()
    np.testing.assert_array_equal(untrained["color"], batch()[0])  # zero head: C = I_d
    np.testing.assert_allclose(untrained["edited"], batch()[0], atol=1e-6)
    out = generator(image, source, target)
    mask, painted = out["mask"].numpy(), out["edited"].numpy() - image
    assert 0.9 < mask.mean() < 0.99  # the mask head's bias: A ≈ 0.95
    # C is the face plus the combined change; the edit blends it in through the mask.
    change = out["color"].numpy() - image
    assert np.abs(change).max() > 0.05 and np.abs(image + change).max() < 1.0  # unclipped
    np.testing.assert_allclose(painted, (1 - mask) * change, atol=1e-6)
    # Nothing asked, nothing painted; the edit back paints the opposite.
    np.testing.assert_allclose(generator(image, target, target)["edited"], image, atol=1e-6)
    np.testing.assert_allclose(generator(image, target, source)["edited"] - image, -painted,
                               atol=1e-6)
    # The face alone is read: the same change from other AUs paints the same.
    np.testing.assert_allclose(generator(image, source * 0.5, target - source * 0.5)["edited"],
                               out["edited"], atol=1e-5)


def test_per_au_texture_clips_the_colour_to_the_image_range():
    generator, _, image, source, target = per_au_texture(scale=30.0)
    out = generator(image, source, target)
    assert np.abs(out["color"]).max() == 1.0 and np.abs(out["edited"]).max() <= 1.0


@pytest.mark.parametrize("decoder,checkerboard", [("transpose", True), ("upsample", False)])
def test_texture_decoder_checkerboard_on_a_flat_face(decoder, checkerboard):
    generator = TextureGenerator(width=4, n_down=2, n_res=1, decoder=decoder)
    flat = tf.fill((1, 128, 128, 3), 0.3)
    color = generator(flat, tf.zeros((1, 17)), tf.fill((1, 17), 0.5))["color"]
    # Far from the zero-padded borders the features are flat, so any structure in the
    # centre is the decoder's own: a transposed conv alternates from pixel to pixel.
    centre = color.numpy()[0, 48:80, 48:80]
    alternation = np.abs(centre[1:] - centre[:-1]).max()
    assert (alternation > 1e-3) == checkerboard, alternation


@pytest.mark.parametrize("cls,kwargs", [
    (TextureGenerator, {"width": 4, "n_down": 1, "n_res": 1, "mask_bias_init": 2.0}),
    (TextureGenerator, {"width": 4, "n_down": 1, "n_res": 1, "decoder": "upsample"}),
    (TextureGenerator, {"width": 4, "n_down": 1, "n_res": 1, "head": "per_au"}),
    (DeformationGenerator, {"width": 4, "n_down": 1, "n_res": 1, "sees_source": False}),
    (DeformationGenerator, {"width": 4, "n_down": 1, "n_res": 1, "decoder": "bilinear"}),
    (DeformationGenerator, {"width": 4, "n_down": 1, "n_res": 1, "head": "per_au"}),
    (DeformationGenerator, {"width": 4, "n_down": 1, "n_res": 1, "decoder": "unet"}),
    (Critic, {"image_size": 16, "width": 4, "n_down": 2}),
    (Critic, {"image_size": 16, "width": 4, "n_down": 2, "projection": True}),
])
def test_get_config_round_trip(cls, kwargs):
    model = cls(**kwargs)
    clone = cls.from_config(model.get_config())
    for key, value in kwargs.items():
        assert getattr(clone, key) == value


def test_bad_sizes_are_errors_with_values():
    with pytest.raises(ValueError, match=r"Received: image_size=20, n_down=3"):
        Critic(image_size=20, width=4, n_down=3)
    with pytest.raises(ValueError, match=r"Received: 'nearest'"):
        DeformationGenerator(width=4, decoder="nearest")
    with pytest.raises(ValueError, match=r"Received: 'per_pixel'"):
        DeformationGenerator(width=4, head="per_pixel")
    with pytest.raises(ValueError, match=r"needs sees_source=True"):
        DeformationGenerator(width=4, head="per_au", sees_source=False)
    with pytest.raises(ValueError, match=r"Received: 'bilinear'"):
        TextureGenerator(width=4, decoder="bilinear")
    with pytest.raises(ValueError, match=r"Received: width=0"):
        TextureGenerator(width=0)
    with pytest.raises(ValueError, match=r"Received: 'additive'"):
        TextureGenerator(width=4, head="additive")


def test_critic_outputs_scores_and_aus():
    critic = Critic(image_size=32, width=4, n_down=4)
    scores, aus = critic(tf.zeros((3, 32, 32, 3)))
    assert scores.shape == (3,) and aus.shape == (3, 17)


def test_projection_critic_adds_the_au_embedding_times_the_mean_features():
    image, source, _ = batch()
    plain = Critic(image_size=32, width=4, n_down=4)
    np.testing.assert_array_equal(plain(image, source)[0], plain(image)[0])
    critic = Critic(image_size=32, width=4, n_down=4, projection=True)
    critic(image, source)
    x = image
    for layer in critic.convs:
        x = keras.ops.leaky_relu(layer(x), negative_slope=0.01).numpy()
    features = x.mean(axis=(1, 2))                               # (B, 32)
    kernel = critic.au_projection.kernel.numpy()                  # (17, 32)
    expected = ((source @ kernel) * features).sum(axis=-1)
    scores, aus = critic(image, source)
    unconditional, same_aus = critic(image)
    np.testing.assert_allclose(scores - unconditional, expected, rtol=1e-4, atol=1e-7)
    assert np.abs(expected).min() > 0
    np.testing.assert_array_equal(aus, same_aus)  # the AU head never reads the AUs


def test_projection_critic_reads_the_aus_in_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        critic = Critic(image_size=32, width=4, n_down=4, projection=True)
        image = tf.random.stateless_uniform((2, 32, 32, 3), (0, 1), -1.0, 1.0)
        aus = tf.fill((2, 17), 0.5)
        # 0.5 + 1e-4 rounds back to 0.5 in float16 (spacing 4.9e-4 there).
        nudged = aus + 1e-4
        assert np.array_equal(tf.cast(nudged, "float16"), tf.cast(aus, "float16"))
        base, _ = critic(image, aus)
        moved, _ = critic(image, nudged)
        assert critic.convs[0].compute_dtype == "float16"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert base.dtype == tf.float32
    assert np.all(base.numpy() != moved.numpy())


def test_projection_critic_scores_real_faces_with_labels_noised_like_the_targets():
    from defgan_tf.data.pipeline import sample_targets

    labels = np.zeros((4000, 17), np.float32)
    labels[:, :8] = 0.5
    plain = tiny_model()
    np.testing.assert_array_equal(plain.real_condition(labels), labels)
    condition = tiny_model("model.critic_projection=true").real_condition(labels).numpy()
    targets = sample_targets(tf.constant(labels), tf.constant([1, 2], tf.int64), 0.1).numpy()
    for values in (condition, targets):
        # Half the zero labels stay exactly 0, the rest spread over (0, 0.1]; the 0.5
        # labels spread evenly over [0.4, 0.6].
        assert abs((values[:, 8:] == 0).mean() - 0.5) < 0.02
        assert values[:, 8:].max() <= 0.1 and abs(values[:, :8].mean() - 0.5) < 0.002
        assert values[:, :8].min() >= 0.4 and values[:, :8].max() <= 0.6


def test_projection_critic_step_scores_real_fake_and_mixed_faces_with_their_own_aus():
    model = tiny_model("model.critic_projection=true")
    model.compile(d_optimizer=keras.optimizers.Adam(1e-3),
                  g_optimizer=keras.optimizers.Adam(1e-3))
    image, source, target = batch(n=4)
    state = model.rng.state.numpy()
    grads, values = model._critic_gradients(image, source, target)
    names = [v.path for v in model.critic.trainable_variables]
    assert np.abs(grads[names.index("critic/au_projection/kernel")]).max() > 0
    # The same draws by hand: the real faces' noised labels, then the penalty's ε.
    model.rng.reset(state)
    condition = model.real_condition(source)
    epsilon = model.mixing_weights(4)
    fake = model(image, source, target, training=True)["edited"]
    real_scores = model.critic(image, condition)[0]
    np.testing.assert_allclose(
        values["d_wasserstein"],
        losses.critic_wasserstein(real_scores, model.critic(fake, target)[0]), rtol=1e-5)
    mixed_aus = epsilon[:, None] * condition + (1 - epsilon[:, None]) * target
    penalty = losses.gradient_penalty(lambda x: model.critic(x, mixed_aus)[0], image, fake,
                                      epsilon=epsilon)
    np.testing.assert_allclose(values["d_gp"], penalty, rtol=1e-4)
    # The generator's adversarial term scores each edit with its target AUs.
    edited = model(image, source, target, training=True)["edited"]
    np.testing.assert_allclose(
        model.generator_losses(image, source, target)["g_adv"],
        losses.generator_adversarial(model.critic(edited, target)[0]), rtol=1e-5)


@pytest.mark.parametrize("mode, augment, head, decoder, texture", [
    ("defgan", False, "field", "conv", "color"), ("texture_only", False, "field", "conv", "color"),
    ("deformation_only", False, "field", "conv", "color"),
    ("defgan", True, "field", "conv", "color"), ("defgan", False, "per_au", "conv", "color"),
    ("defgan", False, "per_au", "unet", "per_au"), ("texture_only", False, "field", "conv",
                                                    "per_au")])
def test_train_steps_change_weights_and_report_every_term(mode, augment, head, decoder, texture):
    model = tiny_model(f"model.mode={mode}", f"train.diff_augment={augment}",
                       f"model.deformation_head={head}", f"model.deformation_decoder={decoder}",
                       f"model.texture_head={texture}")
    model.compile(d_optimizer=keras.optimizers.Adam(1e-3),
                  g_optimizer=keras.optimizers.Adam(1e-3))
    before = [v.numpy().copy() for v in model.trainable_variables]
    image, source, target = batch(n=4)
    data = {"image": image.reshape(2, 2, 32, 32, 3), "source_aus": source.reshape(2, 2, 17),
            "target_aus": target.reshape(2, 2, 17)}
    for _ in range(2):
        logs = model.train_step(data)  # eager: tracing would cost more than two steps
    after = model.trainable_variables
    changed = [not np.allclose(b, a.numpy()) for b, a in zip(before, after)]
    assert sum(changed) >= 0.9 * len(changed)
    assert all(np.isfinite(float(v)) for v in logs.values())
    expected = {"d_loss", "d_gp", "g_loss", "g_adv", "g_cyc", "g_exp"}
    if mode == "defgan":
        expected |= {"g_comp", "g_tv", "g_def", "g_mask"}
    assert expected <= set(logs)


def test_diff_augment_changes_only_what_the_critic_is_shown():
    image, source, target = batch()
    augmented, plain = tiny_model("train.diff_augment=true"), tiny_model()
    assert np.abs(augmented.critic_view(image) - image).mean() > 0.05
    np.testing.assert_array_equal(plain.critic_view(image), image)
    plain.set_weights(augmented.get_weights())
    np.testing.assert_array_equal(augmented(image, source, target)["edited"],
                                  plain(image, source, target)["edited"])  # inference


@pytest.mark.parametrize("norm", ["squared", "l1", "log"])
def test_grid_magnitude_term_uses_the_configured_norm(norm):
    model = tiny_model(f"losses.deformation_norm={norm}", "losses.deformation_scale_px=0.7")
    rng = np.random.default_rng(1)
    for variable in model.deformation_generator.trainable_variables:  # leave the identity
        variable.assign(variable + rng.normal(0, 0.1, variable.shape).astype(np.float32))
    image, source, target = batch()
    terms = model.generator_losses(image, source, target)
    grid = model(image, source, target, training=True)["grid"]
    displacement = (grid - identity_grid(2, 32, 32)).numpy()
    scale = 0.7 * 2 / 31  # 0.7 px (not the 0.5 default) in normalized units of a 32² grid
    expected = {"squared": np.square(displacement).mean(), "l1": np.abs(displacement).mean(),
                "log": (scale * np.log1p(np.abs(displacement) / scale)).mean()}[norm]
    assert expected > 1e-4
    assert float(terms["g_def"]) == pytest.approx(expected, rel=1e-4)


def expression_gradients(model, networks=None):
    """g_exp and the norms of its gradients on each network (by default the deformation
    and texture generators); a network the loss does not reach reads 0."""
    image, source, target = batch()
    networks = networks or (model.deformation_generator, model.texture_generator)
    with tf.GradientTape() as tape:
        g_exp = model.generator_losses(image, source, target)["g_exp"]
    grads = tape.gradient(g_exp, [n.trainable_variables for n in networks])
    return float(g_exp), [float(tf.linalg.global_norm(group)) for group in grads]


def test_edit_expression_can_train_the_texture_branch_alone():
    model = tiny_model("losses.beta_d=0", "losses.edit_expression_trains=texture")
    rng = np.random.default_rng(2)
    for variable in model.deformation_generator.trainable_variables:  # leave the identity
        variable.assign(variable + rng.normal(0, 0.1, variable.shape).astype(np.float32))
    exp_texture, (warp_texture, texture_texture) = expression_gradients(model)
    model.loss_weights["edit_expression_trains"] = "generators"
    exp_both, (warp_both, texture_both) = expression_gradients(model)
    assert exp_texture == pytest.approx(exp_both, rel=1e-6)  # the same reading of the edit
    assert warp_both > 1e-6 and warp_texture == 0.0
    assert texture_texture == pytest.approx(texture_both, rel=1e-4)


def test_edit_expression_can_train_the_colour_map_alone():
    """With `color` the edit's AU loss reaches the colour head, not the mask head or the warp."""
    model = tiny_model("losses.beta_d=0", "losses.edit_expression_trains=color")
    rng = np.random.default_rng(3)
    for variable in model.generator_variables():  # leave the identity warp and A ≈ 0.95
        variable.assign(variable + rng.normal(0, 0.1, variable.shape).astype(np.float32))
    texture = model.texture_generator
    networks = (model.deformation_generator, texture.mask_head, texture.color_head)
    exp_color, (warp_color, mask_color, color_color) = expression_gradients(model, networks)
    model.loss_weights["edit_expression_trains"] = "texture"
    exp_texture, (warp_texture, mask_texture, _) = expression_gradients(model, networks)
    assert exp_color == pytest.approx(exp_texture, rel=1e-5)  # the same reading of the edit
    assert warp_color == 0.0 and warp_texture == 0.0
    assert mask_texture > 1e-6 and mask_color == 0.0
    assert color_color > 1e-6


def fit_steps(model, steps=1):
    image, source, target = batch(n=4)
    data = {"image": image.reshape(2, 2, 32, 32, 3), "source_aus": source.reshape(2, 2, 17),
            "target_aus": target.reshape(2, 2, 17)}
    for _ in range(steps):
        logs = model.train_step(data)
    return logs


def test_critic_warmup_fits_aus_and_moves_only_the_regression_variables():
    model = tiny_model()
    image, source, _ = batch(n=2)
    data = {"image": np.stack([image, image]), "source_aus": np.stack([source, source])}
    frozen = [*model.critic.score_head.trainable_variables, *model.generator_variables()]
    before = [v.numpy().copy() for v in frozen]
    step = tf.function(model.warmup_step)
    optimizer = keras.optimizers.Adam(1e-3)
    errors = [float(step(data, optimizer)) for _ in range(40)]
    assert errors[-1] < 0.2 * errors[0]  # two faces: memorised quickly
    assert all(np.array_equal(b, v.numpy()) for b, v in zip(before, frozen))
    assert {v.path for v in model.critic.regression_variables} == (
        {v.path for v in model.critic.trainable_variables}
        - {v.path for v in model.critic.score_head.trainable_variables})


def test_ema_weights_trail_the_generator_and_swap_back():
    model = tiny_model("model.ema_decay=0.5")
    model.compile(d_optimizer=keras.optimizers.Adam(1e-3),
                  g_optimizer=keras.optimizers.Adam(1e-3))
    fit_steps(model, 2)
    live = [v.numpy().copy() for v in model.generator_variables()]
    averaged = [v.numpy().copy() for v in model.ema_weights]
    assert any(not np.allclose(a, b) for a, b in zip(live, averaged))
    model.swap_ema()
    np.testing.assert_array_equal(model.generator_variables()[0].numpy(), averaged[0])
    assert model.holds_averages and model.held_weights == "ema"
    model.swap_ema()
    np.testing.assert_array_equal(model.generator_variables()[0].numpy(), live[0])
    assert not model.holds_averages and model.held_weights == "raw"
    with model.averaged_generators():
        np.testing.assert_array_equal(model.generator_variables()[0].numpy(), averaged[0])
        assert model.holds_averages
    np.testing.assert_array_equal(model.generator_variables()[0].numpy(), live[0])
    with pytest.raises(RuntimeError), model.averaged_generators():
        raise RuntimeError("an evaluation that fails half-way")
    np.testing.assert_array_equal(model.generator_variables()[0].numpy(), live[0])


def test_averaged_generators_is_a_no_op_without_an_average():
    model = tiny_model()
    before = [v.numpy().copy() for v in model.generator_variables()]
    with model.averaged_generators():
        assert all(np.array_equal(v.numpy(), b)
                   for v, b in zip(model.generator_variables(), before))
    model.swap_ema()
    assert not model.holds_averages and model.held_weights == "raw"


def test_mixed_float16_step_uses_loss_scaling_and_stays_finite():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = tiny_model()
        assert model.texture_generator.trunk.stem.conv.compute_dtype == "float16"
        assert model.critic.score_head.compute_dtype == "float32"
        model.compile(
            d_optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-3)),
            g_optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-3)))
        logs = fit_steps(model)
        out = model(*batch())
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert out["edited"].dtype == tf.float32 and out["grid"].dtype == tf.float32


def test_calibrated_expression_loss_asks_for_the_heads_line_fitted_on_held_out_faces():
    model = tiny_model("losses.au_target=calibrated", "model.ema_decay=0")
    model.compile(d_optimizer=keras.optimizers.Adam(1e-3),
                  g_optimizer=keras.optimizers.Adam(1e-3))
    with pytest.raises(ValueError, match="set_au_calibration_faces"):
        fit_steps(model)
    faces, _, labels = batch(n=8, seed=3)
    model.set_au_calibration_faces(faces, labels)
    start = model.au_calibration.numpy().copy()
    logs = fit_steps(model)
    # One generator step moved the moments 1 % toward those of a batch of held-out faces.
    moved = model.au_calibration.numpy() - 0.99 * start
    assert np.abs(moved).max() > 1e-4
    slope, _ = (v.numpy() for v in losses.au_calibration_line(model.au_calibration))
    assert float(logs["g_au_slope"]) == pytest.approx(slope.mean(), abs=1e-6)
    # The expression term reads its targets off that line, not the labels.
    image, source, target = batch(seed=4)
    model.au_calibration.assign(np.stack([np.full(17, 0.5), np.full(17, 0.3),
                                          np.full(17, 0.5), np.full(17, 0.2)]))
    # var y = 0.5 − 0.5² = 0.25, cov = 0.2 − 0.5·0.3 = 0.05: slope 0.2, intercept 0.2.
    terms = model.generator_losses(image, source, target)
    out = model(image, source, target, training=True)
    _, edited_aus = model.critic(out["edited"], training=True)
    _, deformed_aus = model.critic(out["deformed"], training=True)
    expected = losses.expression_loss(edited_aus, deformed_aus, 0.2 * target + 0.2, 1.0)
    assert float(terms["g_exp"]) == pytest.approx(float(expected), rel=1e-5)
    assert model.generator_metric_names()[-1] == "g_au_slope"
    assert "g_au_slope" not in tiny_model().generator_metric_names()


def test_calibration_faces_need_the_calibrated_target():
    with pytest.raises(ValueError, match="au_target: calibrated"):
        tiny_model().set_au_calibration_faces(*batch()[::2])
