"""The shipped ISCED 2011 and ISCO-08 files and their loader."""

from __future__ import annotations

from collections import Counter

import pytest

from hub import classifications as c


def test_isced_has_levels_0_to_8_and_not_elsewhere_classified() -> None:
    assert list(c.isced_levels()) == [str(n) for n in range(10)]
    assert c.isced("3").title_en == "Upper secondary education"
    assert c.isced("9").title_en == "Not elsewhere classified"
    for level in c.isced_levels().values():
        assert level.title_en and level.title_fr and level.title_ar and level.description


def test_isco_counts_per_level() -> None:
    counts = Counter(g.level for g in c.isco_groups().values())
    assert counts == {1: 10, 2: 43, 3: 130, 4: 436}


def test_isco_codes_are_unique_and_as_long_as_their_level() -> None:
    with (c.DATA / "isco08.csv").open(encoding="utf-8") as f:
        codes = [line.split(",")[0] for line in f if not line.startswith(("#", "code,"))]
    assert len(codes) == len(set(codes)) == 619
    for group in c.isco_groups().values():
        assert group.code.isdigit() and len(group.code) == group.level


def test_every_isco_parent_exists_and_is_the_prefix() -> None:
    groups = c.isco_groups()
    for group in groups.values():
        if group.level == 1:
            assert group.parent is None
        else:
            assert group.parent == group.code[:-1]
            assert group.parent in groups
            assert groups[group.parent].level == group.level - 1


@pytest.mark.parametrize(
    ("code", "title"),
    [
        ("2512", "Software developers"),
        ("7212", "Welders and flamecutters"),
        ("6111", "Field crop and vegetable growers"),
        ("9112", "Cleaners and helpers in offices, hotels and other establishments"),
        ("0110", "Commissioned armed forces officers"),
        ("5413", "Prison guards"),
        ("11", "Chief executives, senior officials and legislators"),
        ("7", "Craft and related trades workers"),
    ],
)
def test_isco_spot_checks(code: str, title: str) -> None:
    assert c.isco(code).title_en == title


def test_major_groups_have_french_and_arabic_titles() -> None:
    for group in c.isco_groups().values():
        if group.level == 1:
            assert group.title_fr and group.title_ar
    assert c.isco("9").title_fr == "Professions élémentaires"


def test_children_and_major_group() -> None:
    assert [g.code for g in c.isco_children("721")] == ["7211", "7212", "7213", "7214", "7215"]
    assert [g.code for g in c.isco_children("0")] == ["01", "02", "03"]
    assert c.isco_children("7212") == ()
    assert c.isco_major("7212").title_en == "Craft and related trades workers"
    assert c.isco_major("0310").code == "0"
    assert c.isco_major("5").code == "5"


@pytest.mark.parametrize("bad", ["9999", "", "72120", "x", "7 "])
def test_unknown_isco_codes_are_refused_by_name(bad: str) -> None:
    with pytest.raises(ValueError, match=f"ISCO-08 has no group {bad!r}"):
        c.check_isco(bad)
    with pytest.raises(ValueError):
        c.isco(bad)
    with pytest.raises(ValueError):
        c.isco_children(bad)


def test_unknown_isced_level_is_refused_by_name() -> None:
    assert c.check_isced("6") == "6"
    with pytest.raises(ValueError, match="ISCED 2011 has no level '10'"):
        c.isced("10")


def test_search_finds_welder() -> None:
    assert [g.code for g in c.search_isco("welder")] == ["7212"]
    assert c.search_isco("WELDERS")[0].code == "7212"


def test_search_is_accent_and_case_insensitive_and_multiword() -> None:
    assert "5413" in [g.code for g in c.search_isco("prison GUARD")]
    assert [g.code for g in c.search_isco("élémentaires", level=1)] == ["9"]
    assert [g.code for g in c.search_isco("ELEMENTAIRES", level=1)] == ["9"]
    assert c.search_isco("   ") == []
    assert c.search_isco("zzzz") == []


def test_search_level_none_and_limit() -> None:
    everywhere = c.search_isco("cleaners", level=None)
    assert {g.level for g in everywhere} >= {2, 3, 4}
    assert len(c.search_isco("workers", limit=3)) == 3


def test_files_are_loaded_once() -> None:
    assert c.isco_groups() is c.isco_groups()
    assert c.isced_levels() is c.isced_levels()
