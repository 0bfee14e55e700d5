#!/usr/bin/env python3
"""Write the config.json that transformers 5 saves for the rotary architecture fixtures, so that
the native engine's reading of transformers 5's keys (`layer_types`, `rope_parameters` in place
of `rope_theta`, `global_rope_theta`/`local_rope_theta`, `rope_local_base_freq`) is tested on
files transformers itself wrote.

    <python with transformers 5> scripts/transformers5_configs.py \\
        --fixtures fixtures/architectures --out fixtures/transformers5 [--only NAME ...]

For each fixture (FIXTURES below) this script loads `<fixtures>/<name>/` with transformers'
`AutoModel.from_pretrained`, saves the model's configuration with `save_pretrained` into a
scratch folder and copies the `config.json` it wrote to `<out>/<name>/config.json`. Nothing else
of the fixture changes: the weights and the reference vectors are the fixture's own.

The conversion venv (`cargo xtask fixtures`) holds transformers 4, which writes the older keys;
run this with a Python whose transformers is 5.x (it refuses another major version). Loading
and saving are deterministic, so a rerun with the same transformers writes the same files.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

# The fixtures with rotary positions, whose config.json transformers 5 writes differently.
FIXTURES = ["gemma3", "modernbert", "qwen2", "qwen3"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fixtures", type=Path, required=True, help="folder of the fixtures (fixtures/architectures)")
    p.add_argument("--out", type=Path, required=True, help="folder of the configs written (fixtures/transformers5)")
    p.add_argument("--only", action="append", choices=FIXTURES, help="write only this fixture's (repeatable)")
    args = p.parse_args()
    import transformers
    from transformers import AutoModel

    if int(transformers.__version__.split(".")[0]) != 5:
        print(f"error: transformers {transformers.__version__} is not 5.x", file=sys.stderr)
        return 2
    for name in args.only or FIXTURES:
        model = AutoModel.from_pretrained(str(args.fixtures / name))
        with tempfile.TemporaryDirectory(prefix=f"transformers5-{name}-") as tmp:
            model.config.save_pretrained(tmp)
            target = args.out / name
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(tmp) / "config.json", target / "config.json")
        print(f"{name}: wrote {target / 'config.json'} (transformers {transformers.__version__})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
