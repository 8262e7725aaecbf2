"""On-device demos: run an exported DefGAN with LiteRT (Python) or LiteRT.js (browser)."""
