"""The ``burned-in-ocr`` auditor and redactor.

* The **auditor** reads every frame that may carry text (a sample of long multi-frames, see
  :func:`gantry_ocr.engine.sample_frames`) and reports one finding per line of text: box,
  confidence, and whether it identifies (matches the instance's identifiers, or looks like a
  name, date or ID). Messages never repeat the text; non-identifying text is kept in
  ``extra["text"]``.
* The **redactor** blanks the text it finds (whole lines, padded), reads the result again and
  repeats up to ``passes`` times; identifying text still readable after that raises
  :class:`gantry.errors.LeakError`, so the instance fails and is not exported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gantry.api import LeakError
from gantry_ocr.classify import Identifiers, Verdict, classify_words, from_context
from gantry_ocr.engine import FrameReading, Word, read_instance, sample_frames
from gantry_ocr.settings import OcrSettings, load_settings

if TYPE_CHECKING:
    from gantry_pixels.api import DecodedPixels
    from pydicom import Dataset

    from gantry.api import Change, Finding, InstanceContext

COMPONENT = "burned-in-ocr"
_REASON_TEXT = {"identifier": "the instance's identifiers", "name": "a name", "date": "a date",
                "time": "a time of day", "id": "an ID"}
Box = tuple[int, int, int, int, int]


def eligible(ds: Dataset, settings: OcrSettings) -> bool:
    """Whether an instance has integer pixels worth reading (and a modality in the filter)."""
    from gantry_pixels.api import has_pixels

    if not has_pixels(ds) or int(ds.get("Rows", 0)) < 16 or int(ds.get("Columns", 0)) < 16:
        return False
    if settings.modalities:
        wanted = {m.upper() for m in settings.modalities}
        return str(ds.get("Modality", "")).upper() in wanted
    return True


def identifiers_for(ds: Dataset, context: InstanceContext | None) -> Identifiers:
    """The instance's identifiers: the engine's set when present, else read from the header."""
    if context is None:
        return from_context(None, ds, None)
    return from_context(context.identifiers, ds, context.patient)


def group_lines(words: list[Word], indices: list[int]) -> list[list[int]]:
    """Split the chosen words into runs on one line with gaps under two text heights."""
    by_line: dict[tuple[int, int, int, int], list[int]] = {}
    for i in indices:
        by_line.setdefault((words[i].frame, *words[i].line), []).append(i)
    runs: list[list[int]] = []
    for members in by_line.values():
        members.sort(key=lambda i: words[i].x)
        run = [members[0]]
        for i in members[1:]:
            prev = words[run[-1]]
            gap = words[i].x - (prev.x + prev.w)
            if gap <= 2 * max(prev.h, words[i].h):
                run.append(i)
            else:
                runs.append(run)
                run = [i]
        runs.append(run)
    return runs


def run_box(words: list[Word], run: list[int]) -> tuple[int, int, int, int]:
    """The bounding box ``(x, y, w, h)`` of a run of words."""
    x0 = min(words[i].x for i in run)
    y0 = min(words[i].y for i in run)
    x1 = max(words[i].x + words[i].w for i in run)
    y1 = max(words[i].y + words[i].h for i in run)
    return x0, y0, x1 - x0, y1 - y0


class _Reader:
    """Shared reading logic of the auditor and the redactor."""

    def __init__(self, settings: OcrSettings) -> None:
        self.settings = settings

    def read(self, ds: Dataset, decoded: DecodedPixels, frames: list[int],
             reading: FrameReading | None = None) -> list[Word]:
        """Words on ``frames``, down to the lower confidence used for identifying words."""
        s = self.settings
        floor = min(s.min_confidence, s.identifying_min_confidence)
        return read_instance(ds, decoded, frames, min_confidence=floor,
                             upscale_below=s.upscale_below, language=s.language,
                             reading=reading)

    def classify(self, words: list[Word], ids: Identifiers) -> tuple[list[Word],
                                                                      dict[int, Verdict]]:
        """Drop words that do not identify and are unsure or do not look like drawn text
        (texture read as letters); return the rest and their verdicts."""
        verdicts = classify_words(words, ids)
        keep = [i for i, w in enumerate(words) if verdicts[i].identifying or (
            w.confidence >= self.settings.min_confidence and w.textlike)]
        return [words[i] for i in keep], {n: verdicts[i] for n, i in enumerate(keep)}


class OcrAuditor(_Reader):
    """Reports burned-in text, line by line, without repeating identifying text."""

    def audit(self, dataset: Dataset, context: InstanceContext) -> list[Finding]:
        """Findings ``burned-in-text`` (error when identifying, else warning)."""
        from gantry_pixels.api import PixelCodecError, decode

        from gantry.api import Finding

        if not eligible(dataset, self.settings):
            return []
        try:
            decoded = decode(dataset)
        except PixelCodecError as exc:
            return [Finding("pixels-unreadable", f"OCR skipped: {exc}", severity="error",
                            component=COMPONENT)]
        frames = sample_frames(decoded.frames, self.settings.max_frames)
        words, verdicts = self.classify(self.read(dataset, decoded, frames),
                                        identifiers_for(dataset, context))
        findings: list[Finding] = []
        for run in group_lines(words, list(range(len(words)))):
            findings.append(self._finding(words, run, verdicts, decoded.frames, frames))
        if not words and str(dataset.get("BurnedInAnnotation", "")).upper() == "YES":
            findings.append(Finding(
                "burned-in-unconfirmed", "BurnedInAnnotation is YES but OCR read no text "
                f"on {len(frames)} frame(s); check the image or add a zone rule",
                severity="warning", component=COMPONENT,
                extra={"frames_read": frames}))
        return findings

    def _finding(self, words: list[Word], run: list[int], verdicts: dict[int, Verdict],
                 total_frames: int, frames: list[int]) -> Finding:
        from gantry.api import Finding

        frame = words[run[0]].frame
        x, y, w, h = run_box(words, run)
        reasons = sorted({verdicts[i].reason for i in run if verdicts[i].identifying})
        confidence = min(words[i].confidence for i in run)
        text = " ".join(words[i].text for i in run)
        identifying = bool(reasons)
        where = f"frame {frame} at x={x} y={y} {w}x{h}"
        if identifying:
            what = " and ".join(_REASON_TEXT.get(r, r) for r in reasons)
            message = (f"burned-in text ({len(text)} characters) matching {what} on {where}, "
                       f"confidence {confidence:.2f}")
        else:
            message = f"burned-in text ({len(text)} characters) on {where}, " \
                      f"confidence {confidence:.2f}"
        extra: dict[str, Any] = {
            "confidence": confidence, "identifying": identifying, "reasons": reasons,
            "length": len(text), "words": len(run), "frames_read": len(frames),
            "frames": total_frames, "text": None if identifying else text,
        }
        return Finding("burned-in-text", message,
                       severity="error" if identifying else "warning",
                       component=COMPONENT, box=(frame, x, y, w, h), extra=extra)


class OcrRedactor(_Reader):
    """Blanks burned-in text, then proves with a second reading that no identifying text is
    left (raising :class:`LeakError` otherwise)."""

    def redact(self, dataset: Dataset, context: InstanceContext) -> list[Change]:
        """Blank text boxes on every frame read; re-read; fail closed on leftovers."""
        import gantry_pixels.api as codec

        from gantry.api import Change

        if not eligible(dataset, self.settings):
            return []
        decoded = codec.decode(dataset)
        before = decoded.sha256
        total = decoded.frames
        frames = sample_frames(total, self.settings.max_frames)
        sampled = len(frames) < total
        ids = identifiers_for(dataset, context)
        black = codec.black_value(dataset, decoded)
        reading = FrameReading()
        words = self.read(dataset, decoded, frames, reading)
        blanked: list[Box] = []
        identifying: list[int] = []
        for _ in range(self.settings.passes):
            words, verdicts = self.classify(words, ids)
            identifying = [i for i, v in verdicts.items() if v.identifying]
            targets = identifying if self.settings.mode == "identifying-only" else list(
                range(len(words)))
            if not targets:
                break
            boxes = self._boxes(words, targets, decoded, sampled)
            codec.blank_boxes(decoded, boxes, black)
            blanked += boxes
            touched = frames if sampled else sorted({b[0] for b in boxes})
            words = [w for w in words if w.frame not in touched] + self.read(
                dataset, decoded, touched, reading)
        else:
            words, verdicts = self.classify(words, ids)
            identifying = [i for i, v in verdicts.items() if v.identifying]
        if identifying:
            where = sorted({words[i].frame for i in identifying})
            raise LeakError(
                f"{COMPONENT}: identifying text still readable on frame(s) "
                f"{', '.join(map(str, where))} of {codec.describe(dataset)} after "
                f"{self.settings.passes} blanking pass(es); the instance is not exported")
        unread = (f"{COMPONENT} read {len(frames)} of {total} frames (max_frames "
                  f"{self.settings.max_frames}) and cannot vouch for the others") if sampled \
            else None
        if context is not None:
            if unread:  # the kernel's markers and export gate then claim no Clean Pixel Data
                context.notes["pixels_unverified"] = unread
                withdraw_clean_claims(dataset, context)
            else:
                context.notes["ocr_verified"] = True
                context.notes.setdefault("performed_options", set()).add("clean-pixel-data")
        if not blanked:
            return []
        decoded.sha256 = after = codec.pixel_sha256(decoded.array)
        written = codec.write_back(dataset, decoded)
        if sampled:  # cleaned in part: neither BurnedInAnnotation NO nor the option's code
            markers = codec.mark_cleaned(dataset, burned_in_annotation=None, code=None)
        else:
            keep = self.settings.burned_in_annotation == "keep"
            markers = codec.mark_cleaned(dataset, burned_in_annotation=None if keep else "NO")
        if context is not None:
            context.notes["pixels_modified"] = True
            context.notes.setdefault("pixel_boxes", []).extend(blanked)
        scope = f"all {total} frames (sampled {len(frames)}, the others not read)" \
            if sampled else f"{len({b[0] for b in blanked})} of {total} frame(s)"
        read = (f"frame readings: whole {reading.whole}, changed area {reading.partial}, "
                f"unchanged {reading.unchanged}")
        changes = [Change(
            action="pixels", tag="(7FE0,0010)", keyword="PixelData", component=COMPONENT,
            detail=(f"OCR ({self.settings.mode}): blanked {len(blanked)} text box(es) on "
                    f"{scope}; verified by re-reading ({read}); sha256 before {before} after "
                    f"{after}; transfer syntax {decoded.transfer_syntax} -> {written}"))]
        changes += [Change(action="marker", keyword=k, component=COMPONENT,
                           detail="updated after pixel cleaning") for k in markers]
        return changes

    def _boxes(self, words: list[Word], targets: list[int], decoded: DecodedPixels,
               sampled: bool) -> list[Box]:
        _, rows, cols, _ = decoded.array.shape
        pad = self.settings.padding
        boxes: list[Box] = []
        for run in group_lines(words, targets):
            x, y, w, h = run_box(words, run)
            x0, y0 = max(0, x - pad), max(0, y - pad)
            x1, y1 = min(cols, x + w + pad), min(rows, y + h + pad)
            boxes.append((-1 if sampled else words[run[0]].frame, x0, y0, x1 - x0, y1 - y0))
        return boxes


#: Clean Pixel Data (CID 7050), as gantry-pixels' mark_cleaned writes it.
_CLEAN_PIXEL_CODE = ("113101", "DCM")


def withdraw_clean_claims(ds: Dataset, context: InstanceContext | None) -> list[str]:
    """Take back what a redactor earlier in the stack (a zone rule) claimed for pixels OCR
    could not read in full: ``BurnedInAnnotation NO`` the original did not say (the
    original's value comes back, or none) and the Clean Pixel Data code item. Returns the
    keywords changed."""
    changed: list[str] = []
    attrs = getattr(getattr(context, "instance", None), "attrs", None) or {}
    original = str(attrs.get("BurnedInAnnotation", "") or "").strip().upper()
    if str(ds.get("BurnedInAnnotation", "")).upper() == "NO" and original != "NO":
        if original:
            ds.BurnedInAnnotation = original
        else:
            del ds.BurnedInAnnotation
        changed.append("BurnedInAnnotation")
    seq = ds.get("DeidentificationMethodCodeSequence")
    if seq is not None:
        kept = [item for item in seq if (str(item.get("CodeValue", "")), str(
            item.get("CodingSchemeDesignator", ""))) != _CLEAN_PIXEL_CODE]
        if len(kept) != len(seq):
            from pydicom.sequence import Sequence

            ds.DeidentificationMethodCodeSequence = Sequence(kept)
            changed.append("DeidentificationMethodCodeSequence")
    return changed


def _settings(run: Any) -> OcrSettings:
    raw = run.settings("gantry-ocr") if hasattr(run, "settings") else {}
    return load_settings(raw)


def make_auditor(run: Any) -> OcrAuditor:
    """Factory of the ``burned-in-ocr`` auditor record."""
    return OcrAuditor(_settings(run))


def make_redactor(run: Any) -> OcrRedactor:
    """Factory of the ``burned-in-ocr`` redactor record."""
    return OcrRedactor(_settings(run))
