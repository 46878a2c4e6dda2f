"""python -m compare.all: one command for every committed report; --quick never writes into reports/."""

from __future__ import annotations

import pytest

from compare import all as compare_all


def test_the_list_names_every_committed_report_and_its_folder(capsys):
    assert compare_all.main(["--list", "--out", "reports"]) == 0
    out = capsys.readouterr().out
    for folder in ("reports/walkthroughs", "reports/parity", "reports/ffn_vs_cnn", "reports/replication",
                   "reports/finetune", "reports/seeds", "compare.bench --out reports"):
        assert folder in out


def test_quick_reports_are_refused_in_reports(capsys):
    with pytest.raises(SystemExit) as err:
        compare_all.main(["--quick", "--out", "reports"])
    assert err.value.code == 2 and "never go to reports/" in capsys.readouterr().err


def test_each_report_runs_in_its_own_process_and_failures_are_summed_up(monkeypatch, tmp_path, capsys):
    ok = compare_all.Job("lister", "compare.all", ("--list",), "a", "0")
    bad = compare_all.Job("broken", "compare.all", ("--only", "no-such-report"), "b", "0")
    monkeypatch.setattr(compare_all, "JOBS", (ok, bad))
    assert compare_all.main(["--out", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert "=== lister: done" in out and "=== broken: FAILED (exit 2)" in out
    assert "1 report(s) failed: broken" in err
    assert compare_all.command(ok, "reports", _args())[-2:] == ["--out", "reports/a"]


def _args():
    import argparse

    return argparse.Namespace(quick=False, data_dir=None, no_progress=False)


def test_every_job_is_given_only_options_its_command_takes(capsys):
    import argparse
    import importlib
    import importlib.util

    args = argparse.Namespace(quick=True, data_dir="DATA", no_progress=True)
    for job in compare_all.JOBS:
        main_module = job.module + ".__main__"
        module = importlib.import_module(main_module if importlib.util.find_spec(job.module).submodule_search_locations
                                         else job.module)
        with pytest.raises(SystemExit):
            module.main(["--help"] if job.module != "compare.walkthroughs" else ["--help"])
        usage = capsys.readouterr().out
        for flag in compare_all.command(job, "out", args)[3:]:
            if flag.startswith("--"):
                assert flag in usage, f"{job.name}: {flag} is not an option of {job.module}"
