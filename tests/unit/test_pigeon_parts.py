"""Pigeon's parts: poster renderer, windows and split, image folders, mask generator, Diffusion-DPO loss, SSIM."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from components.common.errors import ConfigError, DataError
from components.train_diffusion.config import ImageDataConfig, Stage1Config
from components.train_diffusion.dpo import diffusion_dpo_loss
from components.train_diffusion.images import load_folder
from components.train_diffusion.mask import MaskGenerator, gumbel_topk
from components.train_diffusion.metrics import history_similarity, ssim
from components.train_diffusion.posters import render_poster
from components.train_diffusion.windows import split_users, user_windows


def test_posters_are_deterministic_and_sized() -> None:
    a = render_poster("Heat (1995)", ["Action", "Crime", "Thriller"], 32)
    b = render_poster("Heat (1995)", ["Action", "Crime", "Thriller"], 32)
    assert a.shape == (32, 32, 3) and a.dtype == np.uint8
    assert a.tobytes() == b.tobytes()
    assert render_poster("Heat (1995)", ["Action"], 48).shape == (48, 48, 3)
    # the title varies the layout, not the genre look
    assert render_poster("Ronin (1998)", ["Action", "Crime", "Thriller"], 32).tobytes() != a.tobytes()


def test_posters_of_one_genre_are_closer_than_posters_of_different_genres() -> None:
    genres = ["Horror", "Comedy", "Sci-Fi", "Romance", "Western", "Documentary"]
    titles = [f"Movie number {i}" for i in range(8)]
    posters = {g: [render_poster(t, [g], 32).astype(np.float32) for t in titles] for g in genres}
    within, between = [], []
    for g in genres:
        for i in range(len(titles)):
            for j in range(i + 1, len(titles)):
                within.append(np.abs(posters[g][i] - posters[g][j]).mean())
        for h in genres:
            if h != g:
                between.append(np.abs(posters[g][0] - posters[h][1]).mean())
    assert max(within) < min(between)
    # every genre has its own mean colour
    means = np.stack([np.mean(posters[g], axis=(0, 1, 2)) for g in genres])
    gaps = np.abs(means[:, None] - means[None]).sum(-1)
    assert gaps[~np.eye(len(genres), dtype=bool)].min() > 20


def test_unknown_genres_get_a_stable_style() -> None:
    a = render_poster("X", ["Space Opera"], 32)
    assert a.tobytes() == render_poster("X", ["Space Opera"], 32).tobytes()
    assert a.tobytes() != render_poster("X", ["Courtroom"], 32).tobytes()


def test_windows_slide_per_user_and_keep_the_most_recent() -> None:
    users = np.array([0] * 14 + [1] * 5 + [2] * 7)
    items = np.arange(26)
    w_users, hist, targets = user_windows(users, items, history_len=5, stride=3, max_per_user=2)
    # user 0: starts 0, 3, 6 (6 + 6 <= 14), the last two kept; user 1 has 5 items (none); user 2: start 0
    assert w_users.tolist() == [0, 0, 2]
    assert hist.tolist() == [[3, 4, 5, 6, 7], [6, 7, 8, 9, 10], [19, 20, 21, 22, 23]]
    assert targets.tolist() == [8, 11, 24]
    with pytest.raises(DataError, match="no user has 6 interactions"):
        user_windows(np.zeros(4, int), np.arange(4), 5, 1, 0)


def test_split_is_by_user_eight_one_one_and_seeded() -> None:
    window_users = np.repeat(np.arange(100), 3)
    split = split_users(window_users, seed=5)
    per_user = {int(u): set(split[window_users == u].tolist()) for u in range(100)}
    assert all(len(s) == 1 for s in per_user.values())  # one split per user
    counts = np.bincount([next(iter(s)) for s in per_user.values()], minlength=3)
    assert counts.tolist() == [80, 10, 10]
    assert np.array_equal(split, split_users(window_users, seed=5))
    assert not np.array_equal(split, split_users(window_users, seed=6))


def _save(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (40, 20)) -> None:
    from PIL import Image

    Image.new("RGB", size, color).save(path)


def test_a_folder_of_real_images_is_loaded_cropped_and_resized(tmp_path: Path) -> None:
    _save(tmp_path / "10.png", (255, 0, 0))
    _save(tmp_path / "20.jpg", (0, 0, 255), (30, 60))
    (tmp_path / "notes.txt").write_text("not an image")
    images = load_folder(tmp_path, ["10", "20", "30"], ["A", "B", "C"], np.array([0, 1]), 16)
    assert images.shape == (3, 16, 16, 3)
    assert images[0, 8, 8].tolist() == [255, 0, 0]
    assert abs(int(images[1, 8, 8, 2]) - 255) <= 2 and images[1, 8, 8, 0] <= 2
    assert images[2].max() == 0  # not needed, left black


def test_a_missing_image_names_the_file_it_expected(tmp_path: Path) -> None:
    _save(tmp_path / "10.png", (255, 0, 0))
    with pytest.raises(DataError, match=r"^30\.png: no image for item 30 \(Gone Girl\) in "):
        load_folder(tmp_path, ["10", "30"], ["A", "Gone Girl"], np.array([0, 1]), 16)


def test_an_unreadable_image_names_the_file(tmp_path: Path) -> None:
    _save(tmp_path / "10.png", (255, 0, 0))
    (tmp_path / "20.jpg").write_bytes(b"\xff\xd8\xff this is not a jpeg")
    with pytest.raises(DataError, match=r"^20\.jpg: unreadable image in "):
        load_folder(tmp_path, ["10", "20"], ["A", "B"], np.array([0, 1]), 16)


def test_a_missing_folder_and_duplicate_ids_are_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="folder not found"):
        load_folder(tmp_path / "nope", ["1"], ["A"], np.array([0]), 16)
    _save(tmp_path / "1.png", (0, 0, 0))
    _save(tmp_path / "1.jpg", (0, 0, 0))
    with pytest.raises(DataError, match="a second image for item 1"):
        load_folder(tmp_path, ["1"], ["A"], np.array([0]), 16)


def test_gumbel_topk_keeps_exactly_k_and_passes_gradients() -> None:
    torch.manual_seed(0)
    masker = MaskGenerator(16, heads=4)
    history = torch.randn(3, 10, 16, requires_grad=True)
    reference = torch.randn(3, 6, 16)
    reference_mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 2 + [0] * 4])
    keep = masker(history, reference, reference_mask, k=8, tau=0.5, noise=True)
    assert keep.shape == (3, 10)
    assert torch.allclose(keep.detach(), keep.detach().round())  # hard 0/1 forward
    assert keep.detach().sum(1).tolist() == [8.0, 8.0, 8.0]
    (keep * torch.arange(10.0)).sum().backward()
    grads = [p.grad for p in masker.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0
    assert float(history.grad.abs().sum()) > 0


def test_gumbel_topk_without_noise_keeps_the_highest_scores() -> None:
    scores = torch.tensor([[0.1, 0.9, -0.5, 0.3, 0.8]])
    keep = gumbel_topk(scores, 3, 1.0, noise=False)
    assert keep.detach().tolist() == [[0.0, 1.0, 0.0, 1.0, 1.0]]


def test_diffusion_dpo_loss_matches_a_hand_written_reference() -> None:
    g = torch.Generator().manual_seed(3)
    shape = (4, 4, 8, 8)
    pw, pl, rw, rl, yw, yl = (torch.randn(shape, generator=g) for _ in range(6))
    beta = 2.5
    loss, stats = diffusion_dpo_loss(pw, pl, rw, rl, yw, yl, beta)
    expected, correct = 0.0, 0
    for b in range(4):
        mse = [float(((x[b] - y[b]) ** 2).mean()) for x, y in ((pw, yw), (pl, yl), (rw, yw), (rl, yl))]
        inside = -0.5 * beta * ((mse[0] - mse[1]) - (mse[2] - mse[3]))
        expected += -math.log(1 / (1 + math.exp(-inside))) / 4
        correct += inside > 0
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert stats["implicit_accuracy"] == correct / 4
    # equal policy and reference: log 2, the DPO starting point
    same, _ = diffusion_dpo_loss(pw, pl, pw, pl, yw, yl, beta)
    assert float(same) == pytest.approx(math.log(2), rel=1e-6)


def test_dpo_gradient_lowers_the_chosen_error_relative_to_the_rejected() -> None:
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(2, 4, 4, 4, generator=g)
    pw = torch.randn(2, 4, 4, 4, generator=g, requires_grad=True)
    pl = torch.randn(2, 4, 4, 4, generator=g, requires_grad=True)
    loss, _ = diffusion_dpo_loss(pw, pl, pw.detach(), pl.detach(), noise, noise, 10.0)
    loss.backward()
    # descending the gradient moves the chosen prediction towards the noise and the rejected one away
    assert float((pw.grad * (pw.detach() - noise)).sum()) > 0
    assert float((pl.grad * (pl.detach() - noise)).sum()) < 0


def test_ssim_matches_hand_computed_values() -> None:
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    assert torch.allclose(ssim(x, x), torch.ones(2), atol=1e-5)
    a, b = torch.full((1, 3, 16, 16), 0.5), torch.full((1, 3, 16, 16), -0.2)
    c1 = (0.01 * 2) ** 2
    expected = (2 * 0.5 * -0.2 + c1) / (0.25 + 0.04 + c1)  # constant images: only the luminance term remains
    assert float(ssim(a, b)) == pytest.approx(expected, rel=1e-4)


def test_history_similarity_is_the_mean_cosine() -> None:
    gen = torch.tensor([[1.0, 0.0]])
    hist = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]])
    assert history_similarity(gen, hist).tolist() == [0.0]
    assert history_similarity(gen, hist[:, :2]).tolist() == [0.5]


def test_invalid_settings_are_refused_with_the_setting_named() -> None:
    with pytest.raises(ConfigError, match=r"images\.image_size.*multiple of 8"):
        ImageDataConfig(image_size=30)
    with pytest.raises(ConfigError, match=r"stage1\.tokens_per_image.*1, 4, 9"):
        Stage1Config(tokens_per_image=5)
    with pytest.raises(ConfigError, match=r"stage1\.keep_ratio"):
        Stage1Config(keep_ratio=0.0)
    with pytest.raises(ConfigError, match=r"stage1\.diffusion_preset"):
        Stage1Config(diffusion_preset="sdxl")


def test_unet_lora_leaves_only_the_adapters_trainable() -> None:
    from components.train_diffusion.decoder import add_unet_lora, build_unet, denoise

    unet = build_unet("tiny", 32)
    total = sum(p.numel() for p in unet.parameters())
    add_unet_lora(unet, 4)
    trainable = {n for n, p in unet.named_parameters() if p.requires_grad}
    assert trainable and all("lora" in n for n in trainable)
    assert sum(p.numel() for n, p in unet.named_parameters() if n in trainable) < 0.1 * total
    latents, cond = torch.randn(2, 4, 8, 8), torch.randn(2, 6, 64)
    out = denoise(unet, latents, torch.tensor([10, 500]), cond, torch.ones(2, 6, dtype=torch.long))
    assert out.shape == (2, 4, 8, 8)
    out.pow(2).mean().backward()
    assert all(p.grad is not None for n, p in unet.named_parameters() if n in trainable)


def test_missing_step_outputs_are_named(tmp_path: Path) -> None:
    from components.train_diffusion.bundle import load_pigeon
    from components.train_diffusion.data import ImageData
    from components.train_diffusion.report import read_all

    with pytest.raises(DataError, match=r"^meta\.json: file not found; expected the output of the image-data step"):
        ImageData(tmp_path)
    with pytest.raises(DataError, match=r"^pigeon\.json: file not found; expected a model from the pigeon stage"):
        load_pigeon(tmp_path)
    with pytest.raises(DataError, match=r"^metrics\.json: file not found; expected an evaluation"):
        read_all([tmp_path])


def test_paired_difference_and_interval() -> None:
    from components.train_diffusion.report import paired

    mean, half, share = paired(np.array([1.0, 2.0, 3.0, 0.5]), np.array([0.0, 0.0, 0.0, 1.0]))
    diffs = np.array([1.0, 2.0, 3.0, -0.5])
    assert mean == pytest.approx(1.375)
    assert half == pytest.approx(1.96 * diffs.std(ddof=1) / 2)
    assert share == 0.75
