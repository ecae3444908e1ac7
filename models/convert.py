#!/usr/bin/env python3
"""Regenerate peerlens' ONNX models from MediaPipe's npm packages.

Run it through models/convert.sh, which sets up the pinned Python environment.

Steps:
 1. `npm pack` the pinned @mediapipe packages into ~/.cache/peerlens/npm.
 2. Extract the four .tflite files (face_landmark.tflite from face_mesh's
    packed assets, at the byte range its loader script lists) and check
    their sha256.
 3. Convert each with `tf2onnx --tflite ... --opset 17`.
 4. Plain models (models/plain/): the tf2onnx graph with deterministic names,
    the batch fixed to 1, and, for the segmenters, MediaPipe's custom op
    Convolution2DTransposeBias rewritten as a standard ConvTranspose + bias.
 5. Shipped models (models/): the plain graph plus the exact rewrites for
    tract that each model takes (MODELS[name]["rewrites"], applied in the
    order of REWRITES): bilinear Resize -> nearest Resize + Pad(edge) +
    [.25,.5,.25] depthwise Convs; PRelu -> Relu(x) + slope*Min(x,0); zero
    spatial Pad folded into Conv; one layout for the whole graph
    (channels-first, or channels-last with Transposes that tract folds into
    each Conv); 2x2 MaxPool as Slices + Max on the channels-last tensor;
    small per-channel constants tiled along W; channel Pad -> Concat with
    zeros; the input Transpose as Split + Concat. Each is checked against
    onnxruntime on the graph before it and on the plain graph.
 6. Check the plain graphs against the TFLite interpreter, write
    models/provenance.json and print a summary table.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

MODELS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(MODELS_DIR / "reference"))
import decoder as ref  # noqa: E402
from images import test_images  # noqa: E402

CACHE = Path(os.environ.get("PEERLENS_CACHE", Path.home() / ".cache" / "peerlens"))
NPM_CACHE = CACHE / "npm"
WORK = CACHE / "models-work"

TOLERANCE = 1e-5  # max abs diff allowed between plain and shipped graphs

PACKAGES = {
    "face_detection": {
        "npm": "@mediapipe/face_detection",
        "version": "0.4.1657300184",
        "integrity": "sha512-k5aYtTf7av7GwD3C9T4LJB/okHK/uJwFQSOmJ9OHZMlwg7SdYVMolRgDlA962OU7fIBKsrOA7f7BzD2gpzcAKw==",
    },
    "face_mesh": {
        "npm": "@mediapipe/face_mesh",
        "version": "0.4.1657299874",
        "integrity": "sha512-Jdza+77HjDH4SQ6/DAYmnKUYdh2fU1GbhuGqXZbkK5rnJKpZLZe5KQeJmwUq9dmkYkCPSq4oe9vmcuveRPpwag==",
    },
    "selfie_segmentation": {
        "npm": "@mediapipe/selfie_segmentation",
        "version": "0.1.1675465747",
        "integrity": "sha512-IxYxNhwE5VwOm52L1yoFWYLP7q9Pd+NJjzOC5tlepfvEGaY3o9hslhUrx9BgseqdfZtKSDtd/4NfCSMjNzQalA==",
    },
}

MODELS = {
    "face_detection_short_range": {
        "package": "face_detection",
        "file": "face_detection_short_range.tflite",
        "sha256": "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
        "input_range": (-1.0, 1.0),
        "rewrites": ("pad_fold", "channels_last", "maxpool_nhwc", "pad_concat"),
    },
    "face_landmark": {
        "package": "face_mesh",
        "file": "face_landmark.tflite",
        "packed": "face_mesh_solution_packed_assets.data",
        "loader": "face_mesh_solution_packed_assets_loader.js",
        "sha256": "c603fa6149219a3e9487dc9abd7a0c24474c77263273d24868378cdf40aa26d1",
        "input_range": (0.0, 1.0),
        "rewrites": ("prelu", "pad_fold", "channels_last", "maxpool_nhwc", "tile_consts"),
    },
    "selfie_segmentation": {
        "package": "selfie_segmentation",
        "file": "selfie_segmentation.tflite",
        "sha256": "8d13b7fae74af625c641226813616a2117bd6bca19eb3b75574621fc08557f27",
        "input_range": (0.0, 1.0),
        "rewrites": ("resize", "pad_fold", "channels_first"),
    },
    "selfie_segmentation_landscape": {
        "package": "selfie_segmentation",
        "file": "selfie_segmentation_landscape.tflite",
        "sha256": "4aafe6223bb8dac6fac8ca8ed56852870a33051ef3f6238822d282a109962894",
        "input_range": (0.0, 1.0),
        "rewrites": ("resize", "pad_fold", "channels_first", "split_input"),
    },
}


def say(msg: str) -> None:
    print(f"[convert] {msg}", flush=True)


def sha256_file(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def sha512_integrity(p: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(p.read_bytes()).digest()).decode()


# --------------------------------------------------------------------------
# 1-2. npm packages and .tflite extraction
# --------------------------------------------------------------------------


def tarball_path(pkg: str) -> Path:
    info = PACKAGES[pkg]
    name = info["npm"].lstrip("@").replace("/", "-")
    return NPM_CACHE / f"{name}-{info['version']}.tgz"


def ensure_tarball(pkg: str) -> Path:
    info = PACKAGES[pkg]
    tgz = tarball_path(pkg)
    if tgz.exists():
        say(f"npm: {info['npm']}@{info['version']} already in {tgz}")
    else:
        NPM_CACHE.mkdir(parents=True, exist_ok=True)
        say(f"npm: packing {info['npm']}@{info['version']} into {NPM_CACHE}")
        r = subprocess.run(["npm", "pack", "--loglevel=error", f"{info['npm']}@{info['version']}",
                            "--pack-destination", str(NPM_CACHE)], capture_output=True, text=True)
        if r.returncode != 0:
            sys.stderr.write(r.stdout + r.stderr)
            raise SystemExit(f"npm pack {info['npm']}@{info['version']} failed")
        if not tgz.exists():
            raise SystemExit(f"npm pack did not produce {tgz}")
    return tgz


def read_from_tarball(tgz: Path, member: str) -> bytes:
    with tarfile.open(tgz, "r:gz") as tf:
        f = tf.extractfile(f"package/{member}")
        if f is None:
            raise SystemExit(f"{member} not found in {tgz}")
        return f.read()


def packed_asset_range(loader_js: str, file_name: str) -> tuple[int, int, str]:
    """The byte range of file_name in an emscripten packed-assets .data file,
    as listed in its loader script: loadPackage({"files": [{"filename": ...,
    "start": ..., "end": ...}, ...], ...})."""
    m = re.search(r"loadPackage\((\{.*?\})\);", loader_js, re.S)
    if not m:
        raise SystemExit("loadPackage({...}) not found in the loader script")
    meta = json.loads(m.group(1))
    for f in meta["files"]:
        if f["filename"].rsplit("/", 1)[-1] == file_name:
            return int(f["start"]), int(f["end"]), f["filename"]
    raise SystemExit(f"{file_name} not listed in the loader script")


def ensure_tflite(name: str) -> Path:
    """Extract one model's .tflite into the work dir and check its sha256."""
    spec = MODELS[name]
    out = WORK / "tflite" / spec["file"]
    if out.exists() and sha256_file(out) == spec["sha256"]:
        return out
    tgz = ensure_tarball(spec["package"])
    if "packed" in spec:
        loader = read_from_tarball(tgz, spec["loader"]).decode()
        start, end, full = packed_asset_range(loader, spec["file"])
        data = read_from_tarball(tgz, spec["packed"])[start:end]
        say(f"extract: {spec['file']} = bytes [{start}, {end}) of {spec['packed']} ({full})")
    else:
        data = read_from_tarball(tgz, spec["file"])
        say(f"extract: {spec['file']} from {tgz.name}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec["sha256"]:
        raise SystemExit(f"sha256 mismatch for {spec['file']}: got {digest}, expected {spec['sha256']}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out


# --------------------------------------------------------------------------
# TFLite helpers
# --------------------------------------------------------------------------


def tflite_interpreter(path: Path):
    import tensorflow as tf

    it = tf.lite.Interpreter(
        model_path=str(path),
        num_threads=1,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    it.allocate_tensors()
    return it


def run_tflite(it, x: np.ndarray) -> dict:
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], x)
    it.invoke()
    return {o["name"]: it.get_tensor(o["index"]).copy() for o in it.get_output_details()}


def custom_transpose_conv_params(tflite_path: Path) -> dict:
    """Read the TfLiteTransposeConvParams {padding, stride_w, stride_h} that
    MediaPipe stores as custom options of Convolution2DTransposeBias."""
    from tensorflow.lite.python import schema_py_generated as S

    m = S.ModelT.InitFromObj(S.Model.GetRootAsModel(tflite_path.read_bytes(), 0))
    found = []
    for sg in m.subgraphs:
        for op in sg.operators:
            code = m.operatorCodes[op.opcodeIndex].customCode
            if code and bytes(code) == b"Convolution2DTransposeBias":
                padding, stride_w, stride_h = np.frombuffer(bytes(bytearray(op.customOptions)), "<i4")[:3]
                found.append({"padding": {1: "SAME", 2: "VALID"}.get(int(padding), int(padding)),
                              "stride_w": int(stride_w), "stride_h": int(stride_h)})
    return found


def patch_tflite_transpose_conv(src: Path, dst: Path) -> None:
    """Write a copy of a segmenter .tflite whose custom op
    Convolution2DTransposeBias is replaced by the builtin TRANSPOSE_CONV (v3,
    with bias), which the stock TFLite interpreter runs. Used only to check
    the ONNX rewrite of the custom op against TFLite."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as S

    m = S.ModelT.InitFromObj(S.Model.GetRootAsModel(src.read_bytes(), 0))
    code = S.OperatorCodeT()
    code.builtinCode = S.BuiltinOperator.TRANSPOSE_CONV
    code.deprecatedBuiltinCode = S.BuiltinOperator.TRANSPOSE_CONV
    code.version = 3
    m.operatorCodes.append(code)
    code_index = len(m.operatorCodes) - 1
    sg = m.subgraphs[0]
    for op in sg.operators:
        c = m.operatorCodes[op.opcodeIndex].customCode
        if not (c and bytes(c) == b"Convolution2DTransposeBias"):
            continue
        padding, stride_w, stride_h = np.frombuffer(bytes(bytearray(op.customOptions)), "<i4")[:3]
        x, w, b = op.inputs
        out_shape = np.asarray(sg.tensors[op.outputs[0]].shape, np.int32)
        buf = S.BufferT()
        buf.data = np.frombuffer(out_shape.tobytes(), np.uint8)
        m.buffers.append(buf)
        t = S.TensorT()
        t.shape = np.array([len(out_shape)], np.int32)
        t.type = S.TensorType.INT32
        t.buffer = len(m.buffers) - 1
        t.name = b"peerlens_output_shape"
        sg.tensors.append(t)
        op.opcodeIndex = code_index
        op.inputs = np.array([len(sg.tensors) - 1, w, x, b], np.int32)
        opts = S.TransposeConvOptionsT()
        opts.padding = int(padding) - 1  # TfLitePadding (1 SAME, 2 VALID) -> schema Padding (0 SAME, 1 VALID)
        opts.strideW = int(stride_w)
        opts.strideH = int(stride_h)
        op.builtinOptionsType = S.BuiltinOptions.TransposeConvOptions
        op.builtinOptions = opts
        op.customOptions = None
    builder = flatbuffers.Builder(0)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    dst.write_bytes(builder.Output())


# --------------------------------------------------------------------------
# 3. tf2onnx
# --------------------------------------------------------------------------


def tf2onnx_convert(tflite: Path, out: Path) -> onnx.ModelProto:
    log = out.with_suffix(".log")
    say(f"tf2onnx: --tflite {tflite.name} --opset 17 (log: {log})")
    with open(log, "w") as f:
        subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--tflite", str(tflite), "--opset", "17",
                        "--output", str(out)], check=True, stdout=f, stderr=subprocess.STDOUT)
    for line in log.read_text().splitlines():
        if "Unsupported ops" in line:
            say("tf2onnx: " + line.split(" - ", 2)[-1])
    return onnx.load(str(out))


# --------------------------------------------------------------------------
# ONNX graph utilities
# --------------------------------------------------------------------------


def consumers(g: onnx.GraphProto) -> dict:
    out: dict = {}
    for n in g.node:
        for i in n.input:
            out.setdefault(i, []).append(n)
    return out


def producers(g: onnx.GraphProto) -> dict:
    return {o: n for n in g.node for o in n.output}


def inits(g: onnx.GraphProto) -> dict:
    return {t.name: t for t in g.initializer}


def drop_unused(g: onnx.GraphProto) -> None:
    """Remove nodes whose outputs are unused, then unused initializers."""
    while True:
        used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        dead = [n for n in g.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            g.node.remove(n)
    used = {i for n in g.node for i in n.input}
    for t in [t for t in g.initializer if t.name not in used]:
        g.initializer.remove(t)


def remove_identity_reshapes(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """Drop Reshape nodes whose static output shape equals their input shape.
    tf2onnx's transpose optimizer leaves a varying number of these no-ops
    ([1,C,1,1] -> [1,C,1,1]) in the segmenters from one run to the next."""
    model = onnx.shape_inference.infer_shapes(model)
    g = model.graph
    shapes = {}
    for v in list(g.value_info) + list(g.input) + list(g.output):
        shapes[v.name] = [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
    graph_outputs = {o.name for o in g.output}
    removed = 0
    for n in [n for n in g.node if n.op_type == "Reshape"]:
        s_in, s_out = shapes.get(n.input[0]), shapes.get(n.output[0])
        if not s_in or None in s_in or s_in != s_out or n.output[0] in graph_outputs:
            continue
        for u in g.node:
            for k, i in enumerate(u.input):
                if i == n.output[0]:
                    u.input[k] = n.input[0]
        g.node.remove(n)
        removed += 1
    drop_unused(g)
    del g.value_info[:]
    return model, removed


def tflite_duplicate_names(tflite_path: Path) -> dict:
    """tf2onnx merges TFLite ops that compute the same thing (same op, inputs
    and options; face_landmark has two identical MaxPools) and keeps the name
    of whichever it meets first, which varies between runs. Map every output
    name of such a group to the name of the group's first op, so that the
    surviving node is always named the same."""
    from tensorflow.lite.python import schema_py_generated as S

    m = S.ModelT.InitFromObj(S.Model.GetRootAsModel(tflite_path.read_bytes(), 0))
    mapping = {}
    for sg in m.subgraphs:
        groups: dict = {}
        for op in sg.operators:
            if op.outputs is None or len(op.outputs) != 1:
                continue
            opts = op.builtinOptions
            key = (op.opcodeIndex, tuple(int(i) for i in op.inputs),
                   repr(sorted(vars(opts).items())) if opts is not None else None,
                   bytes(bytearray(op.customOptions)) if op.customOptions is not None else None)
            groups.setdefault(key, []).append(sg.tensors[op.outputs[0]].name.decode())
        for names in groups.values():
            for n in names[1:]:
                mapping[n] = names[0]
    return mapping


_COUNTER = re.compile(r"__\d+")


def canonicalize(model: onnx.ModelProto, doc: str, aliases: dict | None = None) -> onnx.ModelProto:
    """Make the graph byte-for-byte reproducible. tf2onnx numbers the names it
    makes up (e.g. const_fold_opt__402, Transpose__307:0) in an order that
    changes from run to run. Renumber them in graph order, order the
    initializers by first use, and replace the doc string (which holds the
    input path). `aliases` renames the survivors of merged duplicate ops
    (see tflite_duplicate_names)."""
    g = model.graph
    mapping: dict = {}
    counter = [0]

    aliases = aliases or {}

    def rename(name: str) -> str:
        if name in aliases:
            return aliases[name]
        if not name or not _COUNTER.search(name):
            return name
        if name not in mapping:
            def sub(_m):
                counter[0] += 1
                return f"__{counter[0]}"
            mapping[name] = _COUNTER.sub(sub, name)
        return mapping[name]

    fixed = {i.name for i in g.input} | {o.name for o in g.output}
    for n in g.node:
        n.name = rename(n.name)
        for k, i in enumerate(n.input):
            if i not in fixed:
                n.input[k] = rename(i)
        for k, o in enumerate(n.output):
            if o not in fixed:
                n.output[k] = rename(o)
    order = {}
    for n in g.node:
        for i in n.input:
            order.setdefault(i, len(order))
    for t in g.initializer:
        t.name = rename(t.name)
    sorted_inits = sorted(g.initializer, key=lambda t: order.get(t.name, 1 << 30))
    del g.initializer[:]
    g.initializer.extend(sorted_inits)
    model.doc_string = doc
    g.doc_string = ""
    return model


def finalize(model: onnx.ModelProto) -> onnx.ModelProto:
    """Fix the batch to 1, drop unused opset imports, recompute value_info by
    shape inference and check the model."""
    g = model.graph
    for v in list(g.input) + list(g.output):
        dims = v.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].Clear()
            dims[0].dim_value = 1
    used_domains = {n.domain for n in g.node}
    keep = [o for o in model.opset_import if o.domain in ("", "ai.onnx") or o.domain in used_domains]
    del model.opset_import[:]
    model.opset_import.extend(keep)
    del g.value_info[:]
    model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    for v in list(model.graph.input) + list(model.graph.output):
        dims = [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
        if None in dims or dims[0] != 1:
            raise SystemExit(f"{v.name} does not have a static shape with batch 1: {dims}")
    onnx.checker.check_model(model, full_check=True)
    return model


def shape_of(model: onnx.ModelProto, name: str) -> list[int]:
    for v in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        if v.name == name:
            return [d.dim_value for d in v.type.tensor_type.shape.dim]
    raise KeyError(name)


def io_signature(model: onnx.ModelProto):
    def sig(vs):
        return [(v.name, [d.dim_value for d in v.type.tensor_type.shape.dim]) for v in vs]
    return sig(model.graph.input), sig(model.graph.output)


def replace_node(g: onnx.GraphProto, old: onnx.NodeProto, new: list) -> None:
    idx = list(g.node).index(old)
    g.node.remove(old)
    for k, n in enumerate(new):
        g.node.insert(idx + k, n)


# --------------------------------------------------------------------------
# 4. Plain: custom op rewrite
# --------------------------------------------------------------------------


def rewrite_custom_transpose_conv(model: onnx.ModelProto, params: list) -> int:
    """MediaPipe's Convolution2DTransposeBias(x NHWC, W [cout,kh,kw,cin],
    b [cout]) -> ConvTranspose(x NCHW, W' [cin,cout,kh,kw], b), stride 2,
    kernel 2, no padding, with the layout changed around it. tf2onnx keeps the
    op as TFL_Convolution2DTransposeBias after a Transpose NCHW->NHWC; that
    Transpose is cancelled against the NHWC->NCHW one the rewrite needs."""
    g = model.graph
    count = 0
    for n in [n for n in g.node if n.op_type == "TFL_Convolution2DTransposeBias"]:
        p = params[count]
        if p != {"padding": "SAME", "stride_w": 2, "stride_h": 2}:
            raise SystemExit(f"unexpected Convolution2DTransposeBias options {p}")
        ini = inits(g)
        x, w_name, b_name = n.input
        w = numpy_helper.to_array(ini[w_name]).astype(np.float32)
        b = numpy_helper.to_array(ini[b_name]).astype(np.float32).reshape(-1)
        cout, kh, kw, cin = w.shape
        if (kh, kw) != (2, 2) or b.shape != (cout,):
            raise SystemExit(f"unexpected Convolution2DTransposeBias weights {w.shape} / bias {b.shape}")
        # SAME padding with kernel 2 and stride 2: total padding (in-1)*2 + 2 - 2*in = 0.
        base = n.name
        w_t = numpy_helper.from_array(np.ascontiguousarray(w.transpose(3, 0, 1, 2)), base + "/W")
        b_t = numpy_helper.from_array(b, base + "/B")
        g.initializer.extend([w_t, b_t])
        prod = producers(g).get(x)
        cons = consumers(g)
        new = []
        if (prod is not None and prod.op_type == "Transpose"
                and list(helper.get_attribute_value(prod.attribute[0])) == [0, 2, 3, 1]
                and len(cons.get(x, [])) == 1 and x not in {o.name for o in g.output}):
            x_nchw = prod.input[0]
        else:
            x_nchw = base + "/input_nchw"
            new.append(helper.make_node("Transpose", [x], [x_nchw], name=base + "/to_nchw", perm=[0, 3, 1, 2]))
        y_nchw = base + "/output_nchw"
        new.append(helper.make_node("ConvTranspose", [x_nchw, w_t.name, b_t.name], [y_nchw], name=base,
                                    kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0]))
        new.append(helper.make_node("Transpose", [y_nchw], [n.output[0]], name=base + "/to_nhwc", perm=[0, 2, 3, 1]))
        replace_node(g, n, new)
        count += 1
    drop_unused(g)
    return count


# --------------------------------------------------------------------------
# 5. Shipped: rewrites for tract
# --------------------------------------------------------------------------


def attrs_of(n: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in n.attribute}


def const_i64(g: onnx.GraphProto, name: str, values) -> str:
    g.initializer.append(numpy_helper.from_array(np.array(values, np.int64), name))
    return name


def rewrite_resize(model: onnx.ModelProto) -> int:
    """Bilinear 2x Resize (half_pixel) -> nearest 2x Resize + Pad(edge, 1) +
    two depthwise Convs with the taps [.25, .5, .25] (first along H, then
    along W).

    With half_pixel coordinates, output o reads input (o + 0.5)/2 - 0.5, so
    output 2k is .25 x[k-1] + .75 x[k] and 2k+1 is .75 x[k] + .25 x[k+1],
    edges clamped. On the nearest upsample u (u[j] = x[j // 2]) that is
    .25 u[j-1] + .5 u[j] + .25 u[j+1], and edge padding u supplies the
    clamped neighbours. The taps are powers of two, so every product is
    exact and only the additions round. tract runs the nearest upsample as
    a copy and the taps as depthwise convolutions, much faster than its
    Resize or a strided depthwise ConvTranspose."""
    g = model.graph
    k3 = np.array([0.25, 0.5, 0.25], np.float32)
    count = 0
    for n in [n for n in g.node if n.op_type == "Resize"]:
        attrs = attrs_of(n)
        mode = attrs.get("mode", b"nearest").decode()
        ctm = attrs.get("coordinate_transformation_mode", b"half_pixel").decode()
        ini = inits(g)
        in_shape = shape_of(model, n.input[0])
        out_shape = shape_of(model, n.output[0])
        scales = numpy_helper.to_array(ini[n.input[2]]).tolist() if len(n.input) > 2 and n.input[2] in ini else None
        if mode != "linear":
            continue
        if ctm not in ("half_pixel", "pytorch_half_pixel"):
            raise SystemExit(f"{n.name}: coordinate_transformation_mode {ctm} is not handled")
        if attrs.get("antialias", 0) or len(in_shape) != 4 or out_shape != [in_shape[0], in_shape[1], 2 * in_shape[2], 2 * in_shape[3]]:
            raise SystemExit(f"{n.name}: not a plain NCHW 2x upsample ({in_shape} -> {out_shape}, scales {scales})")
        if ctm == "pytorch_half_pixel" and min(out_shape[2:]) <= 1:
            raise SystemExit(f"{n.name}: pytorch_half_pixel with a 1-pixel output")
        c = in_shape[1]
        base = n.name
        scales2 = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), base + "/scales")
        wv = numpy_helper.from_array(np.ascontiguousarray(np.broadcast_to(k3.reshape(3, 1), (c, 1, 3, 1))), base + "/taps_h")
        wh = numpy_helper.from_array(np.ascontiguousarray(np.broadcast_to(k3.reshape(1, 3), (c, 1, 1, 3))), base + "/taps_w")
        g.initializer.extend([scales2, wv, wh])
        pads = const_i64(g, base + "/pads", [0, 0, 1, 1, 0, 0, 1, 1])
        new = [
            helper.make_node("Resize", [n.input[0], "", scales2.name], [base + "/nearest"], name=base + "/nearest",
                             mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
            helper.make_node("Pad", [base + "/nearest", pads], [base + "/padded"], name=base + "/pad", mode="edge"),
            helper.make_node("Conv", [base + "/padded", wv.name], [base + "/smooth_h"], name=base + "/smooth_h",
                             group=c, kernel_shape=[3, 1]),
            helper.make_node("Conv", [base + "/smooth_h", wh.name], [n.output[0]], name=base,
                             group=c, kernel_shape=[1, 3]),
        ]
        replace_node(g, n, new)
        count += 1
    drop_unused(g)
    return count


def rewrite_prelu(model: onnx.ModelProto) -> int:
    """PRelu(x, slope) -> Relu(x) + slope * Min(x, 0). Exact for any slope
    (Max(x, slope*x) would be wrong for slopes > 1 or < 0)."""
    g = model.graph
    prelus = [n for n in g.node if n.op_type == "PRelu"]
    if not prelus:
        return 0
    zero = numpy_helper.from_array(np.array(0.0, np.float32), "peerlens_prelu_zero")
    g.initializer.append(zero)
    for n in prelus:
        x, slope = n.input
        y = n.output[0]
        base = n.name
        replace_node(g, n, [
            helper.make_node("Relu", [x], [base + "/pos"], name=base + "/relu"),
            helper.make_node("Min", [x, zero.name], [base + "/neg"], name=base + "/min"),
            helper.make_node("Mul", [base + "/neg", slope], [base + "/neg_scaled"], name=base + "/mul"),
            helper.make_node("Add", [base + "/pos", base + "/neg_scaled"], [y], name=base),
        ])
    return len(prelus)


def fold_pads(model: onnx.ModelProto) -> int:
    """Fold a constant-zero Pad that pads only H and W into the pads of the
    Conv nodes that consume it. Returns how many Pad nodes were folded. (In
    these four graphs every Pad pads channels, so none qualifies.)"""
    g = model.graph
    count = 0
    for n in [n for n in g.node if n.op_type == "Pad"]:
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        if attrs.get("mode", b"constant") != b"constant":
            continue
        ini = inits(g)
        if n.input[1] not in ini:
            continue
        if len(n.input) > 2 and n.input[2]:
            if n.input[2] not in ini or np.any(numpy_helper.to_array(ini[n.input[2]]) != 0):
                continue
        if len(n.input) > 3 and n.input[3]:
            continue  # explicit axes: not produced by tf2onnx here
        pads = numpy_helper.to_array(ini[n.input[1]]).tolist()
        if len(pads) != 8 or any(p < 0 for p in pads):
            continue
        begin, end = pads[:4], pads[4:]
        if begin[0] or begin[1] or end[0] or end[1]:
            continue  # pads batch or channels
        users = consumers(g).get(n.output[0], [])
        if not users or n.output[0] in {o.name for o in g.output}:
            continue
        if any(u.op_type != "Conv" or u.input[0] != n.output[0] for u in users):
            continue
        ok = True
        for u in users:
            a = {x.name: helper.get_attribute_value(x) for x in u.attribute}
            if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                ok = False
        if not ok:
            continue
        for u in users:
            old = [0, 0, 0, 0]
            for x in list(u.attribute):
                if x.name == "pads":
                    old = list(x.ints)
                    u.attribute.remove(x)
            u.attribute.append(helper.make_attribute(
                "pads", [old[0] + begin[2], old[1] + begin[3], old[2] + end[2], old[3] + end[3]]))
            u.input[0] = n.input[0]
        g.node.remove(n)
        count += 1
    drop_unused(g)
    return count


# Layout. ONNX convolutions and pools are channels-first (NCHW); MediaPipe's
# graphs are channels-last (NHWC), so tf2onnx leaves Transposes between the
# two. tract folds a Transpose next to a Conv into the Conv (which it can run
# either way) and pushes the others through element-wise ops, but where the
# two layouts meet it materialises copies (MoveAxis) and may run a reduction
# over strided axes. These passes put each model in one layout: every value
# is stored either as the original graph has it or transposed by a fixed
# permutation, each Transpose becomes a relabelling, and Transposes are only
# added where an op needs the other layout (channels_first: the graph input
# and outputs; channels_last: around each Conv/pool, which tract then folds
# into them). Data movement only, so exact.

LAYOUT_UNARY = {"Relu", "Sigmoid", "HardSwish", "HardSigmoid", "Tanh", "Abs", "Neg", "Identity"}
LAYOUT_BINARY = {"Add", "Mul", "Sub", "Div", "Min", "Max"}
LAYOUT_NCHW_OPS = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"}


def _inverse(p: tuple) -> tuple:
    r = [0] * len(p)
    for i, x in enumerate(p):
        r[x] = i
    return tuple(r)


def _keeps_data_order(shape: list, p: tuple) -> bool:
    """Whether transposing a tensor of `shape` by p moves only size-1 axes
    relative to the others, i.e. is a reshape."""
    kept = [p[i] for i in range(len(p)) if shape[p[i]] != 1]
    return kept == sorted(kept)


def relayout(model: onnx.ModelProto, channels_last: bool) -> dict:
    """Rewrite the graph so that every value v is held as transpose(v, perm[v])
    and no Transpose node is left except where an op needs another layout.
    channels_last: also keep the outputs of Conv/pool ops channels-last (a
    Transpose after each, and one before each; tract folds both into the op).
    Returns counts of Transposes before and after."""
    g = model.graph
    ini = inits(g)
    shapes: dict = {}

    def lshape(v: str) -> list:
        if v not in shapes:
            shapes[v] = list(ini[v].dims) if v in ini else shape_of(model, v)
        return shapes[v]

    def ident(r: int) -> tuple:
        return tuple(range(r))

    def tag(p: tuple) -> str:
        return "".join(map(str, p))

    wrapped = 0
    stored = {i.name: i.name for i in g.input}  # value -> tensor holding it
    perm: dict = {}                             # value -> p: stored = transpose(value, p)
    new_nodes: list = []
    new_inits: list = []
    made: dict = {}
    before = sum(n.op_type == "Transpose" for n in g.node)

    def p_of(v: str) -> tuple:
        return perm.get(v, ident(len(lshape(v))))

    def const_as(v: str, p: tuple) -> str:
        """A constant operand of a broadcasting op on values held with perm p."""
        a = numpy_helper.to_array(ini[v])
        if a.ndim == 0 or p == ident(len(p)):
            return v
        key = (v, p)
        if key not in made:
            b = np.ascontiguousarray(np.transpose(a.reshape((1,) * (len(p) - a.ndim) + a.shape), p))
            made[key] = f"{v}/perm{tag(p)}"
            new_inits.append(numpy_helper.from_array(b, made[key]))
        return made[key]

    def get(v: str, want: tuple) -> str:
        """The name of a tensor holding value v transposed by `want`."""
        if v in ini:
            return const_as(v, want)
        p = p_of(v)
        if p == want:
            return stored[v]
        key = (v, want)
        if key not in made:
            q = tuple(_inverse(p)[w] for w in want)
            src = stored[v]
            name = f"{src}/perm{tag(want)}"
            if _keeps_data_order([lshape(v)[i] for i in p], q):
                shp = const_i64(g, name + "/shape", [lshape(v)[i] for i in want])
                new_nodes.append(helper.make_node("Reshape", [src, shp], [name], name=name))
            else:
                new_nodes.append(helper.make_node("Transpose", [src], [name], name=name, perm=list(q)))
            made[key] = name
        return made[key]

    def emit(n: onnx.NodeProto, inputs: list, p: tuple | None) -> onnx.NodeProto:
        m = onnx.NodeProto()
        m.CopyFrom(n)
        del m.input[:]
        m.input.extend(inputs)
        new_nodes.append(m)
        for o in n.output:
            stored[o] = o
            if p is not None:
                perm[o] = p
        return m

    for n in g.node:
        op = n.op_type
        a = attrs_of(n)
        if op == "Transpose":
            t_inv = _inverse(tuple(a["perm"]))
            stored[n.output[0]] = stored[n.input[0]]
            perm[n.output[0]] = tuple(t_inv[i] for i in p_of(n.input[0]))
            continue
        if op in LAYOUT_UNARY:
            emit(n, [stored[n.input[0]]], p_of(n.input[0]))
            continue
        if op in LAYOUT_BINARY:
            rank = len(lshape(n.output[0]))
            dyn = [i for i in n.input if i not in ini]
            if any(len(lshape(i)) != rank for i in dyn):
                raise SystemExit(f"{n.name}: broadcasting a lower-rank dynamic input is not handled")
            candidates = list(dict.fromkeys(p_of(i) for i in dyn)) or [ident(rank)]

            def cost(p: tuple) -> int:
                # a Transpose costs, a relabelling Reshape does not
                return sum(1 for i in dyn if p_of(i) != p and not _keeps_data_order(
                    [lshape(i)[k] for k in p_of(i)], tuple(_inverse(p_of(i))[w] for w in p)))
            p = min(candidates, key=cost)
            emit(n, [const_as(i, p) if i in ini else get(i, p) for i in n.input], p)
            continue
        if op == "Pad" and n.input[1] in ini and not (len(n.input) > 3 and n.input[3]):
            p = p_of(n.input[0])
            r = len(p)
            pads = numpy_helper.to_array(ini[n.input[1]]).tolist()
            pads_name = n.input[1]
            if p != ident(r):
                pads_name = f"{n.input[1]}/perm{tag(p)}"
                if pads_name not in made:
                    made[pads_name] = pads_name
                    new_inits.append(numpy_helper.from_array(
                        np.array([pads[p[i]] for i in range(r)] + [pads[r + p[i]] for i in range(r)], np.int64), pads_name))
            emit(n, [stored[n.input[0]], pads_name] + list(n.input[2:]), p)
            continue
        if op == "Concat" and not any(i in ini for i in n.input):
            r = len(lshape(n.output[0]))
            p = p_of(n.input[0])
            m = emit(n, [get(i, p) for i in n.input], p)
            for at in m.attribute:
                if at.name == "axis":
                    at.i = _inverse(p)[a["axis"] % r]
            continue
        if op == "ReduceMean" and a.get("keepdims", 1) == 1 and "axes" in a and len(n.input) == 1:
            p = p_of(n.input[0])
            m = emit(n, [stored[n.input[0]]], p)
            for at in m.attribute:
                if at.name == "axes":
                    del at.ints[:]
                    at.ints.extend(sorted(_inverse(p)[x % len(p)] for x in a["axes"]))
            continue
        if op == "Reshape" and n.input[1] in ini:
            x = n.input[0]
            p = p_of(x)
            xs, out = lshape(x), lshape(n.output[0])
            held = [xs[i] for i in p]
            if _keeps_data_order(xs, p):
                if len(held) == len(out) and [d for d in held if d != 1] == [d for d in out if d != 1]:
                    # a reshape that only moves size-1 axes: relabel, no node
                    big = iter([i for i, d in enumerate(out) if d != 1])
                    ones = iter([i for i, d in enumerate(out) if d == 1])
                    stored[n.output[0]] = stored[x]
                    perm[n.output[0]] = tuple(next(big) if d != 1 else next(ones) for d in held)
                    continue
                emit(n, [stored[x], n.input[1]], None)
                continue
            emit(n, [get(x, ident(len(xs))), n.input[1]], None)
            continue
        # any other op: its inputs in the graph's own layout
        emit(n, [i if (i == "" or i in ini) else get(i, ident(len(lshape(i)))) for i in n.input], None)
        if channels_last and op in LAYOUT_NCHW_OPS and len(lshape(n.output[0])) == 4:
            o = n.output[0]
            t = o + "/nhwc"
            new_nodes.append(helper.make_node("Transpose", [o], [t], name=t, perm=[0, 2, 3, 1]))
            stored[o] = t
            perm[o] = (0, 2, 3, 1)
            wrapped += 1

    # graph outputs: in their own layout, under their own name
    renames: dict = {}
    for o in g.output:
        final = get(o.name, ident(len(lshape(o.name))))
        if final != o.name:
            renames[o.name] = o.name + "/unpermuted_src"
            renames[final] = o.name
    for m in new_nodes:
        for k, i in enumerate(m.input):
            m.input[k] = renames.get(i, i)
        for k, i in enumerate(m.output):
            m.output[k] = renames.get(i, i)
    del g.node[:]
    g.node.extend(new_nodes)
    g.initializer.extend(new_inits)
    drop_unused(g)
    return {"transposes_before": before, "transposes_after": sum(n.op_type == "Transpose" for n in g.node),
            "channels_last_ops": wrapped}


def layout_channels_first(model: onnx.ModelProto) -> int:
    """Everything channels-first; returns how many Transposes were removed."""
    c = relayout(model, channels_last=False)
    return c["transposes_before"] - c["transposes_after"]


def layout_channels_last(model: onnx.ModelProto) -> int:
    """Everything channels-last, Transposes around each Conv/pool (which tract
    folds into the op); returns how many Conv/pool ops were wrapped."""
    return relayout(model, channels_last=True)["channels_last_ops"]


def maxpool_channels_last(model: onnx.ModelProto) -> int:
    """Transpose(NHWC->NCHW) -> MaxPool 2x2 stride 2 -> Transpose(NCHW->NHWC)
    -> the same maximum taken on the NHWC tensor: the rows 2i and 2i+1 are
    the two contiguous halves of [N, H/2, 2*W*C], columns 2j and 2j+1 the two
    halves of [N, H/2, W/2, 2*C]; Max of each pair. A maximum is a selection,
    so this is exact. tract's MaxPool has a vectorised kernel for stride 1
    only; these are plain copies and an element-wise Max."""
    g = model.graph
    cons = consumers(g)
    prod = producers(g)
    outputs = {o.name for o in g.output}
    count = 0
    for n in [n for n in g.node if n.op_type == "MaxPool"]:
        a = attrs_of(n)
        if (list(a.get("kernel_shape", [])) != [2, 2] or list(a.get("strides", [1, 1])) != [2, 2]
                or any(a.get("pads", [0])) or a.get("auto_pad", b"NOTSET") != b"NOTSET" or a.get("ceil_mode", 0)
                or list(a.get("dilations", [1, 1])) != [1, 1] or len(n.output) != 1):
            continue
        t_in, users = prod.get(n.input[0]), cons.get(n.output[0], [])
        if (t_in is None or t_in.op_type != "Transpose" or list(attrs_of(t_in)["perm"]) != [0, 3, 1, 2]
                or len(users) != 1 or users[0].op_type != "Transpose"
                or list(attrs_of(users[0])["perm"]) != [0, 2, 3, 1] or n.output[0] in outputs):
            continue
        x, y = t_in.input[0], users[0].output[0]
        nb, h, w, c = shape_of(model, x)
        if h % 2 or w % 2:
            continue
        b = n.name
        rows = const_i64(g, b + "/rows_shape", [nb, h // 2, 2 * w * c])
        cols = const_i64(g, b + "/cols_shape", [nb, h // 2, w // 2, 2 * c])
        zero, wc, wc2 = const_i64(g, b + "/0", [0]), const_i64(g, b + "/wc", [w * c]), const_i64(g, b + "/2wc", [2 * w * c])
        c1, c2 = const_i64(g, b + "/c", [c]), const_i64(g, b + "/2c", [2 * c])
        ax2, ax3 = const_i64(g, b + "/axis2", [2]), const_i64(g, b + "/axis3", [3])
        replace_node(g, n, [
            helper.make_node("Reshape", [x, rows], [b + "/row_pairs"], name=b + "/row_pairs"),
            helper.make_node("Slice", [b + "/row_pairs", zero, wc, ax2], [b + "/even_rows"], name=b + "/even_rows"),
            helper.make_node("Slice", [b + "/row_pairs", wc, wc2, ax2], [b + "/odd_rows"], name=b + "/odd_rows"),
            helper.make_node("Max", [b + "/even_rows", b + "/odd_rows"], [b + "/rows"], name=b + "/rows"),
            helper.make_node("Reshape", [b + "/rows", cols], [b + "/col_pairs"], name=b + "/col_pairs"),
            helper.make_node("Slice", [b + "/col_pairs", zero, c1, ax3], [b + "/even_cols"], name=b + "/even_cols"),
            helper.make_node("Slice", [b + "/col_pairs", c1, c2, ax3], [b + "/odd_cols"], name=b + "/odd_cols"),
            helper.make_node("Max", [b + "/even_cols", b + "/odd_cols"], [y], name=b),
        ])
        g.node.remove(users[0])
        count += 1
    drop_unused(g)
    return count


def tile_channel_constants(model: onnx.ModelProto) -> int:
    """x (op) k with x channels-last [N,H,W,C] and a per-channel constant k
    ([1,1,1,C]) for C < 33: k tiled along W to [1,1,W,C]. The same values, so
    exact. tract only uses its vectorised kernel for such a broadcast when the
    block that repeats has more than 32 elements (face_landmark's first
    PRelus have 16 channels)."""
    g = model.graph
    ini = inits(g)
    count = 0
    made: dict = {}
    for n in g.node:
        if n.op_type not in LAYOUT_BINARY or len(n.input) != 2:
            continue
        for k, name in enumerate(n.input):
            other = n.input[1 - k]
            if name not in ini or other in ini:
                continue
            xs = shape_of(model, other)
            a = numpy_helper.to_array(ini[name])
            if len(xs) != 4 or a.shape != (1, 1, 1, xs[3]) or not 1 < xs[3] < 33:
                continue
            key = (name, xs[2])
            if key not in made:
                made[key] = f"{name}/tiled{xs[2]}"
                g.initializer.append(numpy_helper.from_array(
                    np.ascontiguousarray(np.broadcast_to(a, (1, 1, xs[2], xs[3]))), made[key]))
            n.input[k] = made[key]
            count += 1
    drop_unused(g)
    return count


def channel_pad_to_concat(model: onnx.ModelProto) -> int:
    """A zero Pad that only appends k channels (BlazeFace's residual channel
    padding) -> Concat with a ConstantOfShape of zeros. The same values."""
    g = model.graph
    count = 0
    for n in [n for n in g.node if n.op_type == "Pad"]:
        a = attrs_of(n)
        ini = inits(g)
        if a.get("mode", b"constant") != b"constant" or n.input[1] not in ini or (len(n.input) > 3 and n.input[3]):
            continue
        if len(n.input) > 2 and n.input[2] and (n.input[2] not in ini or np.any(numpy_helper.to_array(ini[n.input[2]]) != 0)):
            continue
        pads = numpy_helper.to_array(ini[n.input[1]]).tolist()
        r = len(pads) // 2
        nonzero = [i for i, v in enumerate(pads) if v]
        if len(nonzero) != 1 or nonzero[0] < r or pads[nonzero[0]] < 0:
            continue
        axis = nonzero[0] - r
        zshape = shape_of(model, n.input[0])
        zshape[axis] = pads[nonzero[0]]
        b = n.name
        shp = const_i64(g, b + "/zeros_shape", zshape)
        replace_node(g, n, [
            helper.make_node("ConstantOfShape", [shp], [b + "/zeros"], name=b + "/zeros",
                             value=numpy_helper.from_array(np.array([0.0], np.float32))),
            helper.make_node("Concat", [n.input[0], b + "/zeros"], [n.output[0]], name=b, axis=axis),
        ])
        count += 1
    drop_unused(g)
    return count


def split_input_transpose(model: onnx.ModelProto) -> int:
    """The Transpose NHWC->NCHW of the graph input -> Split on channels, a
    Reshape of each [N,H,W,1] to [N,1,H,W] and a Concat on axis 1. The same
    data movement; but tract sees no Transpose to fold into the first Conv,
    so it does not run the first layers channels-last and carry that layout
    to the segmenter's last blocks (a skip connection from the first layer),
    where it reduced a GlobalAveragePool over strided axes."""
    g = model.graph
    inp = g.input[0].name
    for n in list(g.node):
        if n.op_type != "Transpose" or n.input[0] != inp or list(attrs_of(n)["perm"]) != [0, 3, 1, 2]:
            continue
        nb, h, w, c = shape_of(model, inp)
        b = n.name
        plane = const_i64(g, b + "/plane_shape", [nb, 1, h, w])
        parts = [f"{b}/channel{i}" for i in range(c)]
        nodes = [helper.make_node("Split", [inp], parts, name=b + "/split", axis=3)]
        nodes += [helper.make_node("Reshape", [p, plane], [p + "_plane"], name=p + "_plane") for p in parts]
        nodes.append(helper.make_node("Concat", [p + "_plane" for p in parts], [n.output[0]], name=b, axis=1))
        replace_node(g, n, nodes)
        return 1
    return 0


# The rewrites in the order they are applied; each model lists the ones it
# takes in MODELS[name]["rewrites"] (measured: see models/README.md).
REWRITES = (
    ("resize", rewrite_resize),
    ("prelu", rewrite_prelu),
    ("pad_fold", fold_pads),
    ("channels_first", layout_channels_first),
    ("channels_last", layout_channels_last),
    ("maxpool_nhwc", maxpool_channels_last),
    ("tile_consts", tile_channel_constants),
    ("pad_concat", channel_pad_to_concat),
    ("split_input", split_input_transpose),
)


# --------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------


def ort_session(model: onnx.ModelProto):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def run_ort(sess, x: np.ndarray) -> list[np.ndarray]:
    return sess.run(None, {sess.get_inputs()[0].name: x})


def max_diff(a: list, b: list) -> float:
    return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)))) for x, y in zip(a, b))


def max_rel_diff(ref_outs: list, outs: list) -> float:
    """max |a - b| / (|a| + 1), a being the reference."""
    return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))
                            / (np.abs(np.asarray(x, np.float64)) + 1.0))) for x, y in zip(ref_outs, outs))


def compare(plain: onnx.ModelProto, other: onnx.ModelProto, inputs: dict) -> dict:
    s0, s1 = ort_session(plain), ort_session(other)
    out = {}
    for kind, xs in inputs.items():
        out[kind] = max(max_diff(run_ort(s0, x), run_ort(s1, x)) for x in xs)
    return out


def verification_inputs(name: str, plain_models: dict) -> dict:
    """Random inputs in the model's range and real ones from the test images,
    made with the reference preprocessing."""
    spec = MODELS[name]
    m = plain_models[name]
    shape = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    lo, hi = spec["input_range"]
    rng = np.random.default_rng(20240601)
    random = [rng.uniform(lo, hi, size=shape).astype(np.float32) for _ in range(2)]
    imgs = test_images()
    real = []
    if name == "face_detection_short_range":
        real = [ref.face_detection_input(img)[0] for img in imgs.values()]
    elif name == "face_landmark":
        det = ort_session(plain_models["face_detection_short_range"])
        for img in imgs.values():
            x, lb = ref.face_detection_input(img)
            reg, cls = run_ort(det, x)
            for d in ref.detect_faces(reg, cls, lb):
                real.append(ref.face_landmark_input(img, ref.roi_from_detection(d)))
    else:
        size = ref.SEG_SIZE if name == "selfie_segmentation" else ref.SEG_LANDSCAPE_SIZE
        real = [ref.segmentation_input(img, size) for img in imgs.values()]
    if not real:
        raise SystemExit(f"no real inputs for {name}")
    return {"random": random, "real": real}


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:.1e}" if v else "0"


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=MODELS_DIR, help="where to write the models (default: models/)")
    args = ap.parse_args()
    out_dir: Path = args.out
    (out_dir / "plain").mkdir(parents=True, exist_ok=True)
    (WORK / "tf2onnx").mkdir(parents=True, exist_ok=True)

    import tf2onnx
    import tensorflow as tf
    import onnxruntime

    versions = {"tf2onnx": tf2onnx.__version__, "tensorflow": tf.__version__, "onnx": onnx.__version__,
                "onnxruntime": onnxruntime.__version__, "numpy": np.__version__}
    say("tools: " + ", ".join(f"{k} {v}" for k, v in versions.items()))

    # 1-2
    provenance = {"tools": versions, "packages": {}, "models": {}}
    for pkg in PACKAGES:
        tgz = ensure_tarball(pkg)
        integ = sha512_integrity(tgz)
        want = PACKAGES[pkg]["integrity"]
        if want and integ != want:
            raise SystemExit(f"{tgz.name}: integrity {integ} != pinned {want}")
        provenance["packages"][PACKAGES[pkg]["npm"]] = {"version": PACKAGES[pkg]["version"], "integrity": integ}
    tflites = {name: ensure_tflite(name) for name in MODELS}
    for name, p in tflites.items():
        say(f"sha256 ok: {p.name} {MODELS[name]['sha256']}")

    # 3-4: plain
    plain: dict = {}
    conv_diff: dict = {}
    for name, tfl in tflites.items():
        spec = MODELS[name]
        pkg = PACKAGES[spec["package"]]
        m = tf2onnx_convert(tfl, WORK / "tf2onnx" / f"{name}.onnx")
        doc = (f"{spec['file']} (sha256 {spec['sha256']}) from {pkg['npm']}@{pkg['version']}, "
               f"converted by tf2onnx {versions['tf2onnx']} --opset 17; see models/README.md")
        m, n_id = remove_identity_reshapes(m)
        if n_id:
            say(f"{name}: removed {n_id} identity Reshape nodes left by tf2onnx")
        m = canonicalize(m, doc, tflite_duplicate_names(tfl))
        params = custom_transpose_conv_params(tfl)
        n_custom = rewrite_custom_transpose_conv(m, params) if params else 0
        if n_custom:
            say(f"{name}: rewrote {n_custom} Convolution2DTransposeBias -> ConvTranspose + bias ({params[0]})")
        m = finalize(m)
        plain[name] = m
        onnx.save(m, str(out_dir / "plain" / f"{name}.onnx"))

    # plain vs TFLite
    for name, tfl in tflites.items():
        if custom_transpose_conv_params(tfl):
            ref_path = WORK / "tflite" / (tfl.stem + ".builtin_transpose_conv.tflite")
            patch_tflite_transpose_conv(tfl, ref_path)
        else:
            ref_path = tfl
        it = tflite_interpreter(ref_path)
        sess = ort_session(plain[name])
        ins = verification_inputs(name, plain)
        d = {}
        names = [v.name for v in plain[name].graph.output]
        for kind, xs in ins.items():
            vals, rels = [], []
            for x in xs:
                t = run_tflite(it, x)
                o = run_ort(sess, x)
                vals.append(max_diff([t[k] for k in names], o))
                rels.append(max_rel_diff([t[k] for k in names], o))
            d[kind] = max(vals)
            d[kind + "_relative"] = max(rels)
        conv_diff[name] = d
        say(f"{name}: plain ONNX vs TFLite{' (custom op as builtin TRANSPOSE_CONV)' if ref_path != tfl else ''}: "
            f"max abs diff random {d['random']:.2e}, real {d['real']:.2e}; "
            f"max |diff|/(|tflite|+1) random {d['random_relative']:.2e}, real {d['real_relative']:.2e}")

    # 5: shipped
    rows = []
    for name in MODELS:
        base = plain[name]
        m = onnx.ModelProto()
        m.CopyFrom(base)
        ins = verification_inputs(name, plain)
        rewrites = {}
        for label, fn in REWRITES:
            if label not in MODELS[name]["rewrites"]:
                rewrites[label] = {"count": 0}
                continue
            before = onnx.ModelProto()
            before.CopyFrom(m)
            n = fn(m)
            if n == 0:
                rewrites[label] = {"count": 0}
                m = before
                continue
            m = finalize(m)
            step = compare(before, m, ins)
            total = compare(base, m, ins)
            rewrites[label] = {"count": n, "step_max_abs_diff": step, "max_abs_diff_vs_plain": total}
            say(f"{name}: {label}: {n} rewritten, max abs diff vs previous step random {step['random']:.2e} "
                f"real {step['real']:.2e}")
            worst = max(step.values())
            if worst > TOLERANCE:
                raise SystemExit(f"{name}: {label} rewrite differs by {worst} > {TOLERANCE}")
        applied = [f"{k} x{v['count']}" for k, v in rewrites.items() if v["count"]]
        m.doc_string = base.doc_string + "; rewrites for tract: " + (", ".join(applied) if applied else "none apply")
        m = finalize(m)
        if io_signature(m) != io_signature(base):
            raise SystemExit(f"{name}: inputs/outputs changed: {io_signature(base)} -> {io_signature(m)}")
        final = compare(base, m, ins)
        if max(final.values()) > TOLERANCE:
            raise SystemExit(f"{name}: shipped differs from plain by {final}")
        onnx.save(m, str(out_dir / f"{name}.onnx"))

        spec = MODELS[name]
        ins_sig, outs_sig = io_signature(base)
        provenance["models"][name] = {
            "package": PACKAGES[spec["package"]]["npm"],
            "version": PACKAGES[spec["package"]]["version"],
            "tflite": spec["file"],
            "tflite_sha256": spec["sha256"],
            "plain_onnx_sha256": sha256_file(out_dir / "plain" / f"{name}.onnx"),
            "onnx_sha256": sha256_file(out_dir / f"{name}.onnx"),
            "inputs": [{"name": n, "shape": s} for n, s in ins_sig],
            "outputs": [{"name": n, "shape": s} for n, s in outs_sig],
            "nodes_plain": len(base.graph.node),
            "nodes_shipped": len(m.graph.node),
            "ops_plain": dict(sorted(Counter(n.op_type for n in base.graph.node).items())),
            "ops_shipped": dict(sorted(Counter(n.op_type for n in m.graph.node).items())),
            "plain_vs_tflite_max_abs_diff": conv_diff[name],
            "rewrites": rewrites,
            "shipped_vs_plain_max_abs_diff": final,
        }
        rows.append((name, len(base.graph.node), len(m.graph.node), conv_diff[name], rewrites, final))

    (out_dir / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    say(f"wrote {out_dir / 'provenance.json'}")

    # 6: table
    def rw(r, k):
        v = r[k]
        if not v["count"]:
            return "n/a"
        return f"{v['count']}: {fmt(max(v['step_max_abs_diff'].values()))}"

    header = ("model", "nodes plain", "nodes shipped", "plain vs tflite") + tuple(l for l, _ in REWRITES) + ("shipped vs plain",)
    table = [header]
    for name, n0, n1, cd, r, fin in rows:
        table.append((name, str(n0), str(n1), f"{fmt(max(cd['random'], cd['real']))} ({fmt(max(cd['random_relative'], cd['real_relative']))} rel)")
                     + tuple(rw(r, l) for l, _ in REWRITES) + (fmt(max(fin.values())),))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print()
    print("max abs diffs over random and real inputs; rewrite cells are 'count: diff' (n/a: not applied)")
    for k, row in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
        if k == 0:
            print("  ".join("-" * w for w in widths))
    print()


if __name__ == "__main__":
    main()
