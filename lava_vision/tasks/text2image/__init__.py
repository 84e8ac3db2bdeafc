"""SDXL text-to-image fine-tuning (paper section 5.5): diffusers components, the SDXL training
step, generation grids, FID / CLIP score and export to diffusers and kohya/LyCORIS formats.
Imports diffusers and transformers lazily, inside the functions that need them."""
