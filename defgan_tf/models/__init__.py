"""DefGAN's networks and the one constructor every command uses."""

from defgan_tf.models.build import build_defgan, load_run
from defgan_tf.models.critic import Critic
from defgan_tf.models.defgan import DefGAN
from defgan_tf.models.deformation_generator import DeformationGenerator
from defgan_tf.models.texture_generator import TextureGenerator

__all__ = ["Critic", "DefGAN", "DeformationGenerator", "TextureGenerator", "build_defgan",
           "load_run"]
