"""`studio predict MODEL IMAGE_OR_FOLDER...`: predict new images, in the foreground.

MODEL is an experiment (name or id; ``--project`` when several projects have one of that name),
a checkpoint file, or an exported model (file or export folder). Prints one line per image (or
JSON with ``--json``) and writes ``predictions.json`` and ``predictions.csv`` to ``--out``
(default: ./predictions). A detector's boxes are in the original image's pixels, kept by the
operating point or ``--score-threshold``; ``--coco-results FILE`` writes them as COCO results and
``--draw FOLDER`` saves each image's prediction drawn (boxes, masks, heat maps). An unreadable image is reported by name and the others are predicted;
the exit status is 1 when any image failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .common import open_workspace, print_json


def register(sub) -> None:
    p = sub.add_parser("predict", help="predict new images with a trained or exported model",
                       description="Predict images with an experiment's checkpoint, a checkpoint file or an "
                                   "exported model; writes predictions.json and predictions.csv.")
    p.add_argument("model", metavar="EXPERIMENT_OR_MODEL_FILE",
                   help="experiment name or id, a .ckpt file, or an exported model (.onnx, .xml, .pt or its folder)")
    p.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files and/or folders (recursive)")
    p.add_argument("--out", default="predictions", metavar="DIR",
                   help="folder for predictions.json and predictions.csv (default: ./predictions); a segmentation "
                        "model also writes each image's mask there (masks/NAME.png, class ids)")
    p.add_argument("--project", help="the experiment's project, when several projects have one of that name")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"], help="the experiment's checkpoint")
    p.add_argument("--batch-size", type=int, default=16, metavar="N", help="images per batch (default: 16)")
    p.add_argument("--json", action="store_true", help="print the predictions as JSON")
    p.add_argument("--draw", metavar="FOLDER",
                   help="also save each image's prediction drawn, as PNG, into FOLDER (a detector's boxes; models "
                        "of other tasks their masks or heat maps)")
    boxes = p.add_argument_group("object detection models")
    boxes.add_argument("--score-threshold", type=float, metavar="T",
                       help="report boxes scoring at least T (0-1), every class alike (default: the operating point "
                            "saved with the model, else 0.5)")
    boxes.add_argument("--coco-results", metavar="FILE",
                       help="also write the boxes as COCO detection results (image_id, category_id = class id, "
                            "bbox [x, y, w, h] in image pixels, score)")
    p.set_defaults(func=run)


def _line(row: dict, units: dict[str, str]) -> str:
    from ..core.evaluation.predictions import prediction_text

    return f"{row['file']}: {prediction_text(row, units)}"


def run(args) -> int:
    from ..ml.predict import predict  # torch loads only now

    out = Path(args.out).expanduser()
    extra = {"score_threshold": args.score_threshold,
             "coco_results": Path(args.coco_results).expanduser() if args.coco_results else None,
             "draw": Path(args.draw).expanduser() if args.draw else None}
    if Path(args.model).expanduser().exists():  # a model file needs no workspace
        rows, predictor, seconds = predict(None, args.model, args.images, out, batch_size=args.batch_size, **extra)
    else:
        with open_workspace(args, write=False) as ws:
            rows, predictor, seconds = predict(ws, args.model, args.images, out, project=args.project,
                                               checkpoint=args.checkpoint, batch_size=args.batch_size, **extra)
    failed = [r for r in rows if not r.get("ok")]
    if args.json:
        print_json({"model": predictor.describe, "predictions": rows})
    else:
        units = {c["name"]: c.get("unit", "") for c in predictor.classes}
        for row in rows:
            print(_line(row, units))
        ok = len(rows) - len(failed)
        wrote = [str(out / "predictions.json"), "predictions.csv"]
        wrote += [str(v) for v in (extra["coco_results"], extra["draw"]) if v is not None]
        print(f"{ok} image(s) predicted in {seconds:.2f} s" + (f", {len(failed)} failed" if failed else "")
              + f"; wrote {', '.join(wrote[:-1])} and {wrote[-1]}", file=sys.stderr)
    return 1 if failed else 0
