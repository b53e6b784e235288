"""Diffusion upscalers through diffusers: ``StableDiffusionUpscalePipeline`` (SD x4 upscaler) and
``LDMSuperResolutionPipeline``, from a local folder only, tiled like every learned backend.

"Keep the plate" settings by default: a low ``noise_level`` (the noise added to the plate before
it conditions the model; diffusers' default is 20, higher invents more), classifier-free guidance
off (``guidance`` 1: with an empty prompt it only doubles the cost), and a deterministic DDIM path
(``eta`` 0) for the LDM pipeline. Each tile gets its own seeded generator (``seed + tile index``),
so the same inputs give the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keyframe.errors import WeightsError
from keyframe.inpaint.diffusion import load_from_folder
from keyframe.io.models import inspect_model_folder
from keyframe.registry import Progress
from keyframe.upscale.tiles import upscale_tiled

PIPELINE_CLASSES = ("StableDiffusionUpscalePipeline", "LDMSuperResolutionPipeline")
LAYOUT = "a diffusers StableDiffusionUpscalePipeline or LDMSuperResolutionPipeline folder with .safetensors weights"


def load_upscale_pipeline(source: str | Path | None, *, allow_pickle: bool = False) -> Any:
    """Load a local diffusers upscale pipeline (CUDA fp16 when available, else CPU fp32).

    The folder is checked first by :func:`keyframe.io.models.inspect_model_folder`.

    Raises
    ------
    WeightsError
        One line: no model, not a folder of one of :data:`PIPELINE_CLASSES`, missing weights, or
        pickle-only weights without ``allow_pickle``.
    """
    if not source:
        raise WeightsError(f"the diffusers upscale backend needs a model: --model DIR ({LAYOUT})")
    folder = inspect_model_folder(source, pipeline_classes=PIPELINE_CLASSES, allow_pickle=allow_pickle, layout=LAYOUT,
                                  kind="an upscale pipeline")
    import diffusers

    return load_from_folder(getattr(diffusers, folder.pipeline_class), folder, LAYOUT)


def pipeline_scale(pipe: Any) -> int:
    """How many times larger the pipeline's output is: its autoencoder's upsampling factor."""
    vae = pipe.vae if hasattr(pipe, "vae") else pipe.vqvae
    return 2 ** (len(vae.config.block_out_channels) - 1)


@dataclass
class DiffusersUpscaler:
    """A diffusers upscale pipeline run tile by tile with "keep the plate" settings."""

    pipe: Any
    tile: int
    overlap: int
    prompt: str = ""
    noise_level: int = 10
    steps: int = 25
    guidance: float = 1.0
    name: str = "diffusers"

    @property
    def scale(self) -> int:
        return pipeline_scale(self.pipe)

    def _multiple(self) -> int:
        """Input sides must be multiples of this: the UNet halves them once per down block but the last."""
        return 2 ** (len(self.pipe.unet.config.block_out_channels) - 1)

    def upscale(self, plate: np.ndarray, *, seed: int = 0, progress: Progress | None = None) -> np.ndarray:
        import torch

        calls = iter(range(1 << 30))
        multiple, scale = self._multiple(), self.scale
        ldm = type(self.pipe).__name__ == "LDMSuperResolutionPipeline"  # no prompt, no noise level: eta 0

        def run(tile: np.ndarray) -> np.ndarray:
            height, width = tile.shape[:2]
            pad = ((0, -height % multiple), (0, -width % multiple), (0, 0))
            image = torch.from_numpy(np.pad(tile, pad, mode="reflect").transpose(2, 0, 1).copy())[None]
            generator = torch.Generator("cpu").manual_seed(seed + next(calls))
            with torch.inference_mode():
                if ldm:
                    out = self.pipe(image=2 * image - 1, num_inference_steps=self.steps, eta=0.0,
                                    generator=generator, output_type="np").images[0]
                else:
                    out = self.pipe(prompt=self.prompt, image=image, num_inference_steps=self.steps,
                                    guidance_scale=self.guidance, noise_level=self.noise_level,
                                    generator=generator, output_type="np").images[0]
            return np.asarray(out, np.float32)[: height * scale, : width * scale]

        return upscale_tiled(plate, run, scale, tile=self.tile, overlap=self.overlap, progress=progress)

    def describe(self) -> dict[str, Any]:
        found = {
            "model": str(self.pipe.name_or_path),
            "pipeline": type(self.pipe).__name__,
            "scheduler": type(self.pipe.scheduler).__name__,
            "device": str(self.pipe.device),
            "dtype": str(self.pipe.dtype).replace("torch.", ""),
            "steps": self.steps,
            "tile": self.tile,
            "tile_overlap": self.overlap,
        }
        if type(self.pipe).__name__ == "LDMSuperResolutionPipeline":
            return {**found, "eta": 0.0}
        return {**found, "prompt": self.prompt, "noise_level": self.noise_level, "guidance": self.guidance}
