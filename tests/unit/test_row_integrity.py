"""Stored rows are checked before they count (issue 24, case 1 and the torn line of case 5): a
duplicated, a dropped, an edited row and a torn line each give one line naming the file, the ids
and the remedy; the generation job keeps only intact rows so that it regenerates the others; the
hash changes no row's key (the generation code digest is untouched)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cotrepro.code_digest import output_shaping
from cotrepro.io import read_jsonl, write_jsonl
from cotrepro.row_integrity import (
    CONTENT,
    RowIntegrityError,
    checked_rows,
    forcerun_remedy,
    keep_intact,
    stamp,
    stamp_file,
    unit_ids,
)

IDS = [f"q{i}" for i in range(5)]


def rows_file(tmp_path: Path) -> Path:
    path = tmp_path / "results/generations/m/t/zero_shot.jsonl"
    rows = [{"id": i, "key": f"k{i}", "prompt": f"Q{i}", "completion": f"A{i}", "generated_tokens": 3} for i in IDS]
    write_jsonl(path, [stamp(r) for r in rows])
    return path


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def check(path: Path) -> list[dict]:
    return checked_rows(path, IDS, forcerun_remedy(path))


def test_intact_rows_are_returned_in_task_order(tmp_path):
    path = rows_file(tmp_path)
    path.write_text("".join(reversed(lines(path))), encoding="utf-8")
    assert [r["id"] for r in check(path)] == IDS


def damage_duplicate(path):
    path.write_text("".join(lines(path) + lines(path)[1:2]), encoding="utf-8")


def damage_drop(path):
    path.write_text("".join(lines(path)[:3]), encoding="utf-8")


def damage_edit(path):
    rows = read_jsonl(path)
    rows[2]["completion"] = "The answer is 42."  # still valid JSON, hash left as it was
    write_jsonl(path, rows)


def damage_tear(path):
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: len(text) - 40], encoding="utf-8")


def damage_bytes(path):
    path.write_bytes(path.read_bytes().replace(b'"Aq1"', b'"\xffq1"'))


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (damage_duplicate, "appear more than once: q1"),
        (damage_drop, "have no row: q3, q4"),
        (damage_edit, "do not match their content hash (edited?): q2"),
        (damage_tear, "line(s) 5 are not valid JSON rows"),
        (damage_bytes, "line(s) 2 are not valid JSON rows"),
    ],
)
def test_damage_is_one_line_naming_file_ids_and_remedy(tmp_path, damage, named):
    path = rows_file(tmp_path)
    damage(path)
    with pytest.raises(RowIntegrityError) as err:
        check(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert named in message
    assert f"--forcerun {path}" in message


def test_unexpected_ids_are_refused(tmp_path):
    path = rows_file(tmp_path)
    with pytest.raises(RowIntegrityError, match="for no question of the unit: q4"):
        checked_rows(path, IDS[:4], "")


@pytest.mark.parametrize("damage", [damage_duplicate, damage_drop, damage_edit, damage_tear])
def test_the_generation_job_keeps_only_intact_rows(tmp_path, damage):
    path = rows_file(tmp_path)
    before = {r["id"]: r for r in read_jsonl(path)}
    damage(path)
    keep_intact(path)
    kept = [json.loads(line) for line in lines(path)]
    assert all(before[r["id"]] == r for r in kept)  # only rows as generation wrote them survive
    assert {r["id"] for r in kept} <= set(IDS)


def test_a_file_written_before_row_hashes_is_read_and_stamped(tmp_path):
    path = tmp_path / "old.jsonl"
    write_jsonl(path, [{"id": i, "completion": "x"} for i in IDS])
    assert [r["id"] for r in checked_rows(path, IDS, "")] == IDS
    assert keep_intact(path) == 0
    stamp_file(path)
    assert all(CONTENT in r for r in read_jsonl(path))
    assert [r["id"] for r in checked_rows(path, IDS, "")] == IDS


def test_a_row_without_its_hash_in_a_hashed_file_is_damaged(tmp_path):
    path = rows_file(tmp_path)
    rows = read_jsonl(path)
    del rows[0][CONTENT]
    write_jsonl(path, rows)
    with pytest.raises(RowIntegrityError, match="content hash.*: q0"):
        check(path)


def test_unit_ids_follow_the_units_question_count():
    records = [{"id": i} for i in IDS]
    assert unit_ids({"task": {"records": 3}}, records) == IDS[:3]
    assert unit_ids({"not_applicable": "no chat template"}, records) == []


def test_the_row_hash_is_outside_the_code_that_keys_rows():
    # Were it inside, adding it would have changed every existing row's key (a full regeneration).
    assert "row_integrity.py" not in output_shaping()
    assert "models/weights_check.py" not in output_shaping()
