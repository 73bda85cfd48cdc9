"""A session's files: its json record (autosave, resume, replay) and its output files.

Json form: :func:`to_session` writes the ``isegm-annotation-session`` record of :mod:`~isegm.annotation.codec`;
:func:`read_header` and :func:`object_from_record` check a loaded one against the image before it is replayed
(the replay itself is the session's, :meth:`isegm.annotation.session.AnnotationSession.restore`). Outputs:
:func:`save` writes every form of :mod:`~isegm.annotation.export` for the finished objects. Autosave:
:func:`write_autosave` (atomic; a failure is reported, never raised). All files go through
:func:`isegm.io.atomic_write` (temporary file, fsync, rename).
"""
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

from isegm.annotation import codec, export, overlap
from isegm.annotation import predict
from isegm.io import atomic_write_json

logger = logging.getLogger(__name__)

__all__ = ["session_header", "to_session", "export_objects", "output_paths", "save", "SessionHeader",
           "read_header", "require_record", "object_from_record", "write_autosave"]


# ---------------------------------------------------------------------- session -> json, outputs
def session_header(state, box_margin: float, settings: dict) -> dict:
    """The session record without its objects: format, version, image (file name, size, sha256), threshold,
    overlap rule, categories, box margin and the recorded ``settings`` (plain data)."""
    return {
        "format": codec.SESSION_FORMAT,
        "version": codec.SESSION_VERSION,
        "image": {"file_name": Path(state.image_name).name, "height": int(state.shape[0]),
                  "width": int(state.shape[1]), "sha256": state.image_sha},
        "threshold": state.threshold,
        "overlap_rule": state.overlap_rule,
        "categories": state.categories(),
        "box_margin": box_margin,
        "settings": settings,
    }


def to_session(state, box_margin: float, settings: dict, include_current: bool = True,
               current_refined: bool = False) -> dict:
    """Plain-data session dict (see :mod:`isegm.annotation.codec`) of a
    :class:`~isegm.annotation.state.SessionState`: everything needed to replay it; the unfinished object is
    ``current`` (None when empty or not ``include_current``), ``current_refined`` when the refiner predicts it."""
    session = session_header(state, box_margin, settings)
    session["objects"] = [dict(codec.object_record(o.label, o.clicks, o.box, o.init_rle, o.threshold, o.strokes,
                                                   o.refined), id=i + 1)
                          for i, o in enumerate(state.objects)]
    cur = None
    if include_current and not state.cur.is_empty():
        cur = codec.object_record(state.label, state.cur.clicks, state.cur.box, state.cur.init_rle,
                                  state.threshold, state.cur.strokes, current_refined)
    session["current"] = cur
    return session


def export_objects(state) -> List[export.ExportObject]:
    """The finished objects as :class:`isegm.annotation.export.ExportObject` (final masks copied, replay fields
    in ``extra``)."""
    cat_ids = {c["name"]: c["id"] for c in state.categories()}
    out = []
    for i, (obj, final) in enumerate(zip(state.objects, state.finals)):
        extra = codec.object_record(obj.label, obj.clicks, obj.box, obj.init_rle, obj.threshold, obj.strokes,
                                    obj.refined)
        del extra["label"]
        extra["isthing"] = obj.label not in state.stuff_labels
        out.append(export.ExportObject(id=i + 1, label=obj.label, category_id=cat_ids[obj.label],
                                       mask=final.copy(), extra=extra))
    return out


def output_paths(out_dir, image_name: str, name: Optional[str] = None) -> dict:
    """{kind: Path} that :func:`save` writes into ``out_dir`` for stem ``name`` (default: the image file's stem);
    see :func:`isegm.annotation.export.output_paths`."""
    return export.output_paths(out_dir, name or Path(image_name).stem)


def save(state, box_margin: float, settings: dict, out_dir, overwrite: bool = False, name: Optional[str] = None,
         alpha: float = 0.5) -> dict:
    """Write all output forms (see :mod:`isegm.annotation.export`) of the finished objects of ``state``.

    Args:
        out_dir: output folder; name: file stem (default: the image file's stem); overwrite: replace existing
            files; alpha: opacity of the overlay PNG's colours.
    Returns:
        dict kind -> Path.
    Raises:
        FileExistsError: outputs exist and overwrite is False; NotADirectoryError: ``out_dir`` is a file.
    """
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise NotADirectoryError(f"output folder {out_dir} is a file, expected a folder")
    stem = name or Path(state.image_name).stem
    return export.export_annotations(
        out_dir, stem, state.image, export_objects(state), state.categories(),
        isegm_info=session_header(state, box_margin, settings), image_file_name=Path(state.image_name).name,
        checkpoint_name=(settings.get("checkpoint") or {}).get("path"), overwrite=overwrite, alpha=alpha)


def write_autosave(path, session: dict) -> Optional[str]:
    """Write the session dict to ``path`` atomically (parents created).

    Returns:
        None, or the one-line message of a failed write (also logged as a warning): an autosave never raises,
        so a full disk or a removed folder never loses the session in memory.
    """
    try:
        atomic_write_json(path, session, overwrite=True, make_parents=True)
        return None
    except OSError as exc:
        message = f"autosave to {path} failed: {exc}"
        logger.warning(message)
        return message


# ---------------------------------------------------------------------- json -> session (checks before a replay)
@dataclass
class SessionHeader:
    """What :func:`read_header` took from a session record: ``where`` (its file, for messages), its overlap
    rule and box margin, the category names in id order and the names of stuff categories."""
    where: str
    overlap_rule: str
    box_margin: float
    class_names: List[str]
    stuff_labels: set


def read_header(session: dict, shape: Tuple[int, int], image_sha: str, box_margin: float,
                check_image: bool = True) -> SessionHeader:
    """Check a loaded session record (:func:`isegm.annotation.codec.load_session`) against the loaded image.

    Args:
        shape: (H, W) of the image; image_sha: its :func:`~isegm.annotation.codec.image_sha256`.
        box_margin: used when the record has none. check_image: compare the recorded pixel hash too.
    Raises:
        ValueError: the record belongs to another image (sizes or hashes named), has no integer size, or names
            an unknown overlap rule (the message names the file).
    """
    where = session.get("where", "session")
    info = session["image"]
    try:
        size = (int(info["height"]), int(info["width"]))
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{where}: 'image' needs integer 'height' and 'width'") from None
    if size != tuple(shape):
        raise ValueError(f"{where}: session is for a {size[1]}x{size[0]} image "
                         f"({info.get('file_name')}), the loaded image is {shape[1]}x{shape[0]}")
    if check_image and info.get("sha256") and info["sha256"] != image_sha:
        raise ValueError(f"{where}: session was recorded on different pixels than the loaded image "
                         f"(sha256 {info['sha256'][:12]}... vs {image_sha[:12]}...)")
    rule = session.get("overlap_rule", overlap.DEFAULT_RULE)
    if rule not in overlap.OVERLAP_RULES:
        raise ValueError(f"{where}: unknown overlap_rule {rule!r} in session")
    cats = session.get("categories") or []
    return SessionHeader(where=where, overlap_rule=rule, box_margin=float(session.get("box_margin", box_margin)),
                         class_names=[c["name"] for c in cats],
                         stuff_labels={c["name"] for c in cats if not c.get("isthing", True)})


def model_mismatches(recorded: Optional[dict], current: Optional[dict], where: str = "session") -> List[str]:
    """One-line notes on what differs between the model a session was recorded with and the one now loaded.

    Restoring a session re-predicts every object with the current model (refined objects with the current
    refiner); with another checkpoint or refiner (sha256) or another inference path (``settings.inference``, see :func:`isegm.annotation.runtime.session_settings`) the
    masks can differ from the recorded ones. Sessions without a record of either compare as equal there.

    Args:
        recorded: the session's ``settings`` dict (or None); current: the live session's.
        where: the file named in the notes.
    Returns:
        list of messages, empty when nothing recorded differs.
    """
    recorded, current = recorded or {}, current or {}
    notes = []
    old_sha = (recorded.get("checkpoint") or {}).get("sha256")
    new_sha = (current.get("checkpoint") or {}).get("sha256")
    if old_sha and new_sha and old_sha != new_sha:
        notes.append(f"{where}: recorded with checkpoint {(recorded.get('checkpoint') or {}).get('name')} "
                     f"(sha256 {old_sha[:12]}...), re-predicting with {(current.get('checkpoint') or {}).get('name')} "
                     f"(sha256 {new_sha[:12]}...): masks may differ")
    old_ref, new_ref = recorded.get("refiner") or {}, current.get("refiner") or {}
    if old_ref.get("sha256") and new_ref.get("sha256") and old_ref["sha256"] != new_ref["sha256"]:
        notes.append(f"{where}: recorded with refiner {old_ref.get('name')} (sha256 {old_ref['sha256'][:12]}...), "
                     f"re-predicting refined objects with {new_ref.get('name')} (sha256 {new_ref['sha256'][:12]}...): "
                     f"their masks may differ")
    if recorded and current:
        old_path, new_path = _path_name(recorded.get("inference")), _path_name(current.get("inference"))
        if old_path != new_path:
            notes.append(f"{where}: recorded on inference path {old_path}, re-predicting on {new_path}: masks may "
                         f"differ slightly (start with the recorded --inference, or replay with "
                         f"scripts/annotate.py, for the recorded masks)")
    return notes


def _path_name(block) -> str:
    """'exact' or the path's tags joined by '+' (e.g. 'bf16+bnfold+cl'); an unreadable block is shown as is."""
    from isegm.inference.paths import InferencePath
    try:
        path = InferencePath.from_json(block)
    except ValueError:
        return repr(block)
    return "exact" if path.is_exact else "+".join(path.tags)


def require_record(rec, where: str) -> dict:
    """``rec`` when it is an object record (a dict). Raises ValueError naming ``where`` otherwise."""
    if not isinstance(rec, dict):
        raise ValueError(f"{where}: expected an object record, got {rec!r:.60}")
    return rec


def object_from_record(rec: dict, where: str, shape: Tuple[int, int]):
    """The restricting box, external mask and clicks of an object record, checked against an (H, W) image.

    Returns:
        (box or None, init_mask (H, W) bool or None, init_rle or None, clicks tuple of
        :class:`isegm.geometry.Click`, strokes tuple of :class:`~isegm.annotation.history.StrokeStep`).
    Raises:
        ValueError: a malformed or out-of-image box, an external mask of another size, a malformed click or one
            outside the image or the box (the message names ``where`` and the click).
    """
    box = codec.box_from_json(rec.get("restrict_box"), where)
    init_rle = rec.get("init_mask")
    if box is not None:
        predict.check_box_exact(box, shape, where)
    init_mask = None
    if init_rle is not None:
        init_mask = export.rle_to_mask(init_rle)
        if init_mask.shape != tuple(shape):
            raise ValueError(f"{where}: init_mask has shape {init_mask.shape}, image is {tuple(shape)}")
    clicks = codec.clicks_from_json(rec.get("clicks"), where)
    for click in clicks:
        try:
            predict.check_click(click, box, shape)
        except ValueError as exc:
            raise ValueError(f"{where} click {click.index + 1}: {exc}") from None
    strokes = codec.strokes_from_json(rec.get("strokes"), clicks, where)
    for step in strokes:
        step.stroke.check_inside(*shape, where=f"{where} stroke from click {step.stroke.index + 1}")
    return box, init_mask, init_rle, clicks, strokes
