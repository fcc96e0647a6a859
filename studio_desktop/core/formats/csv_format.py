"""CSV: one row per image with a class label (classification) or numeric targets (regression).

Accepted shapes, found by looking at the data rather than by asking the user:
- an image column (values ending in an image extension, or a header named image/file/path)
  plus a label column (classification) or one or more numeric columns (regression, one
  target per column, named by the header);
- with or without a header row; any of ``, ; tab | space`` as delimiter;
- no image column at all, when the images are named by row number (row N <-> ``N.jpg`` or
  ``N_*.jpg``, as in the Houses dataset's ``HousesInfo.txt``): targets are then named
  ``column1..columnN`` unless a header names them.
Rows whose image is missing or whose number does not parse are reported and skipped.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

from ..errors import InvalidInput
from ..images import IMAGE_EXTENSIONS, is_image_file
from . import ImportIssue, ParsedDataset, ParsedImage

TABLE_EXTENSIONS = (".csv", ".tsv")
IMAGE_HEADERS = {"image", "images", "file", "filename", "file_name", "path", "filepath", "image_path",
                 "img", "image_id", "name"}
LABEL_HEADERS = {"label", "class", "category", "class_name", "target", "y"}


def _looks_like_image(value: str) -> bool:
    return Path(value.strip()).suffix.lower() in IMAGE_EXTENSIONS


def _number(value: str) -> float | None:
    try:
        x = float(value.strip())
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot be read ({exc.strerror or exc})", path=path) from None
    if b"\x00" in data[:4096]:
        raise InvalidInput("is not a text table (binary content)", path=path)
    for enc in ("utf-8-sig", "latin-1"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InvalidInput("is not a text table", path=path)  # pragma: no cover (latin-1 decodes all)


def _rows(text: str, path: Path) -> list[list[str]]:
    sample = text[:8192]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t| ")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = "\t" if "\t" in sample else ","
    try:
        if delimiter == " ":
            rows = [re.split(r"\s+", line.strip()) for line in text.splitlines()]
        else:
            rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(text), delimiter=delimiter)]
    except csv.Error as exc:
        raise InvalidInput(f"is not a valid table ({exc})", path=path) from None
    return [r for r in rows if any(c for c in r)]


def find_table(root: Path) -> Path | None:
    if root.is_file():
        return root
    tables = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in TABLE_EXTENSIONS)
    if tables:
        return tables[0]
    # a .txt table next to images named by row number (e.g. HousesInfo.txt)
    txts = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() == ".txt"
                  and p.name.lower() not in ("classes.txt", "labelmap.txt", "readme.txt"))
    if len(txts) == 1 and _images_by_row(root):
        return txts[0]
    return None


def _images_by_row(folder: Path) -> dict[int, Path]:
    """Images named ``N.ext`` or ``N_anything.ext`` by their 1-based row number N."""
    out: dict[int, Path] = {}
    for p in sorted(folder.iterdir()):
        m = re.match(r"^(\d+)(?:[_\-.].*)?$", p.stem)
        if m and p.is_file() and is_image_file(p):
            out.setdefault(int(m.group(1)), p)
    return out


_UNIT = re.compile(r"^(.*?\S)\s*[\(\[]\s*([^\)\]]{1,20}?)\s*[\)\]]$")


def split_unit(header: str) -> tuple[str, str]:
    """``"price (USD)"`` / ``"radius [px]"`` -> ``("price", "USD")``; a header without one keeps its name."""
    m = _UNIT.match(header.strip())
    return (m.group(1), m.group(2)) if m else (header, "")


class CSVReader:
    name = "csv"
    tasks = ("classification", "regression")

    def detect(self, root: Path) -> str | None:
        table = find_table(root) if root.exists() else None
        if table is None or (root.is_file() and root.suffix.lower() not in TABLE_EXTENSIONS + (".txt",)):
            return None
        return f"a table of images and labels ({table.name})"

    def read(self, root: Path, task: str) -> ParsedDataset:
        table = find_table(root)
        if table is None:
            raise InvalidInput("has no CSV table (expected a .csv listing images and labels)", path=root)
        rows = _rows(_read_text(table), table)
        if not rows:
            raise InvalidInput("is empty", path=table)
        ncols = max(len(r) for r in rows)
        rows = [r + [""] * (ncols - len(r)) for r in rows]
        header = self._header(rows)
        body = rows[1:] if header else rows
        if not body:
            raise InvalidInput("has a header but no rows", path=table)
        names = header or [f"column{i + 1}" for i in range(ncols)]
        img_col = self._image_column(body, header)
        by_row = _images_by_row(table.parent) if img_col is None else {}
        if img_col is None and not by_row:
            raise InvalidInput("has no column of image file names (and no images named by row "
                               "number next to it)", path=table)
        other = [c for c in range(ncols) if c != img_col]
        parsed = ParsedDataset(format=self.name)
        parsed.detected_because = (f"image column '{names[img_col]}'" if img_col is not None
                                   else "images named by row number (row N = N_*.jpg)")
        if task == "regression":
            targets = [c for c in other if any(_number(r[c]) is not None for r in body)]
            if not targets:
                raise InvalidInput("has no numeric column to use as a regression target", path=table)
            for c in targets:  # "price (USD)" -> target "price" in USD
                names[c], unit = split_unit(names[c])
                if unit:
                    parsed.target_units[names[c]] = unit
            parsed.target_names = [names[c] for c in targets]
        else:
            label_col = self._label_column(other, header)
            if label_col is None:
                raise InvalidInput("has no label column (expected image and class columns)", path=table)
        labels: list[str] = []  # of the accepted rows, in order (classes come from these only)
        start = 2 if header else 1
        missing_rows: list[int] = []
        for i, row in enumerate(body):
            line = f"{table}:{i + start}"
            if img_col is not None:
                rel = row[img_col]
                if not rel:
                    parsed.issues.append(ImportIssue(line, "no image file name in this row"))
                    continue
                path = table.parent / rel.replace("\\", "/")
            else:
                path = by_row.get(i + 1)
                if path is None:
                    missing_rows.append(i + start)
                    continue
            if not path.is_file():
                parsed.issues.append(ImportIssue(line, f"image '{path.name}' not found"))
                continue
            item = ParsedImage(path=path)
            if task == "regression":
                bad = next((c for c in targets if _number(row[c]) is None), None)
                if bad is not None:
                    parsed.issues.append(ImportIssue(line, f"'{row[bad]}' in column '{names[bad]}' "
                                                     "is not a number"))
                    continue
                item.targets = {names[c]: float(_number(row[c]) or 0.0) for c in targets}
            else:
                value = row[label_col]
                if not value:
                    parsed.issues.append(ImportIssue(line, "empty class label"))
                    continue
                labels.append(value)
            parsed.images.append(item)
        if task != "regression":
            # a label seen only on refused rows (image missing, no file name) is not a class
            parsed.class_names = sorted(set(labels))
            index = {name: i for i, name in enumerate(parsed.class_names)}
            for item, value in zip(parsed.images, labels, strict=True):
                item.label = index[value]
        if missing_rows:
            span = f"{missing_rows[0]}" if len(missing_rows) == 1 else f"{missing_rows[0]}..{missing_rows[-1]}"
            parsed.issues.append(ImportIssue(str(table), f"{len(missing_rows)} rows (lines {span}) have no "
                                             "image named by their row number (N_*.jpg)"))
        return parsed

    @staticmethod
    def _header(rows: list[list[str]]) -> list[str] | None:
        """The first row if it is a header: it names columns whose later values are images or numbers."""
        first = rows[0]
        if any(_looks_like_image(c) for c in first):
            return None
        if {c.lower() for c in first} & (IMAGE_HEADERS | LABEL_HEADERS):
            return [c or f"column{i + 1}" for i, c in enumerate(first)]
        if len(rows) > 1:
            second = rows[1]
            for a, b in zip(first, second, strict=False):
                if (_number(a) is None and _number(b) is not None) or (
                        not _looks_like_image(a) and _looks_like_image(b)):
                    return [c or f"column{i + 1}" for i, c in enumerate(first)]
        return None

    @staticmethod
    def _image_column(body: list[list[str]], header: list[str] | None) -> int | None:
        ncols = len(body[0])
        scores = [sum(_looks_like_image(r[c]) for r in body) for c in range(ncols)]
        best = max(range(ncols), key=lambda c: scores[c])
        if scores[best] * 2 >= len(body) and scores[best] > 0:
            return best
        if header:
            for c, h in enumerate(header):
                if h.lower() in IMAGE_HEADERS and any(r[c] for r in body):
                    return c
        return None

    @staticmethod
    def _label_column(other: list[int], header: list[str] | None) -> int | None:
        if header:
            for c in other:
                if header[c].lower() in LABEL_HEADERS:
                    return c
        return other[0] if other else None


READER = CSVReader()
