"""The semantic segmentation part of the usage snippet (``core/export_snippet.py`` ``SNIPPET_TASKS``).

The exported file gives per-pixel logits of its S x S input; this text turns them into a class per
pixel of the ORIGINAL image the way the app does (``ml/segmentation_infer.py``): resize mode crops
the letterbox padding off the logits, takes the softmax and scales the probabilities back to the
image (bilinear); tiles mode runs S x S tiles of the (scaled) image, overlapping by
``tile_overlap``, and averages their softmax probabilities weighted towards each tile's centre.
Then the argmax, written as an index mask (the class ids, like the dataset's masks), a coloured
mask (the app's palette, from the metadata) and an overlay on the photo.
"""
SEGMENTATION = '''

def softmax(z):
    z = z - z.max(axis=0, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=0, keepdims=True)


def resize_channels(values, width, height):
    """(C, h, w) float maps -> (C, height, width), bilinear (Pillow, one channel at a time)."""
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(c, dtype=np.float32), mode="F")
                                .resize((width, height), Image.BILINEAR)) for c in values])


def open_image(path, meta):
    with Image.open(path) as image:
        if meta.get("exif_orientation") == "apply":
            image = ImageOps.exif_transpose(image)
        return image.convert("RGB")


def normalise(image, meta):
    x = np.asarray(image, dtype=np.float32) / meta["scale"]
    x = (x - np.asarray(meta["mean"], dtype=np.float32)) / np.asarray(meta["std"], dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def blend_weights(size, blend):
    """(size, size) weight of each pixel of a tile in the average: highest at the centre, at least 0.001."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    if blend == "linear":
        w = 1.0 - np.abs(x) / (size / 2.0 + 1.0)
    else:  # gaussian, sigma = 1/8 of the tile
        w = np.exp(-(x ** 2) / (2 * (size / 8.0) ** 2))
    w = np.outer(w, w)
    return np.maximum(w / w.max(), 1e-3).astype(np.float32)


def starts(length, tile, stride):
    """Tile origins along one side: every `stride` pixels, the last tile flush with the end."""
    if length <= tile:
        return [0]
    out = list(range(0, length - tile, stride))
    return out + [length - tile]


def probabilities(run, path, meta):
    """(C, H, W) class probabilities at the image's own size (EXIF orientation applied)."""
    image = open_image(path, meta)
    width, height = image.size
    size = meta["input_size"]
    if meta.get("mode") == "tiles":
        k = float(meta.get("tile_scale", 1))
        if k != 1:
            image = image.resize((max(1, round(width * k)), max(1, round(height * k))), Image.BILINEAR)
        x = normalise(image, meta)
        c, h, w = x.shape
        tile = int(meta.get("tile_size") or size)
        padded = np.zeros((c, max(h, tile), max(w, tile)), dtype=np.float32)  # zeros: the mean colour
        padded[:, :h, :w] = x
        stride = max(1, int(round(tile * (1 - float(meta.get("tile_overlap", 0.25))))))
        weight = blend_weights(tile, meta.get("tile_blend", "gaussian"))
        total = norm = None
        for top in starts(padded.shape[1], tile, stride):
            for left in starts(padded.shape[2], tile, stride):
                p = softmax(run(padded[None, :, top:top + tile, left:left + tile])[0]) * weight
                if total is None:
                    total = np.zeros((p.shape[0],) + padded.shape[1:], dtype=np.float32)
                    norm = np.zeros(padded.shape[1:], dtype=np.float32)
                total[:, top:top + tile, left:left + tile] += p
                norm[top:top + tile, left:left + tile] += weight
        probs = (total / norm)[:, :h, :w]
    else:
        logits = run(preprocess(path, meta)[None])[0]
        if meta["resize"] == "stretch":
            left, top, nw, nh = 0, 0, size, size
        else:  # the letterbox: where the image lies in the square input
            if max(width, height) > size:
                k = size / max(width, height)
                nw, nh = max(1, round(width * k)), max(1, round(height * k))
            else:
                nw, nh = (size, int(size * height / width)) if width > height else (int(size * width / height), size)
            left, top = (size - nw) // 2, (size - nh) // 2
        probs = softmax(logits[:, top:top + nh, left:left + nw])
    if probs.shape[1:] != (height, width):
        probs = resize_channels(probs, width, height)
    return probs


def save_png(array, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def write_masks(path, channels, meta, out_folder):
    """The index mask (class ids, 8-bit), the coloured mask and the overlay on the image, as PNGs."""
    ids = np.array(meta["class_ids"] + [255] * (256 - len(meta["class_ids"])), dtype=np.uint8)
    colours = np.zeros((256, 3), dtype=np.uint8)
    colours[:len(meta["palette"])] = np.asarray(meta["palette"], dtype=np.uint8)
    colour = colours[channels]
    photo = np.asarray(open_image(path, meta), dtype=np.float32)
    alpha = np.where(np.isin(channels, meta.get("background") or []), 0.0, 0.5)[..., None]
    overlay = (photo * (1 - alpha) + colour * alpha + 0.5).clip(0, 255).astype(np.uint8)
    stem = Path(out_folder) / Path(path).stem
    return {"mask": str(save_png(ids[channels], f"{stem}-mask.png")),
            "colour": str(save_png(colour, f"{stem}-colour.png")),
            "overlay": str(save_png(overlay, f"{stem}-overlay.png"))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", help="image files")
    parser.add_argument("--model", default=str(MODEL), help="the exported model file")
    parser.add_argument("--json", action="store_true", help="print one JSON object per image")
    parser.add_argument("--out", metavar="FOLDER", default="masks",
                        help="write NAME-mask.png (class ids), NAME-colour.png and NAME-overlay.png here "
                             "(default: masks)")
    args = parser.parse_args(argv)
    run, meta = load(args.model)
    for path in args.images:
        channels = probabilities(run, path, meta).argmax(axis=0).astype(np.uint8)
        files = write_masks(path, channels, meta, args.out)
        counts = np.bincount(channels.ravel(), minlength=len(meta["classes"]))
        shares = {name: float(n) / channels.size for name, n in zip(meta["classes"], counts) if n}
        if args.json:
            print(json.dumps({"image": path, "width": channels.shape[1], "height": channels.shape[0],
                              "classes": shares, **files}))
        else:
            print(f"{path}: " + ", ".join(f"{n} {v:.1%}" for n, v in sorted(shares.items(), key=lambda kv: -kv[1]))
                  + f"; mask in {files['mask']}")


if __name__ == "__main__":
    main()
'''


__all__ = ["SEGMENTATION"]
