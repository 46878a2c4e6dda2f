"""The exercises: every reference solution passes, every untouched starter file fails, and a wrong
answer is reported with the entries that are wrong."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from compare import walkthroughs
from compare.walkthroughs import exercises
from compare.walkthroughs.__main__ import main

NAMES = list(exercises.EXERCISES)


def test_there_are_at_least_twenty_exercises_of_all_three_kinds_spread_over_the_walkthroughs():
    assert len(NAMES) >= 20
    kinds = {e.kind for e in exercises.EXERCISES.values()}
    assert kinds == {"implement", "find the bug", "predict"}
    spread = {e.walkthrough for e in exercises.EXERCISES.values()}
    assert spread <= set(walkthroughs.names())
    assert len(spread) >= 8
    for e in exercises.EXERCISES.values():
        assert e.blank().is_file() and e.solution().is_file(), e.name


@pytest.mark.parametrize("name", NAMES)
def test_the_reference_solution_passes(name):
    passed, message = exercises.grade_file(name, exercises.EXERCISES[name].solution())
    assert passed, message


@pytest.mark.parametrize("name", NAMES)
def test_the_untouched_starter_file_fails(name):
    passed, message = exercises.grade_file(name, exercises.EXERCISES[name].blank())
    assert not passed and message


def test_a_find_the_bug_solution_is_its_blank_with_one_fix_whose_broken_text_must_occur_once():
    fn = exercises.fixed("bug_linear_backward", broken="dout.sum(axis=1)", fix="dout.sum(axis=0)")
    assert exercises.grade("bug_linear_backward", fn)[0]
    with pytest.raises(ValueError, match="exactly once.*found 0 times"):
        exercises.fixed("bug_linear_backward", broken="dout.sum(axis=2)", fix="dout.sum(axis=0)")
    with pytest.raises(ValueError, match="exactly once.*found 4 times"):
        exercises.fixed("bug_linear_backward", broken="dout", fix="g")
    with pytest.raises(ValueError, match="not a 'find the bug' one"):
        exercises.fixed("linear_backward", broken="raise NotImplementedError", fix="return None")


def test_a_wrong_answer_names_the_wrong_entries_and_the_relative_error(tmp_path, capsys):
    student = tmp_path / "mine.py"
    student.write_text(textwrap.dedent('''
        def linear_backward(dout, x, w):
            return dout @ w, dout.T @ x * 1.01, dout.sum(axis=0)
    '''))
    assert main(["check", "linear_backward", str(student)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("WRONG") and "dw" in out and "entries wrong" in out and "relative error" in out
    assert "worst at index" in out


def test_check_passes_a_right_file_and_lists_the_exercises(tmp_path, capsys):
    assert main(["check", "relu_backward", str(exercises.EXERCISES["relu_backward"].solution())]) == 0
    assert capsys.readouterr().out.startswith("PASSED")
    assert main(["exercises"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert name in out
    assert main(["exercises", "adam_step"]) == 0
    assert "bias corrections" in capsys.readouterr().out
    assert main(["check", "no_such_exercise"]) == 2


def test_in_a_notebook_check_takes_the_function_itself(capsys):
    def relu_backward(dout, x):
        return dout * (x >= 0)  # right everywhere but at exactly 0, where random inputs never land

    assert exercises.check("relu_backward", relu_backward)
    assert not exercises.check("predict_maxpool_zeros", 0.5)
    out = capsys.readouterr().out
    assert "PASSED relu_backward" in out and "WRONG" in out and "0.75" in out


def test_the_check_command_exits_non_zero_on_the_blank_from_a_shell():
    proc = subprocess.run([sys.executable, "-m", "compare.walkthroughs", "check", "adam_step"],
                          capture_output=True, text=True, timeout=120, cwd=str(walkthroughs.NOTEBOOKS))
    assert proc.returncode == 1 and "not implemented yet" in proc.stdout
