"""Pixel redaction speed: OCR seconds per frame, the share of a mixed corpus decoded, and how OCR
scales across worker processes.

Builds a synthetic mixed corpus (CT slices without text, ultrasound frames with burned-in names
and IDs — some RLE-compressed, some multi-frame — and secondary captures), then measures in one
run, on the same files:

* **seconds per frame** of tesseract (``read_words``) on 512x512 16-bit and 640x480 RGB frames,
  against the baseline of decoding the same frame (``ratio`` = OCR / decode);
* **cine seconds per frame**: a 16-frame cine read by ``read_instance`` (every frame, where it
  changed) against every frame read whole and the old default (8 sampled frames), still and
  with a moving structure;
* **share decoded**: a ``gantry`` export with zone rules only, and one with ``burned-in-ocr``,
  counting instances whose pixels were decoded and re-encoded;
* **parallel OCR**: the OCR export with 1 worker and with ``--workers`` (speed-up ratio).

Run: ``.venv/bin/python bench/bench_ocr.py [--ct 40] [--us 16] [--workers 2]``
Needs gantry-pixels, gantry-ocr and tesseract installed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

TEXTS = [(8, 6, "{last}, {first}", 18), (8, 30, "ID {mrn}", 16), (430, 6, "03/14/2019", 16)]


def build_corpus(root: Path, ct: int, us: int) -> dict[str, int]:
    """Write the mixed corpus; returns counts per kind."""
    import numpy as np
    from gantry_pixels.testing import make_text_image
    from pydicom.uid import RLELossless

    from gantry.testing.factory import make_instance

    root.mkdir(parents=True, exist_ok=True)
    for i in range(ct):
        make_instance(patient=i % 4, instance=i, rows=512, cols=512).save_as(
            root / f"ct{i:04d}.dcm", enforce_file_format=True)
    names = [("QUILLFEATHER", "ERMA"), ("HARROWGATE", "PHIL"), ("WEXCOMBE", "THAD")]
    for i in range(us):
        last, first = names[i % len(names)]
        mrn = f"MRN{4400 + i:05d}"
        texts = [(x, y, t.format(last=last, first=first, mrn=mrn), s) for x, y, t, s in TEXTS]
        kind = i % 4
        ds = make_text_image(
            texts, rows=480, cols=640, photometric="RGB" if kind != 1 else "MONOCHROME2",
            frames=4 if kind == 2 else 1, transfer_syntax=RLELossless if kind == 3 else None,
            manufacturer="NOVA MEDICAL", model="ECHO-X 5", seed=i,
            patient_name=f"{last}^{first}", patient_id=mrn)
        ds.save_as(root / f"us{i:04d}.dcm", enforce_file_format=True)
    for i in range(max(1, us // 4)):
        ds = make_text_image([], rows=256, cols=256, modality="OT", manufacturer="WORKSTATION",
                             model="VIEW", seed=100 + i)
        ds.PixelData = np.zeros(256 * 256, np.uint8).tobytes()
        ds.save_as(root / f"sc{i:04d}.dcm", enforce_file_format=True)
    return {"ct": ct, "us": us, "sc": max(1, us // 4)}


def seconds_per_frame(root: Path, pattern: str, limit: int = 6) -> tuple[float, float]:
    """(OCR seconds per frame, decode seconds per frame) over up to ``limit`` files."""
    import pydicom
    from gantry_ocr.engine import read_words, to_gray8
    from gantry_pixels.codec import decode

    ocr_times, decode_times = [], []
    for path in sorted(root.glob(pattern))[:limit]:
        ds = pydicom.dcmread(path)
        t0 = time.perf_counter()
        decoded = decode(ds)
        decode_times.append((time.perf_counter() - t0) / decoded.frames)
        t0 = time.perf_counter()
        read_words(to_gray8(decoded.array[0], decoded.photometric, ds))
        ocr_times.append(time.perf_counter() - t0)
    return statistics.median(ocr_times), statistics.median(decode_times)


def cine_seconds_per_frame(frames: int = 16, moving: bool = True) -> dict[str, float]:
    """OCR seconds per frame of a 640x480 RGB cine with a still overlay: read by
    ``read_instance`` (every frame; unchanged ones carried, changed ones read where they
    changed), every frame read whole, and the old default's sample of 8 frames read whole."""
    from gantry_ocr.engine import FrameReading, read_instance, read_words, sample_frames, to_gray8
    from gantry_pixels.codec import decode
    from gantry_pixels.testing import make_text_image

    texts = [(x, y, t.format(last="QUILLFEATHER", first="ERMA", mrn="MRN04471"), s)
             for x, y, t, s in TEXTS]
    ds = make_text_image(texts, rows=480, cols=640, frames=frames, photometric="RGB", seed=5)
    decoded = decode(ds)
    if moving:  # a bright structure moving through the middle of the image, frame by frame
        for f in range(frames):
            decoded.array[f, 200:260, 200 + 8 * f:260 + 8 * f] = 220
    kwargs = {"min_confidence": 0.3, "upscale_below": 1024, "language": "eng"}
    out: dict[str, float] = {}
    reading = FrameReading()
    t0 = time.perf_counter()
    read_instance(ds, decoded, list(range(frames)), reading=reading, **kwargs)
    out["every frame, where changed"] = (time.perf_counter() - t0) / frames
    t0 = time.perf_counter()
    for f in range(frames):
        read_words(to_gray8(decoded.array[f], decoded.photometric, ds), frame=f, **kwargs)
    out["every frame whole"] = (time.perf_counter() - t0) / frames
    t0 = time.perf_counter()
    for f in sample_frames(frames, 8):
        read_words(to_gray8(decoded.array[f], decoded.photometric, ds), frame=f, **kwargs)
    out["sample of 8 whole"] = (time.perf_counter() - t0) / frames
    out["readings"] = float(reading.whole + reading.partial)
    return out


def export(root: Path, out: Path, redact: list[str], workers: int) -> tuple[float, int, int, int]:
    """Run a Session export; returns (seconds, instances, pixels rewritten, instances decoded)."""
    import yaml
    from gantry_pixels import codec

    from gantry import Session

    decoded: set[str] = set()
    original = codec.decode

    def counting(ds):  # type: ignore[no-untyped-def]
        decoded.add(str(ds.get("SOPInstanceUID", "")))
        return original(ds)

    profile = out.with_suffix(".yaml")
    profile.write_text(yaml.safe_dump({
        "extends": "ps3.15/basic", "options": ["clean-pixel-data"], "redact": redact,
        "plugins": {"gantry-pixels": {"zones": [{
            "name": "nova-header", "match": {"Manufacturer": "NOVA*", "size": "480x640"},
            "boxes": [[0, 0, 640, 56]]}]}}}))
    codec.decode = counting  # counted in this process (workers=1 runs inline)
    try:
        with Session("memory://", profile=str(profile), workers=workers,
                     secret=bytes(range(32))) as session:
            session.ingest(str(root))
            t0 = time.perf_counter()
            summary = session.export(str(out))
            seconds = time.perf_counter() - t0
            changed = {uid for uid, c in session.store.iter_changes() if c.keyword == "PixelData"}
    finally:
        codec.decode = original
    return seconds, summary.done + summary.failed, len(changed), len(decoded)


def main() -> None:
    """Build the corpus, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ct", type=int, default=40, help="CT slices without text")
    parser.add_argument("--us", type=int, default=16, help="ultrasound images with text")
    parser.add_argument("--workers", type=int, default=2, help="workers for the parallel run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "corpus"
        counts = build_corpus(root, args.ct, args.us)
        total = sum(counts.values())
        print(f"corpus: {counts} ({total} instances)")
        ocr_ct, dec_ct = seconds_per_frame(root, "ct*.dcm")
        ocr_us, dec_us = seconds_per_frame(root, "us*.dcm")
        print(f"OCR 512x512 16-bit CT frame:  {ocr_ct:.3f} s/frame "
              f"(decode {dec_ct * 1000:.1f} ms; OCR/decode x{ocr_ct / max(dec_ct, 1e-9):.0f})")
        print(f"OCR 640x480 US frame:         {ocr_us:.3f} s/frame "
              f"(decode {dec_us * 1000:.1f} ms; OCR/decode x{ocr_us / max(dec_us, 1e-9):.0f})")
        for moving in (False, True):
            cine = cine_seconds_per_frame(moving=moving)
            base = cine["every frame whole"]
            print(f"OCR 16-frame cine ({'moving image' if moving else 'still frames'}), s/frame: "
                  + ", ".join(f"{k} {v:.3f} (x{v / base:.2f})" for k, v in cine.items()
                              if k != "readings")
                  + f"; {cine['readings']:.0f} of 16 frames read")
        for label, stack in (("zones only", ["ps315-tags", "pixel-zones"]),
                             ("zones + OCR", ["ps315-tags", "pixel-zones", "burned-in-ocr"])):
            secs, n, changed, decodes = export(root, Path(tmp) / label.replace(" ", ""), stack, 1)
            print(f"{label:12s} 1 worker: {secs:6.2f} s for {n} instances; decoded "
                  f"{decodes}/{n} ({decodes / n:.0%}), pixels rewritten {changed}/{n} "
                  f"({changed / n:.0%})")
        if args.workers > 1:
            secs1, *_ = export(root, Path(tmp) / "ocr1", ["ps315-tags", "burned-in-ocr"], 1)
            secsn, *_ = export(root, Path(tmp) / "ocrn", ["ps315-tags", "burned-in-ocr"],
                               args.workers)
            print(f"OCR export: 1 worker {secs1:.2f} s, {args.workers} workers {secsn:.2f} s "
                  f"(speed-up x{secs1 / secsn:.2f})")


if __name__ == "__main__":
    main()
