"""A tiny, randomly initialised Stable Diffusion pipeline, built without any download.

It draws noise, not pictures, but it is a real ``StableDiffusionPipeline``: a text encoder,
tokenizer, UNet, VAE and scheduler saved with ``save_pretrained`` and loaded back the way an
operator's model directory is. Operators use it to smoke-test a diffusers installation
(``STORYGATE_IMAGE_MODEL=<directory>``) before fetching gigabytes of weights; the test suite
uses it to run the diffusers backend end to end in well under a second per page on a CPU.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["TINY_WORDS", "build_tiny_pipeline", "tiny_tokenizer_files"]

SPECIAL_START = "<|startoftext|>"
SPECIAL_END = "<|endoftext|>"
# Words the tiny tokenizer keeps whole; anything else falls apart into bytes, which is all a
# random text encoder needs.
TINY_WORDS = ("the", "and", "fox", "cat", "story", "book", "style")
MAX_TOKENS = 77  # CLIP's context length, which the pipeline pads every prompt to


def _byte_alphabet() -> list[str]:
    """GPT-2/CLIP byte-level alphabet: one printable character for each of the 256 bytes."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("\xa1"), ord("\xac") + 1),
        *range(ord("\xae"), ord("\xff") + 1),
    ]
    chars = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def tiny_tokenizer_files(directory: Path) -> Path:
    """Write vocab.json, merges.txt and tokenizer_config.json for a CLIP-style tokenizer.

    The vocabulary holds every byte symbol alone and as a word end (``</w>``), the BPE merges
    that spell out :data:`TINY_WORDS`, and the two special tokens: enough to encode any text.
    """
    directory.mkdir(parents=True, exist_ok=True)
    alphabet = _byte_alphabet()
    vocab: dict[str, int] = {}
    for token in [*alphabet, *(ch + "</w>" for ch in alphabet)]:
        vocab.setdefault(token, len(vocab))
    merges: list[str] = []
    for word in TINY_WORDS:
        # Merge left to right: "f o", "fo x</w>" ... so each word becomes one token.
        pieces = [*word[:-1], word[-1] + "</w>"]
        while len(pieces) > 1:
            left, right = pieces[0], pieces[1]
            merged = left + right
            if f"{left} {right}" not in merges:
                merges.append(f"{left} {right}")
            vocab.setdefault(merged, len(vocab))
            pieces = [merged, *pieces[2:]]
    vocab.setdefault(SPECIAL_START, len(vocab))
    vocab.setdefault(SPECIAL_END, len(vocab))
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), "utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", "utf-8")
    config = {
        "model_max_length": MAX_TOKENS,
        "bos_token": SPECIAL_START,
        "eos_token": SPECIAL_END,
        "unk_token": SPECIAL_END,
        "pad_token": SPECIAL_END,
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config), "utf-8")
    return directory


def build_tiny_pipeline(directory: Path, *, seed: int = 0) -> Path:
    """Save a tiny random StableDiffusionPipeline into ``directory`` and return it.

    Sizes are the smallest the blocks accept (32 channels for the group norms, two levels for
    the UNet and VAE), so a 64x64 picture takes milliseconds per step on a CPU. The same seed
    builds the same weights; the global torch RNG is left as it was.
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    directory = Path(directory)
    with tempfile.TemporaryDirectory(prefix="storygate-tiny-tokenizer-") as scratch:
        tokenizer = CLIPTokenizer.from_pretrained(tiny_tokenizer_files(Path(scratch)))
    vocab_size = len(tokenizer)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            sample_size=16,
            in_channels=4,
            out_channels=4,
            block_out_channels=(32, 64),
            layers_per_block=1,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=(2, 4),
            norm_num_groups=32,
        )
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            block_out_channels=(32, 64),
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
            latent_channels=4,
            layers_per_block=1,
            norm_num_groups=32,
            sample_size=32,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=vocab_size,
                hidden_size=32,
                intermediate_size=37,
                num_hidden_layers=2,
                num_attention_heads=2,
                max_position_embeddings=MAX_TOKENS,
                projection_dim=32,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        )
    scheduler = DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    # Typed loosely: diffusers' lazy-import shims hide the pipeline's methods from mypy.
    pipeline: Any = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    directory.mkdir(parents=True, exist_ok=True)
    pipeline.save_pretrained(directory)
    return directory
