"""Set-up of the answer selector: the torch cross-encoder, the shipped delta weights laid over the
base model, and its one-time export to ONNX (`python -m qa.selector_export`, run by `make model`).

Questions never come here once the export exists (`qa.selector` scores with ONNX Runtime); the
training command (`qa.training.train_selector`) builds and saves the same module.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from embeddings.model.onnx_runtime import INT8_SUFFIX, ONNX_FILE, int8_path, table_path
from qa.selector import (PAD, SELECTOR_CARD, SELECTOR_WEIGHTS, SelectorError, export_prefix, pair_ids, read_card,
                         selector_onnx_path, selector_tokenizer)

logger = logging.getLogger(__name__)


def build_module(base_folder: Path, frozen_layers: int, span_head: bool = False):
    """The torch cross-encoder: base transformer, mean pooling, linear head; lower layers frozen.

    With `span_head`, a second linear layer gives every token a start and an
    end logit, and the module returns (logit, start logits, end logits).
    """
    import torch
    from transformers import AutoModel

    class CrossEncoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(base_folder), dtype=torch.float32)
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)
            self.span = torch.nn.Linear(self.encoder.config.hidden_size, 2) if span_head else None
            for name, parameter in self.encoder.named_parameters():
                parameter.requires_grad = trainable_name(name, frozen_layers)

        def forward(self, input_ids, attention_mask):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            logit = self.head(pooled).squeeze(-1)
            if self.span is None:
                return logit
            start, end = self.span(hidden).unbind(-1)
            return logit, start, end

    return CrossEncoder()


def trainable_name(name: str, frozen_layers: int) -> bool:
    """Is this base-model parameter fine-tuned (an encoder layer at or above frozen_layers)?"""
    parts = name.split(".")
    if "layer" in parts:
        position = parts.index("layer")
        if position + 1 < len(parts) and parts[position + 1].isdigit():
            return int(parts[position + 1]) >= frozen_layers
    return False


def load_delta(module, weights: Path):
    """Lay delta weights (written by the training command) over the module's trainable tensors.

    Raises:
        SelectorError: the file lacks some of them (trained with other --frozen-layers).
    """
    from safetensors.torch import load_file

    delta = load_file(str(weights))
    missing = [n for n, p in module.named_parameters() if p.requires_grad and n not in delta]
    if missing:
        raise SelectorError(f"{weights} lacks {len(missing)} tensors (e.g. {missing[0]}); it was trained with "
                            f"other settings: retrain with `python -m qa.training.train_selector`")
    module.load_state_dict({k: v.float() for k, v in delta.items()}, strict=False)
    return module


def delta_state(module) -> dict:
    """The tensors training changed (upper layers and head), as fp16 numpy-ready torch tensors."""
    return {name: p.detach().to("cpu").half().contiguous() for name, p in module.named_parameters()
            if p.requires_grad}


def export_selector(weights: Path = SELECTOR_WEIGHTS, card: Path = SELECTOR_CARD, force: bool = False,
                    cache_dir: Path | None = None) -> Path:
    """Lay the shipped weights over the base model and export the cross-encoder to ONNX (needs torch).

    Run once at set-up (`make model`, or on first use); a no-op when the export exists.

    Raises:
        SelectorError: weights missing or not matching the card's settings.
    """
    config = read_card(weights, card)
    target = selector_onnx_path(config, cache_dir)
    if not force:
        _adopt_older_export(target, config.version)
    if target.is_file() and table_path(target).is_file() and not force:
        # An export from before the int8 variant existed gets it now (seconds, no torch).
        if not (int8_path(target).is_file() and table_path(int8_path(target)).is_file()):
            _quantize(target)
        return target
    from embeddings.model.build import DEFAULT_MODEL, default_onnx_dir, resolve_model
    from embeddings.model.onnx_export import OnnxExportError, export_module, share_table

    # The delta weights apply to the default model only, whatever model an index uses.
    base = Path(resolve_model(DEFAULT_MODEL, cache_dir)[1])
    module = load_delta(build_module(base, config.frozen_layers, config.span_head), weights)
    tokenizer = selector_tokenizer(base)
    question, sentence, title, previous = tokenizer.encode(
        ["2022年百色市铝产业总产值是多少?", "2022年,全市铝产业总产值1045亿元,占广西铝产业的80%以上。", "百色铝产业",
         "百色是广西的铝产业基地。"], add_special_tokens=False)
    check = [[pair_ids(question, sentence, title, config, previous), pair_ids(question[:4], sentence[:6], [], config)],
             [pair_ids(question, sentence, title, config)]]
    try:
        export_module(module, target, check, PAD, output_name=("logit", "start", "end") if config.span_head else "logit")
    except OnnxExportError as exc:
        raise SelectorError(f"cannot export the answer selector to {target}: {exc}") from exc
    # Its token table is the base model's, unchanged by training: one file with the encoder's.
    share_table(target, default_onnx_dir(cache_dir) / ONNX_FILE)
    _quantize(target)
    return target


def _adopt_older_export(target: Path, version: str) -> None:
    """Give `target` the fp32 graph of an older export of the same version, and delete the rest of that export.

    An export revision (`qa.selector.SELECTOR_EXPORT`) changes the int8
    variant, not the fp32 graph, so the graph is kept (no torch needed) and
    the variant is made again from it; the old variant would only take disk.
    """
    if target.is_file():
        return
    for old in sorted(target.parent.glob(f"{export_prefix(version)}*.onnx")):
        if old.name.endswith(INT8_SUFFIX + ".onnx") or old == target:
            continue
        if table_path(old).is_file() and not target.is_file():
            try:
                os.replace(table_path(old), table_path(target))
                os.replace(old, target)
                logger.info("kept the selector's fp32 export %s as %s", old.name, target.name)
            except FileNotFoundError:
                pass  # another process is adopting it; without it, the caller exports again
        for leftover in (old, table_path(old), int8_path(old), table_path(int8_path(old))):
            leftover.unlink(missing_ok=True)


def _quantize(target: Path) -> None:
    """Write the int8 variant the selector answers with by default (`AnswerSelector(int8=...)`).

    Int8 blocks with activations quantised per row: a candidate's logit does
    not depend on the candidates read with it (docs/performance.md, section 11).
    """
    from embeddings.model.onnx_export import OnnxExportError, quantize_int8_blockwise

    try:
        quantize_int8_blockwise(target)
    except OnnxExportError as exc:
        raise SelectorError(f"cannot write the answer selector's int8 variant: {exc}") from exc


def main(argv: list[str] | None = None) -> int:
    """`python -m qa.selector_export [--force]`: set-up of the models that answer, in `Settings.cache_dir`.

    Builds the default embedding model and its ONNX export (the selector's base
    and shared token table), then exports the shipped selector to ONNX.
    """
    import argparse
    import logging

    from embeddings.model.build import ModelBuildError, prepare_default_model
    from qa.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m qa.selector_export", description=main.__doc__)
    parser.add_argument("--force", action="store_true", help="build and export again even when the files exist")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cache_dir = Settings().cache_dir
    try:
        for folder in prepare_default_model(cache_dir, force=args.force):
            print(folder)
        print(export_selector(force=args.force, cache_dir=cache_dir))
    except (ModelBuildError, SelectorError) as error:
        print(f"qa.selector_export: {error}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
