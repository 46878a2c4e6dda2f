"""Every report command turns bad input into one clear line and exit status 2, writing nothing; Ctrl-C is 130."""

import pytest

from compare import ffn_vs_cnn, finetune, parity, replication, seeds
from compare.cli import run_report
from scratchnet.train import NonFiniteError

COMMANDS = {
    "ffn_vs_cnn": (ffn_vs_cnn.main, []),
    "replication": (replication.main, ["--extra-seeds", "0"]),
    "finetune": (finetune.main, ["--weights", "none"]),
    "parity": (parity.main, []),
    "seeds": (seeds.main, ["--model", "ffn"]),
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_named_data_directory_without_mnist_is_a_clear_error_and_writes_nothing(name, tmp_path, capsys):
    main, extra = COMMANDS[name]
    out = tmp_path / "out"
    argv = [*extra, "--quick", "--no-progress", "--data-dir", str(tmp_path / "empty"), "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: data_dir={tmp_path / 'empty'}: missing train-images-idx3-ubyte"), err
    assert not out.exists() or not any(out.rglob("*")), f"{name} wrote files before failing"


@pytest.mark.parametrize("name", ["ffn_vs_cnn", "replication", "finetune", "seeds"])
def test_an_unusable_device_is_refused_before_any_training(name, tmp_path, capsys, data_dir):
    main, extra = COMMANDS[name]
    out = tmp_path / "out"
    assert main([*extra, "--quick", "--no-progress", "--data-dir", data_dir, "--out", str(out), "--device", "cuda:7"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: --device cuda:7: "), err
    assert not out.exists() or not any(out.rglob("*")), f"{name} wrote files before failing"


@pytest.mark.parametrize("name, flag", [("ffn_vs_cnn", "--batch-size"), ("parity", "--steps"),
                                        ("parity", "--batch-size"), ("seeds", "--epochs")])
def test_counts_below_one_are_refused_before_any_work(name, flag, capsys):
    main, extra = COMMANDS[name]
    with pytest.raises(SystemExit) as e:
        main([*extra, flag, "0"])
    err = capsys.readouterr().err  # one set of argument types: the same words from every command
    assert e.value.code == 2 and (f"argument {flag}: expected a whole number >= 1, got 0" in err
                                  or f"{flag} must be >= 1, got 0" in err), err


def test_run_report_maps_endings_to_exit_status(tmp_path, capsys):
    assert run_report(lambda: tmp_path / "r.md") == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'r.md'}\n"

    def interrupted():
        raise KeyboardInterrupt

    assert run_report(interrupted) == 130
    assert "every file written so far is complete" in capsys.readouterr().err
    assert run_report(interrupted, hint="run it again") == 130
    assert capsys.readouterr().err.endswith("complete\nrun it again\n")

    def diverged():
        raise NonFiniteError("epoch 1, step 3: loss is nan")

    assert run_report(diverged) == 3 and "training diverged: epoch 1, step 3" in capsys.readouterr().err

    class Special(Exception):
        pass

    def special():
        raise Special("no weights")

    assert run_report(special, (Special,)) == 2 and capsys.readouterr().err == "error: no weights\n"
    with pytest.raises(Special):  # anything not named is a bug: it keeps its traceback
        run_report(special)
