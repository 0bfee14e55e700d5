#!/usr/bin/env python3
"""Convert a Hugging Face sentence-transformers snapshot to ONNX and validate the result.

    convert_model.py --model all-MiniLM-L6-v2 [--from DIR] [--out DIR] [--optimize] [--quantize int8]
    convert_model.py --from DIR [--out DIR] [--variants fp32,optimized,int8]

The transformer alone (not the pooling) is exported with optimum-onnx (task feature-extraction):
inputs input_ids, attention_mask and token_type_ids where the model takes them, output
last_hidden_state, dynamic batch and sequence axes. Variants (paths from the manifest's
[variants]): fp32 (always), optimized (onnxruntime.transformers.optimizer fusions, fp32) and int8
(the fp32 file's MatMuls computing in int8 with MatMulIntegerToFloat: weights per output channel,
activations per token, so a text's vector does not depend on its batch; a speed variant on CPUs
with int8 dot products).

Each file is validated against SentenceTransformer(snapshot).encode on scripts/reference_texts.json
(ONNX Runtime + the Pooling, Dense and Normalize modules that modules.json names, in either era's
format), which takes seconds; a figure outside its tolerance ends the script with a non-zero exit
status. The STS-B test split (data/stsb, minutes on a CPU) is evaluated only where it is needed:
for int8, whose validation compares its Spearman correlation with the fp32 file's, or for every
variant and sentence-transformers itself with --stsb.
onnx/conversion.json records each produced file's size, sha256 and recipe (--recipe: embed's hash
of this script, its helpers and the pinned packages; embed refuses a file made by another
recipe and makes it again), the tool versions and the figures. The manifest and the snapshot
are read only; the Rust side is unknown here.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import embed_common as ec

OPSET = 18  # optimum-onnx's recommended minimum for these encoders; ONNX Runtime >= 1.14 runs it

# Tolerances: fp32 and optimized by min cosine to sentence-transformers; int8 by mean cosine and
# STS-B Spearman within INT8_MAX_SPEARMAN_DROP of the fp32 ONNX file.
FP32_MIN_COSINE = 0.99999
OPTIMIZED_MIN_COSINE = 0.9999
INT8_MEAN_COSINE = 0.99
INT8_MAX_SPEARMAN_DROP = 0.01

VARIANT_ORDER = ["fp32", "optimized", "int8"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="model name in models/manifest.toml")
    p.add_argument("--manifest", type=Path, help="a manifest file to read instead of models/manifest.toml")
    p.add_argument("--from", dest="source", type=Path, help="snapshot directory (default: <models dir>/<model>)")
    p.add_argument("--out", type=Path, help="output model directory (default: the snapshot directory)")
    p.add_argument("--optimize", action="store_true", help="also write the optimized variant")
    p.add_argument("--quantize", choices=["int8"], help="also write the int8 variant")
    p.add_argument("--variants", help="comma-separated variant names (instead of --optimize/--quantize)")
    p.add_argument(
        "--recipe",
        required=True,
        help="the recipe this conversion is (the sha256 embed computes of this script, its helpers and "
        "requirements.txt), recorded with every file made, so a file made by another recipe is never taken for this one's",
    )
    p.add_argument("--threads", type=int, default=max(1, os.cpu_count() or 1))
    p.add_argument(
        "--reuse-fp32",
        action="store_true",
        help="keep an existing fp32 file whose sha256 onnx/conversion.json records, with its figures",
    )
    p.add_argument(
        "--stsb",
        action="store_true",
        help="also compute the STS-B figures of sentence-transformers and of every variant "
        "(int8 and, for its comparison, fp32 always get them)",
    )
    args = p.parse_args()
    if not args.model and not args.source:
        p.error("give --model NAME or --from DIR")
    return args


def requested_variants(args: argparse.Namespace, manifest: dict, model: dict | None) -> list[str]:
    names = {"fp32"}
    if args.variants:
        names |= {v.strip() for v in args.variants.split(",") if v.strip()}
    if args.optimize:
        names.add("optimized")
    if args.quantize:
        names.add(args.quantize)
    unknown = names - set(manifest["variants"]) - set(VARIANT_ORDER)
    if unknown:
        raise SystemExit(f"error: unknown variants {sorted(unknown)}; known: {sorted(manifest['variants'])}")
    if model is not None:
        for v in sorted(names):
            reason = model.get("not_offered", {}).get(v)
            if reason:
                raise SystemExit(f"error: variant `{v}` of {model['name']} is not offered: {reason}")
    return [v for v in VARIANT_ORDER if v in names]


def copy_support_files(snapshot: Path, out: Path) -> list[str]:
    copied = []
    if snapshot.resolve() == out.resolve():
        return copied
    for rel in ec.SUPPORT_FILES:
        src = snapshot / rel
        if src.is_file():
            dst = out / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            copied.append(rel)
    return copied


def without_position_ids(snapshot: Path) -> dict | None:
    """optimum exports decoders (Qwen2, Qwen3) with a position_ids input; embed feeds input_ids and
    attention_mask only, padded on the right, where the model's own positions (0, 1, ... in each
    row) are those of the unpadded text. For such a model: its export config without that input,
    as main_export's custom_onnx_configs; else None."""
    from optimum.exporters.tasks import TasksManager
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(snapshot), local_files_only=True)
    constructor = TasksManager.get_exporter_config_constructor(
        "onnx", task="feature-extraction", model_type=config.model_type, library_name="transformers"
    )
    exporter = constructor(config, task="feature-extraction")
    if "position_ids" not in exporter.inputs:
        return None

    class WithoutPositionIds(type(exporter)):
        @property
        def inputs(self) -> dict:
            inputs = dict(super().inputs)
            inputs.pop("position_ids", None)
            return inputs

    return {"model": WithoutPositionIds(config, task="feature-extraction")}


def export_fp32(snapshot: Path, dest: Path) -> dict:
    """optimum-onnx export of the transformer: feature-extraction, last_hidden_state, dynamic axes."""
    from optimum.exporters.onnx import main_export

    custom = without_position_ids(snapshot)
    with tempfile.TemporaryDirectory(prefix="embed-export-") as tmp:
        # library_name="transformers": the plain AutoModel, without sentence-transformers' pooling.
        main_export(
            str(snapshot),
            output=tmp,
            task="feature-extraction",
            opset=OPSET,
            device="cpu",
            library_name="transformers",
            do_validation=False,
            local_files_only=True,
            **({"custom_onnx_configs": custom} if custom else {}),
        )
        produced = Path(tmp) / "model.onnx"
        if not produced.exists():
            raise SystemExit(f"error: the export wrote no model.onnx (found {sorted(os.listdir(tmp))})")
        extra = [f for f in os.listdir(tmp) if f.startswith("model.onnx") and f != "model.onnx"]
        if extra:
            raise SystemExit(f"error: the export wrote external data {extra}; models over 2 GB are not handled")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(produced), dest)
    return check_graph(dest)


def check_graph(path: Path) -> dict:
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    inputs = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in m.graph.input}
    outputs = {o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in m.graph.output}
    allowed = {"input_ids", "attention_mask", "token_type_ids"}
    if not {"input_ids", "attention_mask"} <= set(inputs) or set(inputs) - allowed:
        raise SystemExit(f"error: unexpected inputs {inputs} in {path}")
    if "last_hidden_state" not in outputs:
        raise SystemExit(f"error: no last_hidden_state output in {path} (outputs: {list(outputs)})")
    for name, dims in list(inputs.items()) + [("last_hidden_state", outputs["last_hidden_state"])]:
        if not (isinstance(dims[0], str) and isinstance(dims[1], str)):
            raise SystemExit(f"error: {name} of {path} has static batch or sequence axes: {dims}")
    opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), None)
    return {"inputs": inputs, "outputs": {"last_hidden_state": outputs["last_hidden_state"]}, "opset": opset}


def optimizer_model_type(hf_config: dict) -> str:
    # onnxruntime's transformer optimizer knows BERT-like encoders as "bert"; MPNet, RoBERTa,
    # XLM-R and DistilBERT have their own names or share BERT's fusions.
    kind = hf_config.get("model_type", "bert")
    return {"distilbert": "bert", "roberta": "bert", "xlm-roberta": "bert", "mpnet": "bert"}.get(kind, "bert")


def optimize(fp32: Path, dest: Path, hf_config: dict) -> dict:
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    model_type = optimizer_model_type(hf_config)
    opts = FusionOptions(model_type)
    opts.enable_gelu_approximation = False  # exact GELU: keeps the vectors equal to the reference
    opt = optimize_model(
        str(fp32),
        model_type=model_type,
        num_heads=int(hf_config.get("num_attention_heads", 0)),
        hidden_size=int(hf_config.get("hidden_size", 0)),
        optimization_options=opts,
        opt_level=0,  # graph fusions only; ONNX Runtime's own optimizations run at load time
        use_gpu=False,
        only_onnxruntime=False,
    )
    stats = {k: v for k, v in opt.get_fused_operator_statistics().items() if v}
    opt.save_model_to_file(str(dest), use_external_data_format=False)
    info = check_graph(dest)
    info["model_type"] = model_type
    info["fused_operators"] = stats
    return info


# int8: weights symmetric per output channel in [-WEIGHT_QMAX, WEIGHT_QMAX], 7-bit so that the
# sum of two u8 x s8 products stays clear of int16 saturation on CPUs without VNNI (AVX2): the
# file gives the same vectors on every x86 CPU. Activations are quantized per token (per row of
# the matrix, over its last axis), symmetric, as uint8 around ACTIVATION_ZERO_POINT: each
# token's scale depends on that token alone, so a text's vector never depends on the other
# texts of its batch (ONNX Runtime's DynamicQuantizeLinear takes one scale for the whole
# tensor, which made a text's int8 vector change with its batch neighbours).
WEIGHT_QMAX = 64
ACTIVATION_QMAX = 127
ACTIVATION_ZERO_POINT = 128


def quantize(fp32: Path, dest: Path, exclude: list[str]) -> dict:
    """int8 that computes in int8 and gives each text one vector: each MatMul with a constant
    weight (but those in `exclude`) becomes the per-token quantization of its input (shared by
    the MatMuls that read the same tensor), ONNX Runtime's MatMulIntegerToFloat on the int8
    weight (the int8 product with the weight's scales applied in its epilogue) and the
    per-token scale applied to its result. ONNX Runtime runs it with the CPU's int8 dot
    products (AVX512-VNNI, AVX-VNNI, AMX, Arm dot product). Measured on all-MiniLM-L6-v2, 2
    threads, STS-B sentences in batches of 32 (docs/int8.md): as fast as the per-tensor
    DynamicQuantizeLinear it replaced; MatMulInteger with a separate Cast and two Muls ran
    0.94x, int8 activations (s8 x s8) 0.17x."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(fp32), load_external_data=False)
    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1

    def constant(name: str, value) -> str:
        graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    last_axis = constant("embed_q/last_axis", np.array([-1], dtype=np.int64))
    tiny = constant("embed_q/tiny", np.array(1e-30, dtype=np.float32))
    qmax = constant("embed_q/activation_qmax", np.array(ACTIVATION_QMAX, dtype=np.float32))
    centre = constant("embed_q/centre", np.array(ACTIVATION_ZERO_POINT, dtype=np.float32))
    low = constant("embed_q/low", np.array(0, dtype=np.float32))
    high = constant("embed_q/high", np.array(255, dtype=np.float32))
    unit = constant("embed_q/unit_scale", np.array(1.0, dtype=np.float32))
    a_zero = constant("embed_q/a_zero_point", np.array(ACTIVATION_ZERO_POINT, dtype=np.uint8))
    b_zero = constant("embed_q/b_zero_point", np.array(0, dtype=np.int8))

    nodes = []
    quantized: dict[str, tuple[str, str]] = {}  # activation -> (its uint8 tensor, its per-token scale)
    counts = {"MatMul": 0, "MatMulIntegerToFloat": 0}
    for node in graph.node:
        weight = initializers.get(node.input[1]) if node.op_type == "MatMul" and len(node.input) == 2 else None
        if weight is None or len(weight.dims) != 2 or node.name in exclude:
            counts["MatMul"] += node.op_type == "MatMul"
            nodes.append(node)
            continue
        x = node.input[0]
        if x not in quantized:
            p = f"embed_q/{len(quantized)}/"
            nodes += [
                helper.make_node("Abs", [x], [p + "abs"]),
                helper.make_node("ReduceMax", [p + "abs", last_axis], [p + "amax"], keepdims=1),
                helper.make_node("Max", [p + "amax", tiny], [p + "range"]),
                helper.make_node("Div", [p + "range", qmax], [p + "scale"]),
                helper.make_node("Div", [x, p + "scale"], [p + "scaled"]),
                helper.make_node("Round", [p + "scaled"], [p + "rounded"]),
                helper.make_node("Add", [p + "rounded", centre], [p + "shifted"]),
                helper.make_node("Clip", [p + "shifted", low, high], [p + "clipped"]),
                helper.make_node("Cast", [p + "clipped"], [p + "uint8"], to=TensorProto.UINT8),
            ]
            quantized[x] = (p + "uint8", p + "scale")
        x_q, x_scale = quantized[x]
        w = numpy_helper.to_array(weight).astype(np.float32)
        w_scale = np.abs(w).max(axis=0) / WEIGHT_QMAX
        w_scale[w_scale == 0] = 1.0
        w_q = np.clip(np.round(w / w_scale), -WEIGHT_QMAX, WEIGHT_QMAX).astype(np.int8)
        p = f"{node.name}/embed_q/"
        constant(p + "weight", w_q)
        constant(p + "weight_scale", w_scale.astype(np.float32))
        nodes += [
            helper.make_node(
                "MatMulIntegerToFloat",
                [x_q, p + "weight", unit, p + "weight_scale", a_zero, b_zero],
                [p + "per_channel"],
                name=p + "MatMulIntegerToFloat",
                domain="com.microsoft",
            ),
            helper.make_node("Mul", [p + "per_channel", x_scale], [node.output[0]]),
        ]
        counts["MatMulIntegerToFloat"] += 1
        readers[weight.name] -= 1
        if readers[weight.name] == 0:
            graph.initializer.remove(weight)
    del graph.node[:]
    graph.node.extend(nodes)
    if not counts["MatMulIntegerToFloat"]:
        raise SystemExit(f"error: no MatMul of {fp32} has a constant weight: the int8 file would compute in fp32")
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(dest))
    info = check_graph(dest)
    info["quantization"] = {
        "weights": f"int8, symmetric per output channel, |q| <= {WEIGHT_QMAX}",
        "activations": f"uint8 per token, symmetric around {ACTIVATION_ZERO_POINT}, |q - {ACTIVATION_ZERO_POINT}| <= {ACTIVATION_QMAX}",
        "nodes_to_exclude": exclude,
    }
    # MatMul left: the excluded projections and attention's activation x activation products.
    info["matmul_ops"] = counts
    return info


# Which MatMuls the int8 variant keeps in fp32, per model type: the feed-forward
# down-projections of the first `down_projections` layers (None: of every layer), and every
# MatMul of the last `last_layers` layers. The down-projection's input is the GELU output, the
# activation with the widest range. Measured with per-token activations (this recipe) on the
# reference texts against sentence-transformers, STS-B, and speed with ONNX Runtime, 2 threads,
# batches of 32 STS-B sentences, on an AMD EPYC with AVX512-VNNI (docs/int8.md):
# - all-MiniLM-L6-v2 (bert): every MatMul in int8: mean cosine 0.9933 (min 0.9819), STS-B
#   0.8193 (fp32 0.8203), 1.98x fp32 texts/s;
# - all-mpnet-base-v2 (mpnet): every MatMul in int8: mean cosine 0.9895, refused; the first 3
#   down-projections in fp32: mean 0.9906 (min 0.9589), STS-B 0.8374 (fp32 0.8342), 1.61x;
#   every down-projection in fp32: mean 0.9928, 1.39x.
# Other model types get every down-projection in fp32, the safer choice on both.
INT8_FP32_MATMULS = {
    "bert": {"down_projections": 0, "last_layers": 0},
    "mpnet": {"down_projections": 3, "last_layers": 0},
}
INT8_FP32_MATMULS_DEFAULT = {"down_projections": None, "last_layers": 0}


def int8_exclusions(fp32: Path, hf_config: dict) -> list[str]:
    """MatMul nodes the int8 variant keeps in fp32 (INT8_FP32_MATMULS): feed-forward
    down-projections (`.../output/dense/MatMul`, not the attention output) and the MatMuls of
    the last layers. Every other MatMul with a constant weight computes in int8."""
    import re

    import onnx

    rule = INT8_FP32_MATMULS.get(hf_config.get("model_type", ""), INT8_FP32_MATMULS_DEFAULT)
    layers = int(hf_config.get("num_hidden_layers", 0))
    first_down = rule["down_projections"] if rule["down_projections"] is not None else layers
    m = onnx.load(str(fp32), load_external_data=False)
    out = []
    for n in m.graph.node:
        if n.op_type != "MatMul":
            continue
        layer = re.search(r"/layer\.(\d+)/", n.name)
        if layer is None:
            continue
        index = int(layer.group(1))
        down = n.name.endswith("/output/dense/MatMul") and "/attention/" not in n.name
        if (down and index < first_down) or index >= layers - rule["last_layers"]:
            out.append(n.name)
    return out


def main() -> int:
    args = parse_args()
    started = time.time()
    manifest = ec.load_manifest(args.manifest)
    model = ec.find_model(manifest, args.model) if args.model else None
    snapshot = args.source or (ec.models_dir() / model["name"])
    snapshot = snapshot.resolve()
    out = (args.out or snapshot).resolve()
    if not (snapshot / "config.json").is_file():
        raise SystemExit(f"error: {snapshot} is not a Hugging Face snapshot (no config.json)")
    if model is None:
        # --from alone: use the manifest entry when the folder is named after a known model.
        model = next((m for m in manifest["model"] if m["name"] == snapshot.name), None)
    variants = requested_variants(args, manifest, model)
    cfg = ec.read_st_config(snapshot)
    ec.check_against_manifest(cfg, model)
    hf_config = ec.read_json(snapshot / "config.json") or {}
    out.mkdir(parents=True, exist_ok=True)
    copied = copy_support_files(snapshot, out)
    name = model["name"] if model else snapshot.name
    ec.log(f"converting {name} from {snapshot} into {out}: {', '.join(variants)}")

    record_path = out / "onnx" / "conversion.json"
    record = ec.read_json(record_path) or {}
    reuse_fp32 = False
    if args.reuse_fp32:
        fp32_path = out / manifest["variants"]["fp32"]
        known = record.get("files", {}).get("fp32", {})
        reuse_fp32 = (
            fp32_path.is_file()
            and known.get("recipe") == args.recipe
            and known.get("sha256") == ec.sha256_file(fp32_path)
            and "fp32" in record.get("validation", {})
        )
        ec.log(f"fp32: {'reusing' if reuse_fp32 else 'cannot reuse'} {fp32_path}")

    texts = ec.load_texts()
    st = ec.load_sentence_transformer(snapshot, args.threads)
    if st.max_seq_length != cfg.max_seq_length:
        raise SystemExit(f"error: sentence-transformers uses max_seq_length {st.max_seq_length}, the configs say {cfg.max_seq_length}")
    tokenizer = ec.Tokenizer(snapshot, cfg)
    check_tokenization(st, tokenizer, texts)
    ec.log("reference: sentence-transformers on the reference texts")
    reference = ec.st_encode(st, texts)
    stsb = ec.stsb_path()
    # Which variants get the STS-B figures: int8 needs its own and fp32's to be judged.
    stsb_variants = set(VARIANT_ORDER) if args.stsb else ({"int8", "fp32"} if "int8" in variants else set())
    figures: dict[str, dict] = {}
    if args.stsb and not (reuse_fp32 and "sentence-transformers" in record.get("validation", {})):
        ec.log(f"reference: sentence-transformers on STS-B test ({stsb})")
        figures["sentence-transformers"] = {"stsb_test_spearman": round(ec.stsb_spearman(lambda t: ec.st_encode(st, t), stsb), 6)}
    del st

    record.update(
        {
            "model": name,
            "hub_repo": model["hub_repo"] if model else None,
            "revision": model["revision"] if model else None,
            "source": str(snapshot),
            "converted_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "versions": ec.versions(),
            "max_seq_length": cfg.max_seq_length,
            "pooling": cfg.pooling,
            "normalize": cfg.normalize,
            "tolerances": {
                "fp32_min_cosine": FP32_MIN_COSINE,
                "optimized_min_cosine": OPTIMIZED_MIN_COSINE,
                "int8_mean_cosine": INT8_MEAN_COSINE,
                "int8_max_stsb_spearman_drop": INT8_MAX_SPEARMAN_DROP,
            },
        }
    )
    if copied:
        record["support_files"] = {rel: file_entry(out / rel, out) for rel in copied}
    record.setdefault("files", {})
    record.setdefault("validation", {})
    if "sentence-transformers" in figures:
        record["validation"]["sentence-transformers"] = figures["sentence-transformers"]

    failures = []
    fp32_spearman = None
    for variant in variants:
        if variant == "fp32" and reuse_fp32:
            fp32_spearman = record["validation"]["fp32"].get("stsb_test_spearman")
            if fp32_spearman is None and "fp32" in stsb_variants:
                ec.log("fp32: STS-B figures of the reused file")
                reused = ec.OnnxEmbedder(out / manifest["variants"]["fp32"], tokenizer, cfg, args.threads)
                fp32_spearman = round(ec.stsb_spearman(reused.embed, stsb), 6)
                record["validation"]["fp32"]["stsb_test_spearman"] = fp32_spearman
            continue
        rel = manifest["variants"][variant]
        path = out / rel
        t0 = time.time()
        ec.log(f"{variant}: writing {rel}")
        if variant == "fp32":
            info = export_fp32(snapshot, path)
        elif variant == "optimized":
            info = optimize(out / manifest["variants"]["fp32"], path, hf_config)
        else:
            exclude = int8_exclusions(out / manifest["variants"]["fp32"], hf_config)
            info = quantize(out / manifest["variants"]["fp32"], path, exclude)
        info["seconds"] = round(time.time() - t0, 1)
        ec.log(f"{variant}: validating")
        embedder = ec.OnnxEmbedder(path, tokenizer, cfg, args.threads)
        cos = ec.cosines(embedder.embed(texts), reference)
        fig = {"min_cosine": round(float(cos.min()), 9), "mean_cosine": round(float(cos.mean()), 9), "texts": len(texts)}
        fig["worst_text_index"] = int(cos.argmin())
        if variant in stsb_variants:
            ec.log(f"{variant}: STS-B test ({stsb})")
            fig["stsb_test_spearman"] = round(ec.stsb_spearman(embedder.embed, stsb), 6)
        if variant == "fp32":
            fp32_spearman = fig.get("stsb_test_spearman")
        ok, why = judge(variant, fig, fp32_spearman)
        fig["passed"] = ok
        print(f"{name} {variant}: " + ", ".join(f"{k}={v}" for k, v in fig.items()), flush=True)
        if ok:
            record["files"][variant] = file_entry(path, out) | {"recipe": args.recipe} | info
            record["validation"][variant] = fig
        else:
            failures.append(f"{variant}: {why}")
            record["files"].pop(variant, None)
            record["validation"][variant] = fig
            path.unlink(missing_ok=True)
    record["seconds"] = round(time.time() - started, 1)
    record_path.parent.mkdir(parents=True, exist_ok=True)
    with open(record_path, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2, sort_keys=False)
        f.write("\n")
    if failures:
        for fail in failures:
            ec.log(f"error: {name} {fail}")
        return 1
    ec.log(f"{name}: all variants passed in {record['seconds']} s; record in {record_path}")
    return 0


def judge(variant: str, fig: dict, fp32_spearman: float | None) -> tuple[bool, str]:
    if variant == "fp32" and fig["min_cosine"] < FP32_MIN_COSINE:
        return False, f"min cosine {fig['min_cosine']} < {FP32_MIN_COSINE}"
    if variant == "optimized" and fig["min_cosine"] < OPTIMIZED_MIN_COSINE:
        return False, f"min cosine {fig['min_cosine']} < {OPTIMIZED_MIN_COSINE}"
    if variant == "int8":
        if fig["mean_cosine"] < INT8_MEAN_COSINE:
            return False, f"mean cosine {fig['mean_cosine']} < {INT8_MEAN_COSINE} (min {fig['min_cosine']})"
        drop = (fp32_spearman or 0.0) - fig["stsb_test_spearman"]
        if fp32_spearman is None or drop > INT8_MAX_SPEARMAN_DROP:
            return False, f"STS-B Spearman {fig['stsb_test_spearman']} vs fp32 {fp32_spearman} (drop > {INT8_MAX_SPEARMAN_DROP})"
    return True, ""


def check_tokenization(st, tokenizer: ec.Tokenizer, texts: list[str]) -> None:
    """The token ids of tokenizer.json as set up here must be those sentence-transformers uses."""
    ours = [[int(i) for i, m in zip(ids, mask) if m] for ids, mask in (
        (e["input_ids"][0], e["attention_mask"][0]) for e in (tokenizer.encode([t]) for t in texts))]
    theirs = ec.st_token_ids(st, texts)
    bad = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    if bad:
        raise SystemExit(f"error: tokenizer.json tokenizes texts {bad} differently from sentence-transformers")
    batch = tokenizer.encode(texts)
    for i, ids in enumerate(ours):
        row = [int(x) for x, m in zip(batch["input_ids"][i], batch["attention_mask"][i]) if m]
        if row != ids:
            raise SystemExit(f"error: text {i} tokenizes differently inside a padded batch")


def file_entry(path: Path, root: Path) -> dict:
    return {"path": path.relative_to(root).as_posix(), "size": path.stat().st_size, "sha256": ec.sha256_file(path)}


if __name__ == "__main__":
    sys.exit(main())
