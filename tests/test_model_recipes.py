"""The `models/` experiment scripts state RITM's published recipes (read off RITM's own scripts,
SamsungLabs/ritm_interactive_segmentation, models/iter_mask and models/noniterative_baselines)."""
import importlib

import pytest

from isegm.model.builders import build_model

# script: (model builder, batch size, epochs, epoch_len, val_epoch_len, milestones, IT-M clicks)
RITM = {
    "models.iter_mask.hrnet18_cocolvis_itermask_3p": ("hrnet18_itermask", 28, 230, 30000, 2000, (200, 220), 3),
    "models.iter_mask.hrnet18s_cocolvis_itermask_3p": ("hrnet18s_itermask", 32, 230, 30000, 2000, (200, 220), 3),
    "models.iter_mask.hrnet32_cocolvis_itermask_3p": ("hrnet32_itermask", 32, 230, 30000, 2000, (200, 220), 3),
    "models.iter_mask.hrnet18_sbd_itermask_3p": ("hrnet18_itermask", 28, 220, -1, 500, (200, 215), 3),
    "models.noniterative_baselines.hrnet18_ocr64_cocolvis": ("hrnet18_ocr64_noniter", 28, 230, 30000, 2000, (200, 220), 0),
    "models.noniterative_baselines.r34_dh128_cocolvis": ("r34_dh128_baseline", 28, 160, 30000, 2000, (200, 220), 0),
}


@pytest.mark.parametrize("script", sorted(RITM))
def test_recipe_numbers_are_ritms(script):
    recipe = importlib.import_module(script).RECIPE
    model, batch, epochs, epoch_len, val_epoch_len, milestones, next_clicks = RITM[script]
    assert (recipe.model, recipe.batch_size, recipe.epochs, recipe.epoch_len, recipe.val_epoch_len,
            tuple(recipe.milestones), recipe.max_num_next_clicks) == RITM[script]


@pytest.mark.parametrize("script", ["models.noniterative_baselines.hrnet18_ocr64_cocolvis",
                                    "models.noniterative_baselines.r34_dh128_cocolvis"])
def test_noniterative_baselines_use_disks_and_no_previous_mask(script):
    model = build_model(importlib.import_module(script).RECIPE.model)
    assert not model.with_prev_mask
    assert model.dist_maps.use_disks and model.dist_maps.norm_radius == 5


def test_cocolvis_recipes_read_ritms_prepared_cocolvis_with_stuff():
    from isegm.data.registry import resolve

    recipe = importlib.import_module("models.iter_mask.hrnet18_cocolvis_itermask_3p").RECIPE
    assert resolve(recipe.train_dataset).loader == "coco_lvis:CocoLvisDataset"
    assert recipe.train_dataset_kwargs == {"stuff_prob": 0.30}
    sbd = importlib.import_module("models.iter_mask.hrnet18_sbd_itermask_3p").RECIPE
    assert resolve(sbd.train_dataset).loader == resolve(sbd.val_dataset).loader == "sbd:SBDDataset"
    assert sbd.train_dataset_kwargs == {}


def test_shipped_recipe_is_the_one_the_readme_describes():
    recipe = importlib.import_module("models.cocomval.hrnet18s_cocomval_itermask").RECIPE
    assert (recipe.model, recipe.batch_size, recipe.epochs, recipe.epoch_len, recipe.val_epoch_len,
            recipe.crop_size, recipe.coord_feature_scale) == ("hrnet18s_itermask", 8, 52, -1, -1, (256, 256), 5.0)
    assert recipe.train_dataset == "COCO_MVal" and recipe.train_dataset_kwargs == {}


def test_recipes_leave_suem_off_and_the_suem_variant_differs_only_there():
    from dataclasses import fields

    base = importlib.import_module("models.cocomval.hrnet18s_cocomval_itermask").RECIPE
    suem = importlib.import_module("models.cocomval.hrnet18s_cocomval_itermask_suem").RECIPE
    for script in RITM:
        recipe = importlib.import_module(script).RECIPE
        assert (recipe.copy_paste_prob, recipe.image_mix_prob, recipe.stuff_prob) == (0.0, 0.0, None)
    assert (base.copy_paste_prob, base.image_mix_prob) == (0.0, 0.0)
    assert (suem.copy_paste_prob, suem.image_mix_prob) == (0.5, 0.5)   # CFR-ICL's COCO+LVIS values
    differ = [f.name for f in fields(base) if getattr(base, f.name) != getattr(suem, f.name)]
    assert differ == ["copy_paste_prob", "image_mix_prob"]


def test_pseudo_object_ablation_scripts_differ_from_their_control_only_in_pseudo_objects():
    from dataclasses import replace as dc_replace

    control = importlib.import_module("models.cocomval.hrnet18s_cocomval_finetune").RECIPE
    assert control.pseudo_objects is None and control.lr < importlib.import_module(
        "models.cocomval.hrnet18s_cocomval_itermask").RECIPE.lr
    for name, field in (("superpixel", "superpixel_prob"), ("synthetic", "synthetic_prob")):
        variant = importlib.import_module(f"models.cocomval.hrnet18s_cocomval_finetune_{name}").RECIPE
        assert variant.pseudo_objects == {field: 0.5}
        assert dc_replace(variant, pseudo_objects=None) == control


def test_superpixel_follow_ups_change_one_thing_each():
    from dataclasses import replace as dc_replace

    superpixel = importlib.import_module("models.cocomval.hrnet18s_cocomval_finetune_superpixel").RECIPE
    longer = importlib.import_module("models.cocomval.hrnet18s_cocomval_finetune_superpixel_long").RECIPE
    more = importlib.import_module("models.cocomval.hrnet18s_cocomval_finetune_superpixel80").RECIPE
    assert (superpixel.epochs, longer.epochs) == (3, 12) and dc_replace(longer, epochs=3) == superpixel
    assert more.pseudo_objects == {"superpixel_prob": 0.8}
    assert dc_replace(more, pseudo_objects=superpixel.pseudo_objects) == superpixel
    suem = importlib.import_module("models.cocomval.hrnet18s_cocomval_finetune_superpixel_suem").RECIPE
    assert (suem.copy_paste_prob, suem.image_mix_prob) == (0.5, 0.5) and suem.stuff_prob == superpixel.stuff_prob
    assert dc_replace(suem, copy_paste_prob=superpixel.copy_paste_prob,
                      image_mix_prob=superpixel.image_mix_prob) == superpixel
