"""The look-ups the panels run on worker threads, with the libraries imported the way
the window needs (one thread at a time, the GUI kept responsive: worker.heavy_imports).
What they compute lives in the core (core/preview.py, core/sft_sample.py)."""

from __future__ import annotations

from ftgui.core import preview, sft_sample as sft_sample_mod
from ftgui.core.config import DataConfig, ModelConfig
from ftgui.core.errors import FtguiError
from ftgui.gui.workers.run_worker import heavy_imports

ModelInfo = preview.ModelInfo
DataPreview = preview.DataPreview
lora_shapes = preview.lora_shapes


def model_info(cfg: ModelConfig, progress=None) -> preview.ModelInfo:
    """A Hub id is sized up first (core/hub.py; reported through ``progress`` as a
    SizeUp as soon as known, before torch loads); its config then comes from the cache."""
    from ftgui.core import hub, models
    if models.resolve_source(cfg.source).kind == "hub":
        if progress:
            progress("Sizing up on the Hugging Face Hub")
        sized = hub.size_up(cfg.source.strip(), cfg.allow_pickle)
        if progress:
            progress(sized)
        if sized.access != "ok":
            raise FtguiError(f"model.source: {sized.access_note}", field="model.source")
    if progress:
        progress("Loading the machine-learning libraries")
    heavy_imports()
    return preview.model_info(cfg, progress)


def data_preview(data_cfg: DataConfig, model_cfg: ModelConfig, seed: int,
                 progress=None) -> preview.DataPreview:
    """The rows first (reported through ``progress`` as soon as known), then the token
    counts once the libraries are in."""
    from ftgui.core import hub
    from ftgui.core.config import looks_like_path
    source = data_cfg.source.strip()
    if source and not looks_like_path(source) and not hub.offline():
        if progress:
            progress("Sizing up on the Hugging Face Hub")
        sized = hub.dataset_size_up(source)   # its configs and splits, or why not
        if progress:
            progress(sized)
            progress("Streaming the first rows")
            heavy_imports()
            # shown while the whole split loads for the counts
            progress(hub.FirstRows(hub.dataset_first_rows(source, data_cfg.config,
                                                          data_cfg.split)))
    if progress:
        progress("Reading the dataset")
    out = preview.data_rows(data_cfg, seed)
    if progress:
        progress(out)
        progress("Loading the tokenizer")
    heavy_imports()
    return preview.count_tokens(out, data_cfg, model_cfg, seed, progress)


def sft_sample(data_cfg: DataConfig, model_cfg: ModelConfig, seed: int):
    heavy_imports()
    return sft_sample_mod.compute(data_cfg, model_cfg, seed)


def device_choice(device: str, precision: str):
    from ftgui.core import devices
    heavy_imports()
    return devices.choose(device, precision)
