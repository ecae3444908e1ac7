#!/usr/bin/env python3
"""Write the vision test fixtures into crates/vision/tests/fixtures/.

Run by models/convert.sh after the conversion. Writes:

images/      astronaut.png, two_faces.png, no_face.png (8-bit RGB)
raw/         manifest.json + raw little-endian float32 tensors: each case's
             reference-preprocessed input and the model outputs, from the
             ORIGINAL .tflite run by tf.lite.Interpreter (face detection,
             face landmark) or from onnxruntime on models/plain/*.onnx (the
             segmenters, whose custom op the stock interpreter cannot run).
decoded/     <case>.json: the full reference pipeline (decoder.py) per image,
             with detection and landmarks from TFLite and masks from
             onnxruntime-plain; <case>.mask.u8 / <case>.mask_landscape.u8
             are width*height bytes, round(probability * 255).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MODELS_DIR = HERE.parent
REPO = MODELS_DIR.parent
FIXTURES = REPO / "crates" / "vision" / "tests" / "fixtures"

sys.path.insert(0, str(HERE))
sys.path.insert(0, str(MODELS_DIR))
import decoder as ref  # noqa: E402
from images import test_images  # noqa: E402
import convert  # noqa: E402


def say(msg: str) -> None:
    print(f"[fixtures] {msg}", flush=True)


class Runner:
    """Runs a model by name: TFLite for face detection / landmarks, onnxruntime
    on the plain ONNX for the segmenters. Returns outputs in the ONNX graph's
    output order, as (name, array) pairs."""

    def __init__(self):
        import onnx

        self.onnx_outputs = {}
        self.sessions = {}
        self.tflite = {}
        for name in convert.MODELS:
            m = onnx.load(str(MODELS_DIR / "plain" / f"{name}.onnx"))
            self.onnx_outputs[name] = [o.name for o in m.graph.output]
            if name.startswith("selfie_segmentation"):
                self.sessions[name] = convert.ort_session(m)
            else:
                self.tflite[name] = convert.tflite_interpreter(convert.ensure_tflite(name))

    def source(self, name: str) -> str:
        return "tflite" if name in self.tflite else "onnxruntime-plain"

    def __call__(self, name: str, x: np.ndarray):
        if name in self.tflite:
            out = convert.run_tflite(self.tflite[name], x)
            return [(k, out[k]) for k in self.onnx_outputs[name]]
        outs = convert.run_ort(self.sessions[name], x)
        return list(zip(self.onnx_outputs[name], outs))


def write_f32(path: Path, a: np.ndarray) -> None:
    path.write_bytes(np.ascontiguousarray(a, dtype="<f4").tobytes())


def write_png(path: Path, img: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(img, "RGB").save(path, format="PNG", optimize=True)


def main() -> None:
    imgs = test_images()
    run = Runner()
    for sub in ("images", "raw", "decoded"):
        (FIXTURES / sub).mkdir(parents=True, exist_ok=True)

    # images
    for case, img in imgs.items():
        p = FIXTURES / "images" / f"{case}.png"
        write_png(p, img)
        say(f"{p.relative_to(FIXTURES)}: {img.shape[1]}x{img.shape[0]}")

    manifest = []

    def add_case(model: str, case: str, x: np.ndarray):
        outs = run(model, x)
        stem = f"{model}.{case}"
        write_f32(FIXTURES / "raw" / f"{stem}.input.f32", x)
        entry = {
            "model": model,
            "case": case,
            "input": {"file": f"raw/{stem}.input.f32", "shape": list(x.shape)},
            "outputs": [],
            "source": run.source(model),
        }
        for oname, arr in outs:
            f = f"raw/{stem}.{oname}.f32"
            write_f32(FIXTURES / f, arr)
            entry["outputs"].append({"name": oname, "file": f, "shape": list(arr.shape)})
        manifest.append(entry)
        return dict(outs)

    problems = []
    summary = []
    for case, img in imgs.items():
        h, w = img.shape[:2]
        # face detection
        x, lb = ref.face_detection_input(img)
        out = add_case("face_detection_short_range", case, x)
        dets = ref.detect_faces(out["regressors"], out["classificators"], lb)
        face_roi = landmarks = presence = landmark_roi = None
        if dets:
            roi = ref.roi_from_detection(dets[0])
            crop = ref.face_landmark_input(img, roi)
            if case == "astronaut":
                lo = add_case("face_landmark", case, crop)
            else:
                lo = dict(run("face_landmark", crop))
            lm = ref.project_landmarks(lo["conv2d_21"], roi)
            presence = ref.face_presence(lo["conv2d_31"])
            face_roi = roi.to_dict()
            landmarks = [[float(v) for v in p] for p in lm]
            landmark_roi = ref.roi_from_landmarks(lm).to_dict()
            # the landmark bbox must overlap the detection box
            d = dets[0]
            lx0, ly0 = lm[:, 0].min(), lm[:, 1].min()
            lx1, ly1 = lm[:, 0].max(), lm[:, 1].max()
            ix = min(lx1, d.xmax) - max(lx0, d.xmin)
            iy = min(ly1, d.ymax) - max(ly0, d.ymin)
            if ix <= 0 or iy <= 0:
                problems.append(f"{case}: landmark bbox does not overlap the detection box")
        # segmentation
        masks = {}
        for model, size, key in (("selfie_segmentation", ref.SEG_SIZE, "mask"),
                                 ("selfie_segmentation_landscape", ref.SEG_LANDSCAPE_SIZE, "mask_landscape")):
            sx = ref.segmentation_input(img, size)
            if case == "astronaut":
                so = add_case(model, case, sx)
            else:
                so = dict(run(model, sx))
            (mask,) = so.values()
            if mask.min() < -1e-6 or mask.max() > 1 + 1e-6:
                problems.append(f"{case}: {model} output outside [0,1]: [{mask.min()}, {mask.max()}]")
            prob = ref.upsample_mask(mask, w, h)
            u8 = ref.mask_to_u8(prob)
            f = f"decoded/{case}.{key}.u8"
            (FIXTURES / f).write_bytes(u8.tobytes())
            masks[key] = (f, float(prob.mean()))
        doc = {
            "image": f"images/{case}.png",
            "width": w,
            "height": h,
            "detections": [d.to_dict() for d in dets],
            "face_roi": face_roi,
            "landmarks": landmarks,
            "face_presence": presence,
            "landmark_roi": landmark_roi,
            "mask": masks["mask"][0],
            "mask_landscape": masks["mask_landscape"][0],
        }
        (FIXTURES / "decoded" / f"{case}.json").write_text(json.dumps(doc, indent=1) + "\n")
        summary.append((case, w, h, dets, presence, face_roi, landmark_roi, masks))

    (FIXTURES / "raw" / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    say(f"raw/manifest.json: {len(manifest)} cases")

    # sanity checks
    expected = {"astronaut": 1, "two_faces": 2, "no_face": 0}
    for case, w, h, dets, presence, face_roi, landmark_roi, masks in summary:
        say(f"{case} ({w}x{h}): {len(dets)} detection(s)")
        for d in dets:
            say(f"    box ({d.xmin:.1f}, {d.ymin:.1f})-({d.xmax:.1f}, {d.ymax:.1f}) score {d.score:.4f}")
        if face_roi:
            say(f"    face_roi  {fmt_roi(face_roi)}")
            say(f"    presence  {presence:.4f}")
            say(f"    lm_roi    {fmt_roi(landmark_roi)}")
        say(f"    mean mask {masks['mask'][1]:.3f}, landscape {masks['mask_landscape'][1]:.3f}")
        if len(dets) != expected[case]:
            problems.append(f"{case}: {len(dets)} detections, expected {expected[case]}")
        if case == "astronaut" and not (presence and presence > 0.9):
            problems.append(f"astronaut: face presence {presence} <= 0.9")

    problems += tract_check(manifest)

    total = sum(p.stat().st_size for sub in ("images", "raw", "decoded")
                for p in (FIXTURES / sub).rglob("*") if p.is_file())
    say(f"fixtures written: {total / 1e6:.2f} MB in {FIXTURES.relative_to(REPO)}/{{images,raw,decoded}}")
    if problems:
        for p in problems:
            say("FAILED: " + p)
        raise SystemExit(1)
    say("sanity checks passed")


def tract_check(manifest: list) -> list:
    """Load every plain and shipped model with tract's Python bindings (the
    tract version crates/vision uses), run each raw case and compare with the
    fixture outputs. A sanity check that tract can run the files; the Rust
    parity tests are the real ones."""
    try:
        import tract
    except ImportError:
        say("tract check skipped: the tract Python package is not installed")
        return []
    problems = []
    for kind, d in (("plain", MODELS_DIR / "plain"), ("shipped", MODELS_DIR)):
        runnables = {}
        for case in manifest:
            name = case["model"]
            if name not in runnables:
                runnables[name] = tract.onnx().load(str(d / f"{name}.onnx")).into_model().into_runnable()
            x = np.fromfile(FIXTURES / case["input"]["file"], "<f4").reshape(case["input"]["shape"])
            outs = runnables[name].run([x])
            worst_abs = worst_rel = 0.0
            for got, o in zip(outs, case["outputs"]):
                want = np.fromfile(FIXTURES / o["file"], "<f4").reshape(o["shape"])
                got = got.to_numpy()
                if list(got.shape) != o["shape"]:
                    problems.append(f"tract {kind} {name}: output {o['name']} shape {got.shape} != {o['shape']}")
                    continue
                diff = np.abs(got.astype(np.float64) - want)
                worst_abs = max(worst_abs, float(diff.max()))
                worst_rel = max(worst_rel, float((diff / (np.abs(want) + 1.0)).max()))
            say(f"tract {kind:7s} {name}.{case['case']}: "
                f"max abs diff {worst_abs:.2e}, max |diff|/(|ref|+1) {worst_rel:.2e} vs {case['source']}")
            if worst_rel > 1e-3:
                problems.append(f"tract {kind} {name}.{case['case']}: relative diff {worst_rel:.2e} > 1e-3")
    return problems


def fmt_roi(r: dict) -> str:
    return (f"centre ({r['x_center']:.1f}, {r['y_center']:.1f}) size {r['width']:.1f}x{r['height']:.1f} "
            f"rotation {r['rotation']:.4f} rad")


if __name__ == "__main__":
    main()
