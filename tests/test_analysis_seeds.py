"""Mean and spread over seeds from sweep CSVs, checked against numpy."""
import numpy as np
import pytest

from lava_vision.analysis.seeds import markdown, over_seeds


def test_over_seeds_groups_by_setting_and_matches_numpy(tmp_path):
    rows = {"qs__zeroU_seed0": 0.70, "qs__zeroU_seed1": 0.74, "qs__zeroU_seed2": 0.69,
            "qs__zeroV_seed0": 0.60, "qs__zeroV_seed1": 0.66, "qs__seed10_zeroK": 0.5}
    csv = tmp_path / "comparison.csv"
    csv.write_text("run,top1\n" + "".join(f"{k},{v}\n" for k, v in rows.items()))
    stats = {s.setting: s for s in over_seeds([csv], "top1")}
    assert list(stats) == ["qs__zeroU", "qs__zeroV", "qs__zeroK"]
    u = np.array([0.70, 0.74, 0.69])
    assert stats["qs__zeroU"].values == pytest.approx(u.tolist(), abs=0)
    assert stats["qs__zeroU"].mean == pytest.approx(u.mean(), abs=1e-12)
    assert stats["qs__zeroU"].std == pytest.approx(u.std(ddof=1), abs=1e-12)
    assert stats["qs__zeroK"].std == 0.0
    table = markdown(list(stats.values()), "top1")
    assert f"| qs__zeroU | 3 | {u.mean():.3f} ± {u.std(ddof=1):.3f} | 0.690 – 0.740 |" in table
    with pytest.raises(KeyError, match="top5"):
        over_seeds([csv], "top5")
    bad = tmp_path / "bad.csv"
    bad.write_text("run,top1\nqs__zeroU,0.5\n")
    with pytest.raises(ValueError, match="no _seed"):
        over_seeds([bad], "top1")


def test_paired_differences_match_seed_by_seed_numpy(tmp_path):
    from lava_vision.analysis.seeds import paired, paired_markdown
    rows = {"qs__ref_seed0": 0.60, "qs__ref_seed1": 0.70, "qs__ref_seed2": 0.80,
            "qs__new_seed2": 0.85, "qs__new_seed0": 0.58, "qs__new_seed1": 0.70, "qs__new_seed7": 0.99}
    csv = tmp_path / "comparison.csv"
    csv.write_text("run,top1\n" + "".join(f"{k},{v}\n" for k, v in rows.items()))
    (new,) = paired(over_seeds([csv], "top1"), "qs__ref")
    d = np.array([0.58 - 0.60, 0.70 - 0.70, 0.85 - 0.80])  # seed 7 has no reference: left out
    assert sorted(new.diffs) == pytest.approx(sorted(d.tolist()), abs=1e-12)
    assert new.mean == pytest.approx(d.mean(), abs=1e-12)
    assert new.std == pytest.approx(d.std(ddof=1), abs=1e-12)
    assert new.record() == (1, 1, 1)
    row = f"| qs__new | 3 | {d.mean():+.3f} ± {d.std(ddof=1):.3f} | 1 / 1 / 1 |"
    assert row in paired_markdown([new], "qs__ref", "top1")
    with pytest.raises(KeyError, match="qs__nope"):
        paired(over_seeds([csv], "top1"), "qs__nope")
    dup = tmp_path / "dup.csv"
    dup.write_text("run,top1\nqs__ref_seed0,0.5\nqs__ref_seed0,0.6\n")
    with pytest.raises(ValueError, match="twice"):
        over_seeds([dup], "top1")
