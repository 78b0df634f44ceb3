"""Which number format each GGUF tensor gets for an ``--outtype``, and its size in bytes.

The rules follow llama.cpp (checked against convert_hf_to_gguf.py's ``prepare_tensors`` and
llama-quantize's ``llama_tensor_get_type``, gguf-py 0.19):

- 1-D tensors, norms, biases and the position embedding (GPT-2) stay f32, for every type.
- f32 / f16 / bf16 / q8_0 (what the converter itself writes): every other matrix, token
  embedding and output included, in that type.
- q4_0 / q4_1 / q5_0 / q5_1 (what llama-quantize makes from an f16 file): the matrices and the
  token embedding in that type; the output matrix (the token embedding when the model ties
  them and has no output matrix) in q8_0. llama-quantize gives that tensor q6_K, a k-quant
  the ``gguf`` library cannot write, and it is the tensor whose precision matters most;
  q8_0 is the nearest it can write.
- A matrix whose rows are not a whole number of blocks (32 values for the q-types) falls back
  to f16, as the converter does.
"""

from __future__ import annotations

import numpy as np

# outtype → (tensor type name, file type name, one-line description for help and dialog)
TYPES = {
    "f16": ("F16", "MOSTLY_F16", "half precision; what llama.cpp runs by default"),
    "f32": ("F32", "ALL_F32", "exact weights, twice the size of f16"),
    "bf16": ("BF16", "MOSTLY_BF16", "bfloat16: f32's range, fewer digits"),
    "q8_0": ("Q8_0", "MOSTLY_Q8_0", "8-bit; close to f16 at about half the size"),
    "q5_1": ("Q5_1", "MOSTLY_Q5_1", "5-bit with offsets"),
    "q5_0": ("Q5_0", "MOSTLY_Q5_0", "5-bit"),
    "q4_1": ("Q4_1", "MOSTLY_Q4_1", "4-bit with offsets"),
    "q4_0": ("Q4_0", "MOSTLY_Q4_0", "4-bit; the smallest, the largest loss"),
}
OUTTYPES = tuple(TYPES)
LEGACY_Q = ("q4_0", "q4_1", "q5_0", "q5_1")   # llama-quantize's types: output kept in q8_0


def qtype(name: str):
    import gguf
    return gguf.GGMLQuantizationType[name]


def file_type(outtype: str):
    import gguf
    return gguf.LlamaFileType[TYPES[outtype][1]]


def tensor_type(name: str, shape: tuple[int, ...], outtype: str, has_output: bool = True):
    """The GGMLQuantizationType this tensor is written in for ``outtype``; ``has_output``:
    whether the file has an output matrix of its own (else the embedding serves as one)."""
    import gguf

    Q = gguf.GGMLQuantizationType
    if len(shape) <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight") \
            or name.startswith("position_embd"):
        return Q.F32
    wanted = qtype(TYPES[outtype][0])
    if outtype in LEGACY_Q and (name == "output.weight"
                                or (name == "token_embd.weight" and not has_output)):
        wanted = Q.Q8_0
    block, _ = gguf.GGML_QUANT_SIZES[wanted]
    if shape[-1] % block:
        return Q.F16   # the converter's fallback for rows that are not whole blocks
    return wanted


def nbytes(shape: tuple[int, ...], typ) -> int:
    import gguf

    block, size = gguf.GGML_QUANT_SIZES[typ]
    rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    return rows * (shape[-1] // block) * size


def convert(w: np.ndarray, typ) -> np.ndarray:
    """``w`` (float32) in the type's on-disk layout (uint8 blocks for the q-types)."""
    import gguf

    return gguf.quants.quantize(np.ascontiguousarray(w, dtype=np.float32), typ)


def human_size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}" if n < 100 * scale else f"{n / scale:.0f} {unit}"
    return f"{n} bytes"
