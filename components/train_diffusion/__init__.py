"""Pigeon (Xu et al., WWW 2025, arXiv 2410.14170): personalized image generation conditioned on a user's history.

Posters rendered from catalogue metadata (or a directory of item images), user windows of 5 history images and
a target, a mask generator that drops noisy history tokens, a small multimodal LM producing the conditioning,
a diffusers UNet/VAE decoder, masked preference reconstruction (stage 1) and Diffusion-DPO (stage 2).
"""
