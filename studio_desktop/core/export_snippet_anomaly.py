"""The anomaly detection part of the usage snippet (``core/export_snippet.py`` ``SNIPPET_TASKS``).

The exported file gives each image's raw ``score``, its verdict ``anomalous`` (the threshold is
inside the graph and in the metadata) and ``heat``, the anomaly map on the display range (0..1, the
threshold at 0.5). This text prints the score and the verdict and draws the
heat map over the ORIGINAL image the way the app does (``core/anomaly.py``): the letterbox border cut
away, the map scaled back to the image (bilinear), coloured with the app's own colour table (its
control points are written into the text from ``core.anomaly``), more opaque where hotter, and the
region above the threshold outlined.
"""

from __future__ import annotations

from .anomaly import _ANCHORS


def _anchors() -> str:
    return "[" + ", ".join(f"({p:g}, {r:g}, {g:g}, {b:g})" for p, r, g, b in _ANCHORS.tolist()) + "]"


ANOMALY = '''

#: the app's heat-map colours: (position 0..1, R, G, B) control points, interpolated to 256 levels
COLOUR_POINTS = ''' + _anchors() + '''
#: opacity of the hottest colour, and the outline colour of the region above the threshold
ALPHA = 0.65
REGION = (80, 220, 255)


def verdicts(scores, meta):
    """True where an image's raw score reaches the threshold stated in the metadata (as the file's
    own `anomalous` output says)."""
    return np.asarray(scores, dtype=np.float64).reshape(-1) >= float(meta["threshold"])


def content_box(width, height, meta):
    """(x0, y0, w, h): where the image sits on the S x S input, exactly as `preprocess` placed it."""
    size = meta["input_size"]
    if meta["resize"] == "stretch":
        return 0, 0, size, size
    if max(width, height) > size:
        k = size / max(width, height)
        nw, nh = max(1, round(width * k)), max(1, round(height * k))
    else:
        nw, nh = (size, int(size * height / width)) if width > height else (int(size * width / height), size)
    return (size - nw) // 2, (size - nh) // 2, nw, nh


def heat_map(path, heat, meta, out_folder):
    """Save the image with its heat map over it (the region above the threshold outlined) as PNG."""
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image) if meta.get("exif_orientation") == "apply" else image
        image = image.convert("RGB")
    width, height = image.size
    x0, y0, w, h = content_box(width, height, meta)
    scale = heat.shape[-1] / meta["input_size"]
    box = (x0 * scale, y0 * scale, (x0 + w) * scale, (y0 + h) * scale)
    level = np.asarray(Image.fromarray(np.ascontiguousarray(heat, dtype=np.float32), mode="F")
                       .resize((width, height), Image.BILINEAR, box=box)).clip(0, 1)
    points = np.array(COLOUR_POINTS, dtype=np.float64)
    steps = np.linspace(0, 1, 256)
    table = np.stack([np.interp(steps, points[:, 0], points[:, i]) for i in (1, 2, 3)], axis=1).round()
    colour = table[np.round(level * 255).astype(int)]
    alpha = (ALPHA * np.sqrt(level))[..., None]
    out = np.asarray(image, dtype=np.float64) * (1 - alpha) + colour * alpha
    low, high = (float(v) for v in meta["display_range"])
    threshold = float(meta["threshold"])
    middle = 0.5 if low < threshold < high else (threshold - low) / (high - low)  # where `heat` puts the threshold
    inside = level >= middle
    padded = np.pad(inside, 1)
    edge = inside & ~(padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    out[edge] = REGION
    target = Path(out_folder) / (Path(path).stem + ".png")
    target.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(out.clip(0, 255).round().astype(np.uint8)).save(target)
    return target


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", help="image files")
    parser.add_argument("--model", default=str(MODEL), help="the exported model file")
    parser.add_argument("--json", action="store_true", help="print one JSON object per image")
    parser.add_argument("--draw", metavar="FOLDER", default="heatmaps",
                        help="save each image with its heat map into this folder (default: heatmaps; '' for none)")
    args = parser.parse_args(argv)
    run, meta = load(args.model)
    threshold = float(meta["threshold"])
    for path in args.images:
        x = preprocess(path, meta)[None]
        score = float(run(x)[0])
        anomalous = bool(verdicts([score], meta)[0])
        drawn = heat_map(path, run(x, "heat")[0, 0], meta, args.draw) if args.draw else None
        if args.json:
            print(json.dumps({"image": path, "score": score, "anomalous": anomalous, "threshold": threshold,
                              "heat_map": str(drawn) if drawn else None}))
        else:
            verdict = f"anomalous (score {score:.4g} >= threshold" if anomalous else f"normal (score {score:.4g} < threshold"
            print(f"{path}: {verdict} {threshold:.4g})" + (f", heat map in {drawn}" if drawn else ""))


if __name__ == "__main__":
    main()
'''

__all__ = ["ANOMALY"]
