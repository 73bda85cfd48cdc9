"""Outputs of a session: instance ids, colours, overlay, COCO json (RLE, polygons, clicks), semantic, panoptic,
atomic writes and overwrite refusal."""
import json
import os

import cv2
import numpy as np
import pytest
from annotation_fakes import DiskPredictor
from pycocotools import mask as mask_utils

from isegm.annotation import AnnotationController, load_session
from isegm.annotation import export
from isegm.annotation.render import instance_color

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture
def annotated(controller):
    """Three objects: two 'cat' things, one 'grass' stuff (with a hole from a negative click)."""
    controller.set_label("cat")
    controller.add_click(15, 15, True)
    controller.finish_object()
    controller.add_click(15, 60, True)
    controller.add_click(22, 60, True)
    controller.finish_object()
    controller.set_label("grass", isthing=False)
    ext = np.zeros((64, 80), bool)
    ext[35:64, 0:80] = True
    controller.set_external_mask(ext)
    controller.add_click(50, 40, False)
    controller.finish_object()
    controller.set_label("grass")
    controller.add_click(5, 40, True)  # unfinished: not exported
    return controller


def read_png(path):
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def test_instances_and_colors(annotated, tmp_path):
    paths = annotated.save(tmp_path)
    inst = read_png(paths["instances"])
    assert inst.dtype == np.uint16
    np.testing.assert_array_equal(inst, annotated.instance_map())
    assert set(np.unique(inst)) == {0, 1, 2, 3}
    colors = cv2.cvtColor(read_png(paths["colors"]), cv2.COLOR_BGR2RGB)
    assert colors.shape == (64, 80, 3)
    for inst_id in range(4):
        assert (colors[inst == inst_id] == instance_color(inst_id)).all()
    assert len({instance_color(i) for i in range(1, 41)}) == 40  # fixed, distinct palette
    overlay = cv2.cvtColor(read_png(paths["overlay"]), cv2.COLOR_BGR2RGB)
    assert overlay.shape == (64, 80, 3)
    assert not np.array_equal(overlay[inst == 1], annotated.image[inst == 1])
    np.testing.assert_array_equal(overlay[0:3, 30:34], annotated.image[0:3, 30:34])  # far from any object


def test_coco_json_round_trip(annotated, tmp_path):
    paths = annotated.save(tmp_path)
    coco = json.loads(paths["json"].read_text())
    inst = annotated.instance_map()
    assert coco["images"] == [{"id": 1, "file_name": "scene.png", "height": 64, "width": 80}]
    assert coco["categories"] == [{"id": 1, "name": "cat", "supercategory": "", "isthing": 1},
                                  {"id": 2, "name": "grass", "supercategory": "", "isthing": 0}]
    anns = coco["annotations"]
    assert [a["id"] for a in anns] == [1, 2, 3] and [a["category_id"] for a in anns] == [1, 1, 2]
    for ann in anns:
        mask = inst == ann["id"]
        decoded = export.rle_to_mask(ann["rle"])
        np.testing.assert_array_equal(decoded, mask)
        rle = dict(ann["rle"], counts=ann["rle"]["counts"].encode())
        assert ann["area"] == int(mask.sum()) == int(mask_utils.area(rle))
        assert ann["bbox"] == [int(v) for v in mask_utils.toBbox(rle)]
        assert ann["segmentation"] == ann["rle"]
        assert ann["polygons"] and all(len(p) >= 6 and len(p) % 2 == 0 for p in ann["polygons"])
        poly = mask_utils.decode(mask_utils.frPyObjects(ann["polygons"], 64, 80))
        poly = poly.max(axis=2) if poly.ndim == 3 else poly
        iou = (poly.astype(bool) & mask).sum() / (poly.astype(bool) | mask).sum()
        assert iou > 0.8
        assert ann["checkpoint"] == "fake.pth" and ann["threshold"] == 0.5
    assert anns[1]["clicks"] == [{"y": 15, "x": 60, "positive": True, "order": 1},
                                 {"y": 22, "x": 60, "positive": True, "order": 2}]
    assert anns[2]["init_mask"] is not None and anns[2]["isthing"] is False
    assert coco["isegm"]["overlap_rule"] == "keep_earlier"
    # the json alone (with the same image and predictor) rebuilds the same objects
    replay = AnnotationController(DiskPredictor())
    replay.set_image(annotated.image, "scene.png")
    replay.restore(load_session(paths["json"]))
    np.testing.assert_array_equal(replay.instance_map(), inst)
    assert replay.categories() == annotated.categories()


def test_semantic_and_panoptic_match_instances(annotated, tmp_path):
    paths = annotated.save(tmp_path)
    inst = annotated.instance_map()
    sem = read_png(paths["semantic"])
    assert sem.dtype == np.uint8
    expected = np.zeros_like(sem)
    expected[(inst == 1) | (inst == 2)] = 1
    expected[inst == 3] = 2
    np.testing.assert_array_equal(sem, expected)

    pan = json.loads(paths["panoptic_json"].read_text())
    seg = export.rgb_to_id(cv2.cvtColor(read_png(paths["panoptic_png"]), cv2.COLOR_BGR2RGB))
    (ann,) = pan["annotations"]
    assert ann["file_name"] == paths["panoptic_png"].name
    infos = {s["id"]: s for s in ann["segments_info"]}
    assert set(infos) == {1, 2, 3} and set(np.unique(seg)) == {0, 1, 2, 3}
    for seg_id, info in infos.items():
        np.testing.assert_array_equal(seg == seg_id, inst == seg_id)
        assert info["area"] == int((inst == seg_id).sum())
        assert info["category_id"] == (1 if seg_id < 3 else 2)
    assert {c["name"]: c["isthing"] for c in pan["categories"]} == {"cat": 1, "grass": 0}


def test_stuff_instances_merge_into_one_panoptic_segment(image, tmp_path):
    ctrl = AnnotationController(DiskPredictor())
    ctrl.set_image(image, "sky.png")
    ctrl.set_label("sky", isthing=False)
    for y, x in ((10, 10), (10, 60)):
        ctrl.add_click(y, x, True)
        ctrl.finish_object()
    paths = ctrl.save(tmp_path)
    seg = export.rgb_to_id(cv2.cvtColor(read_png(paths["panoptic_png"]), cv2.COLOR_BGR2RGB))
    (ann,) = json.loads(paths["panoptic_json"].read_text())["annotations"]
    assert [s["id"] for s in ann["segments_info"]] == [1]
    np.testing.assert_array_equal(seg == 1, ctrl.instance_map() > 0)


def test_overwrite_refused_then_allowed(annotated, tmp_path):
    paths = annotated.save(tmp_path)
    before = {k: p.read_bytes() for k, p in paths.items()}
    annotated.set_threshold(0.7)
    annotated.finish_object()
    with pytest.raises(FileExistsError, match="refusing to overwrite") as err:
        annotated.save(tmp_path)
    assert str(paths["json"]) in str(err.value)
    assert {k: p.read_bytes() for k, p in paths.items()} == before
    annotated.save(tmp_path, overwrite=True)
    assert len(json.loads(paths["json"].read_text())["annotations"]) == 4
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in paths.values())  # no temp files left


def test_atomic_writes_leave_old_outputs_on_crash(annotated, tmp_path, monkeypatch):
    paths = annotated.save(tmp_path)
    before = {k: p.read_bytes() for k, p in paths.items()}

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    annotated.finish_object()
    with pytest.raises(OSError, match="disk full"):
        annotated.save(tmp_path, overwrite=True)
    assert {k: p.read_bytes() for k, p in paths.items()} == before
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in paths.values())  # no temp files left


def _coco_masks_equal_png(tmp_path, name, image, masks):
    """Export ``masks`` as objects 1..N; check COCO(json).annToMask(ann) == (instances PNG == k) for every k."""
    from pycocotools.coco import COCO

    objects = [export.ExportObject(id=k + 1, label="thing", category_id=1, mask=m) for k, m in enumerate(masks)]
    paths = export.export_annotations(tmp_path, name, image, objects, [{"id": 1, "name": "thing", "isthing": 1}],
                                      isegm_info={})
    inst = read_png(paths["instances"])
    coco = COCO(str(paths["json"]))
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[1]))
    assert [a["id"] for a in anns] == list(range(1, len(masks) + 1))
    for ann in anns:
        np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), inst == ann["id"],
                                      err_msg=f"object {ann['id']} of {name}")
        assert ann["iscrowd"] == 0 and isinstance(ann["segmentation"]["counts"], str)
        assert isinstance(ann["polygons"], list)
    return inst


def test_coco_segmentation_is_exact_for_thin_and_holed_shapes(tmp_path):
    h, w = 48, 64
    ring = np.zeros((h, w), bool)
    ring[4:30, 4:30] = True
    ring[10:24, 10:24] = False  # a hole
    line = np.zeros((h, w), bool)
    line[2:46, 40] = True  # 1 px wide
    diag = np.zeros((h, w), bool)
    diag[np.arange(30, 46), np.arange(45, 61)] = True  # 8-connected diagonal
    dots = np.zeros((h, w), bool)
    dots[40, 5] = dots[44, 20] = dots[15, 55] = True  # isolated pixels, no polygon possible
    inst = _coco_masks_equal_png(tmp_path, "shapes", np.zeros((h, w, 3), np.uint8), [ring, line, diag, dots])
    assert (inst == 1).sum() == ring.sum() and (inst == 4).sum() == 3


def test_coco_segmentation_is_exact_on_a_real_image(tmp_path, berkeley_path):
    BERKELEY = str(berkeley_path)
    from isegm.io import read_binary_mask, read_image

    mask_file = sorted(os.listdir(os.path.join(BERKELEY, "masks")))[0]
    stem = os.path.splitext(mask_file)[0]
    image_file = next(f for f in sorted(os.listdir(os.path.join(BERKELEY, "images"))) if f.startswith(stem + "."))
    image = read_image(os.path.join(BERKELEY, "images", image_file))
    gt = read_binary_mask(os.path.join(BERKELEY, "masks", mask_file))
    ys, xs = np.nonzero(gt)
    left = gt & (np.arange(gt.shape[1])[None, :] < int(np.median(xs)))  # the object split in two objects
    right = gt & ~left
    band = np.zeros_like(gt)
    band[max(0, ys.min() - 12):ys.max() + 12, max(0, xs.min() - 12):xs.max() + 12] = True
    band &= ~gt  # the surroundings: a large object with the real object's outline as its hole
    _coco_masks_equal_png(tmp_path, stem, image, [left, right, band])


def test_uint16_ids_beyond_255(tmp_path):
    image = np.zeros((20, 300, 3), np.uint8)
    objects = [export.ExportObject(id=i + 1, label="dot", category_id=1,
                                      mask=np.pad(np.ones((1, 1), bool), ((i % 20, 19 - i % 20), (i, 299 - i))))
               for i in range(300)]
    paths = export.export_annotations(tmp_path, "many", image, objects, [{"id": 1, "name": "dot", "isthing": 1}],
                                         isegm_info={})
    inst = read_png(paths["instances"])
    assert inst.dtype == np.uint16 and inst.max() == 300
    pan = export.rgb_to_id(cv2.cvtColor(read_png(paths["panoptic_png"]), cv2.COLOR_BGR2RGB))
    np.testing.assert_array_equal(pan, inst)
