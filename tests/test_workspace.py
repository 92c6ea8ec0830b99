import csv
import io
import json
from pathlib import Path

import pytest

from tui_trainer.workspace.columns import (
    SUMMARY_COLUMNS,
    clock,
    config_keys,
    count,
    diff_keys,
    diff_pair,
    format_value,
    sort_records,
)
from tui_trainer.workspace.filter import FILTER_HELP, FilterError, parse
from tui_trainer.workspace.tables import metrics_csv, summary_keys, to_csv, to_json_rows


def run(name: str, **values) -> dict:
    record = {"name": name, "preset": "cpu-quick", "date": "2026-12-01 10:15", "state": "finished",
              "epochs": 10, "epochs_total": 10, "best_acc": 0.85, "best_epoch": 9, "final_acc": 0.86,
              "final_tta": False, "train_seconds": 151.0, "images_per_s": 1234.5, "device": "cpu",
              "parameters": 1_234_567, "data": "synthetic", "study": None, "trial": None, "tags": [],
              "note": "", "problem": None,
              "model.name": "airbench", "model.widths": [32, 64, 64], "optimizer.lr": 0.1,
              "run.epochs": 10, "run.tta": False}
    record.update({k.replace("__", "."): v for k, v in values.items()})
    return record


RUNS = [
    run("20261201-101500-cpu-quick", date="2026-12-01 10:15", tags=["baseline", "old"],
        note="First try\nwith defaults"),
    run("20261202-090000-airbench", date="2026-12-02 09:00", preset="airbench94", best_acc=0.94,
        final_acc=0.945, final_tta=True, model__widths=[64, 128, 128], optimizer__lr=0.05, run__tta=True,
        study="lr-sweep", trial=3),
    run("20261203-120000-resnet", date="2026-12-03 12:00", state="stopped early", best_acc=None,
        final_acc=None, model__name="resnet9", tags=["Fast"]),
    run("20261204-080000-broken", date="2026-12-04 08:00", state="unreadable",
        problem="config.toml: not valid TOML"),
]
BROKEN = {"name": "20261205-000000-x", "state": "unreadable", "problem": "no summary"}  # no config keys


def names(text: str, records=RUNS, **kwargs) -> list[str]:
    f = parse(text, **kwargs)
    return [r["name"].split("-", 2)[2] for r in records if f.matches(r)]


# --- filter ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("", ["cpu-quick", "airbench", "resnet", "broken"]),
    ("   ", ["cpu-quick", "airbench", "resnet", "broken"]),
    ("AIRBENCH", ["airbench"]),  # name and preset, any case
    ("sweep", ["airbench"]),  # study
    ("defaults", ["cpu-quick"]),  # the note, past its first line
    ("fas", ["resnet"]),  # a tag, as a substring
    ('"first try"', ["cpu-quick"]),
    ("tag:fast", ["resnet"]),
    ("tag:fas", []),  # tags match whole
    ("!tag:old", ["airbench", "resnet", "broken"]),
    ("preset:airbench94", ["airbench"]),
    ("preset:airbench", []),
    ("state:finished", ["cpu-quick", "airbench"]),
    ("state:stop", ["resnet"]),
    ("state:stopped", []),
    ("state:stopped-early", ["resnet"]),
    ('state:"stopped early"', ["resnet"]),
    ("state:unread", ["broken"]),
])
def test_words_tags_presets_and_states(text, expected):
    assert names(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("best_acc>0.9", ["airbench"]),
    ("best_acc>90%", ["airbench"]),
    ("best_acc>=85%", ["cpu-quick", "airbench", "broken"]),
    ("best_acc<0.9", ["cpu-quick", "broken"]),  # the resnet's None never matches
    ("best_acc!=0.85", ["airbench"]),  # nor does it match !=
    ("!best_acc>0.9", ["cpu-quick", "resnet", "broken"]),  # ! negates the whole term
    ("best_acc=0.85", ["cpu-quick", "broken"]),
    ("optimizer.lr<0.1", ["airbench"]),
    ("optimizer.lr=0.1", ["cpu-quick", "resnet", "broken"]),
    ("optimizer.lr=1e-1", ["cpu-quick", "resnet", "broken"]),
    ("model.name=AirBench", ["cpu-quick", "airbench", "broken"]),
    ("model.name!=airbench", ["resnet"]),
    ("model.widths=32,64,64", ["cpu-quick", "resnet", "broken"]),
    ("model.widths=[64, 128,128]", []),  # split at the space: "128,128]" is another term
    ('model.widths="[64, 128,128]"', ["airbench"]),
    ("model.widths!=32,64,64", ["airbench"]),
    ("model.widths=32,64", []),
    ("model.widths>32", []),  # lists have no order
    ("run.tta=true", ["airbench"]),
    ("run.tta=no", ["cpu-quick", "resnet", "broken"]),
    ("run.tta=maybe", []),
    ("date>=2026-12-03", ["resnet", "broken"]),  # text orders alphabetically
    ("date<2026-12-02", ["cpu-quick"]),
    ("date>2026", ["cpu-quick", "airbench", "resnet", "broken"]),  # a number against text compares as text
    ("model.name>b", ["resnet"]),
    ("trial=3", ["airbench"]),
    ("trial!=3", []),  # None elsewhere
    ("parameters>1e6 epochs=10 state:fin", ["cpu-quick", "airbench"]),
    ("final_tta=true", ["airbench"]),
    ('note=""', ["airbench", "resnet", "broken"]),
    ("study=lr-sweep !tag:old airbench", ["airbench"]),
])
def test_comparisons(text, expected):
    assert names(text) == expected


def test_missing_keys_never_match_a_comparison():
    f = parse("optimizer.lr!=0.5")
    assert not f.matches(BROKEN)
    assert parse("!optimizer.lr<1").matches(BROKEN)
    assert not parse("tag:old").matches(BROKEN)
    assert not parse("anything").matches(BROKEN)
    assert parse("state:unreadable").matches(BROKEN)
    assert parse("fix").matches(BROKEN | {"note": "Fix later"})


def test_quotes_make_syntax_plain_text():
    records = [run("a", note="look at lr=0.1 here"), run("b", note="todo: more epochs"), run("c")]
    assert [r["name"] for r in records if parse('"lr=0.1"').matches(r)] == ["a"]
    assert [r["name"] for r in records if parse('"todo:"').matches(r)] == ["b"]
    assert [r["name"] for r in records if parse('"todo: more" !"lr="').matches(r)] == ["b"]
    assert [r["name"] for r in records if parse('note="todo: more epochs"').matches(r)] == ["b"]


@pytest.mark.parametrize("text,message", [
    ("best_acc>abc", "'best_acc>abc': expected a number after >"),
    ("epochs=", "'epochs=': expected a number after ="),
    ("best_acc>85", "'best_acc>85': accuracies are fractions: write 0.85 or 85%"),
    ("model.name=", "'model.name=': expected a value after ="),
    ('note="abc def', "unclosed quote in 'note=\"abc def tag:x'"),
    ('x "abc', "unclosed quote in '\"abc tag:x'"),
    ("!", "'!': expected a term after !"),
    (">0.5", "'>0.5': expected a key before >"),
    ("!=x", "'!=x': expected a key before ="),
    ("foo:bar", "unknown filter 'foo:' in 'foo:bar' (allowed: tag:, state:, preset:"),
    ("tag:", "'tag:': expected a tag after tag:"),
    ("state:done", "unknown state 'done' in 'state:done' (states: live, finished, stopped, stopped early"),
])
def test_errors_name_the_term_and_what_is_allowed(text, message):
    with pytest.raises(FilterError) as e:
        parse(f"airbench {text} tag:x")
    assert message in str(e.value)
    assert "\n" not in str(e.value)
    assert isinstance(e.value, ValueError)


def test_known_keys_turn_typos_into_errors():
    known = set().union(*RUNS)
    with pytest.raises(FilterError, match=r"^unknown key 'optimizer.lrr' in 'optimizer.lrr<0.5' "
                                          r"\(did you mean optimizer.lr\?\)$"):
        parse("optimizer.lrr<0.5", known_keys=known)
    with pytest.raises(FilterError, match=r"unknown key 'zzz' in '!zzz=1' \(keys look like"):
        parse("!zzz=1", known_keys=known)
    assert names("optimizer.lr<0.1", known_keys=known) == ["airbench"]
    assert names("zzz=1") == []  # without known_keys a typo just matches nothing


def test_a_thousand_records_filter_in_one_pass():
    records = [run(f"r{i}", best_acc=i / 1000, tags=["even"] if i % 2 == 0 else []) for i in range(1000)]
    f = parse("best_acc>=50% tag:even !r5 model.widths=32,64,64")
    # From r500 up, the even ones, less r500..r598 which hold the text "r5".
    assert [r["name"] for r in records if f.matches(r)] == [f"r{i}" for i in range(600, 1000, 2)]


def test_help_lists_every_kind_of_term():
    for needle in ("tag:NAME", "state:NAME", "preset:NAME", "85%", "!TERM", '"a phrase"', ">="):
        assert needle in FILTER_HELP


# --- columns -----------------------------------------------------------------------------------

def test_summary_columns_display():
    shown = {c.key: c.display(RUNS[1]) for c in SUMMARY_COLUMNS}
    assert [c.key for c in SUMMARY_COLUMNS] == [
        "name", "preset", "date", "state", "epochs", "best_acc", "best_val_acc", "final_acc", "train_seconds",
        "images_per_s", "device", "parameters", "data", "study", "trial", "tags", "note"]
    assert (shown["epochs"], shown["best_acc"], shown["final_acc"], shown["train_seconds"],
            shown["parameters"], shown["images_per_s"], shown["trial"]) == (
        "10/10", "94.0%", "94.5% T", "2:31", "1.23M", "1,234", "3")
    blank = {c.key: c.display({"name": "x"}) for c in SUMMARY_COLUMNS}
    assert blank["best_acc"] == blank["best_val_acc"] == blank["epochs"] == blank["train_seconds"] == "-"
    assert shown["best_val_acc"] == "-"  # a run that held nothing out: the test set chose
    assert {c.key: c for c in SUMMARY_COLUMNS}["best_val_acc"].display({"best_val_acc": 0.8761}) == "87.6%"
    assert blank["tags"] == blank["note"] == ""
    note = {c.key: c for c in SUMMARY_COLUMNS}["note"]
    assert note.display(RUNS[0]) == "First try"
    assert note.display({"note": "x" * 100}) == "x" * 39 + "…"
    assert {c.key: c for c in SUMMARY_COLUMNS}["tags"].display(RUNS[0]) == "baseline, old"
    assert {c.key: c for c in SUMMARY_COLUMNS}["epochs"].display({"epochs": 3}) == "3"


def test_clock_and_count():
    assert [clock(s) for s in (0, 59.6, 151, 3723)] == ["0:00", "1:00", "2:31", "1:02:03"]
    assert [count(n) for n in (812, 45_600, 1_234_567)] == ["812", "45.6k", "1.23M"]


@pytest.mark.parametrize("descending", [False, True])
def test_sort_puts_missing_values_last_in_both_directions(descending):
    records = [{"name": "a", "best_acc": 0.5}, {"name": "b"}, {"name": "c", "best_acc": 0.9},
               {"name": "d", "best_acc": None}, {"name": "e", "best_acc": 0.7}]
    got = [r["name"] for r in sort_records(records, "best_acc", descending)]
    assert got == (["c", "e", "a", "b", "d"] if descending else ["a", "e", "c", "b", "d"])


def test_sort_by_text_tags_and_config_keys():
    def short(records):
        return [r["name"].split("-", 2)[2] for r in records]
    assert short(sort_records(RUNS, "preset")) == ["airbench", "cpu-quick", "resnet", "broken"]  # stable
    assert short(sort_records(RUNS, "tags")) == ["cpu-quick", "resnet", "airbench", "broken"]  # no tags last
    assert short(sort_records(RUNS, "tags", descending=True)) == ["resnet", "cpu-quick", "airbench", "broken"]
    assert short(sort_records(RUNS + [BROKEN], "optimizer.lr", descending=True)) == [
        "cpu-quick", "resnet", "broken", "airbench", "x"]
    mixed = [{"k.x": "b"}, {"k.x": 2}, {"k.x": [1]}, {"k.x": 1}]
    assert [r["k.x"] for r in sort_records(mixed, "k.x")] == [1, 2, "b", [1]]


def test_config_keys_group_by_section_in_first_seen_order():
    records = [{"name": "a", "run.epochs": 1, "model.name": "x"},
               {"optimizer.lr": 0.1, "model.widths": [], "run.tta": True, "note": ""}]
    assert config_keys(records) == ["run.epochs", "run.tta", "model.name", "model.widths", "optimizer.lr"]


def test_diff_keys_compare_lists_by_value_and_count_missing_keys():
    a = {"name": "a", "note": "x", "model.widths": [32, 64], "optimizer.lr": 0.1, "run.epochs": 10}
    b = {"name": "b", "note": "y", "model.widths": [32, 64], "optimizer.lr": 0.2, "run.epochs": 10,
         "run.tta": True}
    c = dict(a, **{"model.widths": [32, 65]})
    assert diff_keys([a, b]) == ["optimizer.lr", "run.tta"]
    assert diff_keys([a, dict(a)]) == []
    assert diff_keys([a, a, c]) == ["model.widths"]
    assert diff_keys([a]) == diff_keys([]) == []


@pytest.mark.parametrize("value,text", [
    (0.00133, "0.00133"), (1.0, "1"), (2e-05, "2e-05"), (0.1, "0.1"), (5e-4, "0.0005"), (10, "10"),
    ([32, 64, 64], "32,64,64"), ([0.5, 1.0], "0.5,1"), ([], "[]"), (True, "true"), (False, "false"),
    (None, "-"), ("cosine", "cosine"),
])
def test_format_value(value, text):
    assert format_value(value) == text


def test_diff_pair_shows_differences_then_results():
    rows = diff_pair(RUNS[0], RUNS[1])
    assert rows == [
        ("model.widths", "32,64,64", "64,128,128"),
        ("optimizer.lr", "0.1", "0.05"),
        ("run.tta", "false", "true"),
        ("best_acc", "85.0%", "94.0%"),
        ("final_acc", "86.0%", "94.5% T"),
        ("epochs", "10/10", "10/10"),
        ("train_seconds", "2:31", "2:31"),
    ]
    assert diff_pair(RUNS[0], BROKEN)[0] == ("model.name", "airbench", "-")
    assert [key for key, _, _ in diff_pair(RUNS[0], dict(RUNS[0]))] == [
        "best_acc", "final_acc", "epochs", "train_seconds"]


# --- export ------------------------------------------------------------------------------------

def test_csv_round_trip():
    records = [dict(RUNS[0], run_dir=Path("/runs/a")), RUNS[1], BROKEN]
    buf = io.StringIO(newline="")
    to_csv(records, buf)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue(), newline="")))
    assert len(rows) == 3
    header = list(rows[0])
    assert header[:8] == ["name", "preset", "date", "state", "epochs", "epochs_total", "best_acc",
                          "best_epoch"]
    assert header.index("problem") < header.index("run_dir") < header.index("model.name")
    assert header[-5:] == ["model.name", "model.widths", "optimizer.lr", "run.epochs", "run.tta"]
    first, second, broken = rows
    assert first["run_dir"] == "/runs/a" and second["run_dir"] == ""
    assert float(second["best_acc"]) == 0.94 and second["final_tta"] == "True"
    assert first["tags"] == "baseline;old" and first["note"] == "First try\nwith defaults"
    assert json.loads(second["model.widths"]) == [64, 128, 128]
    assert float(second["optimizer.lr"]) == 0.05 and second["run.tta"] == "True"
    assert float(first["parameters"]) == 1_234_567 and first["study"] == ""
    assert broken["problem"] == "no summary" and broken["model.name"] == "" and broken["best_acc"] == ""


def test_summary_keys_cover_every_column():
    keys = summary_keys([])
    assert all(c.key in keys for c in SUMMARY_COLUMNS)
    assert {"epochs_total", "best_epoch", "final_tta", "problem"} <= set(keys)


def test_json_rows_are_standard_json():
    rows = to_json_rows([dict(RUNS[1], run_dir=Path("/runs/b"), images_per_s=float("nan"))])
    text = json.dumps(rows, allow_nan=False)
    back = json.loads(text)[0]
    assert back["run_dir"] == "/runs/b" and back["images_per_s"] is None
    assert back["model.widths"] == [64, 128, 128] and back["tags"] == [] and back["final_tta"] is True
    assert list(back) == list(RUNS[1]) + ["run_dir"]


def test_metrics_csv_long_format():
    epoch = {"epoch": 1, "train_loss": 1.5, "train_acc": 0.4, "test_loss": None, "test_acc": None,
             "lr": 0.1, "seconds": 3.25, "images_per_s": 15000.0, "is_best": False}
    buf = io.StringIO(newline="")
    metrics_csv([("a", epoch), ("a", dict(epoch, epoch=2, test_acc=0.5, val_acc=0.55, is_best=True)), ("b", epoch)],
                buf)
    lines = buf.getvalue().splitlines()
    assert lines[0] == ("run,epoch,train_loss,train_acc,test_loss,test_acc,val_loss,val_acc,lr,seconds,"
                        "images_per_s,is_best")
    assert lines[1:] == ["a,1,1.5,0.4,,,,,0.1,3.25,15000.0,False",
                         "a,2,1.5,0.4,,0.5,,0.55,0.1,3.25,15000.0,True",
                         "b,1,1.5,0.4,,,,,0.1,3.25,15000.0,False"]
