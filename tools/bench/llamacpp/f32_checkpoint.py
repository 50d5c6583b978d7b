#!/usr/bin/env python3
"""Copies a Hugging Face checkpoint directory with every bf16 tensor widened to f32 (exact: bf16 is the top half of
an f32), so banyan's engine can be benchmarked on the same f32 weights as an `banyan export gguf --type f32` file.

usage: f32_checkpoint.py SRC_DIR DST_DIR      (single-file or sharded *.safetensors; other files are copied)
"""
import json
import shutil
import struct
import sys
from pathlib import Path


def widen_file(src: Path, dst: Path) -> None:
    data = src.read_bytes()
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + hlen])
    body = memoryview(data)[8 + hlen :]
    out_header, chunks, offset = {}, [], 0
    for name, info in header.items():
        if name == "__metadata__":
            out_header[name] = info
            continue
        begin, end = info["data_offsets"]
        raw = body[begin:end]
        if info["dtype"] == "BF16":
            wide = bytearray(2 * len(raw))  # little endian: low half zero, high half = the bf16 bits
            wide[2::4] = raw[0::2]
            wide[3::4] = raw[1::2]
            raw, dtype = bytes(wide), "F32"
        elif info["dtype"] == "F32":
            raw, dtype = bytes(raw), "F32"
        else:
            sys.exit(f"{src}: tensor {name} has dtype {info['dtype']}; only BF16 and F32 are handled")
        out_header[name] = {"dtype": dtype, "shape": info["shape"], "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    h = json.dumps(out_header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    dst.mkdir(parents=True, exist_ok=True)
    for p in sorted(src.iterdir()):
        if p.suffix == ".safetensors":
            widen_file(p, dst / p.name)
        elif p.is_file():
            shutil.copyfile(p, dst / p.name)
    cfg = dst / "config.json"
    if cfg.exists():
        c = json.loads(cfg.read_text())
        c["torch_dtype"] = "float32"
        cfg.write_text(json.dumps(c, indent=1))


if __name__ == "__main__":
    main()
