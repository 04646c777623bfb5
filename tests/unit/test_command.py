"""W&B command macros -> argv, with hand-written expectations (W&B's own rendering)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from redsweep.errors import ConfigError
from redsweep.shared.engine.command import (
    DEFAULT_COMMAND,
    args_json_path,
    command_argv,
    render_command,
    unknown_macros,
)
from redsweep.shared.records import Method, SweepConfig

PY = "/opt/py/bin/python"

PARAMS = {
    "lr": 1e-05,
    "use_bn": True,
    "dropout": False,
    "layers": 3,
    "opt": {"name": "adam", "beta": 0.9},  # a nested parameter travels under its top name
    "tag": "my run 'x'",
}
OPT = "{'name': 'adam', 'beta': 0.9}"


def make_config(command=None, program="train.py"):
    return SweepConfig(method=Method.GRID, params=(), command=command, program=program)


def render(command, params=PARAMS, env=None, program="train.py", agent_dir="/agent"):
    return render_command(
        make_config(tuple(command) if command is not None else None, program),
        params,
        sweep_id="S1",
        run_id="R1",
        agent_dir=agent_dir,
        env=env or {},
        interpreter=PY,
    )


def argv(command, **kwargs):
    return list(render(command, **kwargs).argv)


def test_default_command_is_env_interpreter_program_args():
    assert DEFAULT_COMMAND == ("${env}", "${interpreter}", "${program}", "${args}")
    expected = [
        "/usr/bin/env",
        PY,
        "train.py",
        "--lr=1e-05",
        "--use_bn=True",
        "--dropout=False",
        "--layers=3",
        f"--opt={OPT}",
        "--tag=my run 'x'",
    ]
    assert argv(None) == expected
    assert argv([]) == expected  # an empty command list means the default, as in W&B


JSON = (
    '{"lr": 1e-05, "use_bn": true, "dropout": false, "layers": 3, '
    '"opt": {"name": "adam", "beta": 0.9}, "tag": "my run \'x\'"}'
)
FLAGS = ["lr=1e-05", "use_bn=True", "dropout=False", "layers=3", f"opt={OPT}", "tag=my run 'x'"]
MACROS = {
    "${args}": ["--" + f for f in FLAGS],
    "${args_no_hyphens}": FLAGS,
    # a false boolean is left out, a true one is a bare flag
    "${args_no_boolean_flags}": ["--lr=1e-05", "--use_bn", "--layers=3", f"--opt={OPT}",
                                 "--tag=my run 'x'"],
    "${args_no_equals}": ["--lr", "1e-05", "--use_bn", "True", "--dropout", "False",
                          "--layers", "3", "--opt", OPT, "--tag", "my run 'x'"],
    "${args_append_hydra}": ["+" + f for f in FLAGS],
    "${args_override_hydra}": ["++" + f for f in FLAGS],
    "${args_json}": [JSON],
}  # fmt: skip


@pytest.mark.parametrize("macro", sorted(MACROS))
def test_each_list_macro(macro):
    expected = ["python", "train.py", *MACROS[macro], "--end"]
    assert argv(["python", "train.py", macro, "--end"]) == expected


def test_single_macros_and_literals_mix():
    command = ["${env}", "${interpreter}", "-u", "${program}", "--seed", "7", "${args}"]
    expected = ["/usr/bin/env", PY, "-u", "train.py", "--seed", "7", "--a=1"]
    assert argv(command, params={"a": 1}) == expected


def test_values_render_as_python_prints_them():
    params = {"f": 0.1, "tiny": 1e-05, "big": 1e20, "i": 10, "none": None, "lst": [1, "a"]}
    assert argv(["${args}"], params=params) == [
        "--f=0.1",
        "--tiny=1e-05",
        "--big=1e+20",
        "--i=10",
        "--none=None",
        "--lst=[1, 'a']",
    ]


def test_no_params_expand_to_nothing():
    assert argv(["x", "${args}", "${args_no_equals}", "${args_json}"], params={}) == ["x", "{}"]


def test_args_json_file_is_planned_then_written(tmp_path):
    agent_dir = tmp_path / "agent"
    plan = render(["${interpreter}", "${program}", "--config", "${args_json_file}"],
                  agent_dir=str(agent_dir))  # fmt: skip
    path = os.path.join(str(agent_dir), "sweep-S1", "config-R1.json")
    assert path == args_json_path(agent_dir, "S1", "R1")
    assert plan.argv == (PY, "train.py", "--config", path)
    assert dict(plan.files) == {path: JSON}
    assert not agent_dir.exists()  # rendering is pure

    written = command_argv(
        make_config(("${interpreter}", "${args_json_file}")),
        PARAMS,
        sweep_id="S1",
        run_id="R1",
        agent_dir=agent_dir,
        interpreter=PY,
    )
    assert written == [PY, path]
    with open(path, encoding="utf-8") as fh:
        assert json.load(fh) == PARAMS


def test_no_file_without_args_json_file():
    assert dict(render(None).files) == {}


def test_envvar_is_replaced_inside_an_element():
    env = {"DATA_DIR": "/data", "RUN_TAG": "t1"}
    command = ["python3", "--out=${envvar:DATA_DIR}/runs/${envvar:RUN_TAG}", "${envvar:RUN_TAG}"]
    assert argv(command, env=env) == ["python3", "--out=/data/runs/t1", "t1"]


def test_missing_envvar_keeps_the_bare_name_with_a_warning_like_wandb():
    plan = render(["python3", "--out=${envvar:NOPE_DIR}/x"], env={"OTHER": "x"})
    assert plan.argv == ("python3", "--out=NOPE_DIR/x")
    assert len(plan.warnings) == 1
    assert plan.warnings[0].startswith("command[1]: environment variable NOPE_DIR is not set")


def test_command_argv_reads_the_process_environment_and_python(monkeypatch, tmp_path):
    monkeypatch.setenv("REDSWEEP_TEST_VAR", "from-env")
    out = command_argv(
        make_config(("${interpreter}", "${envvar:REDSWEEP_TEST_VAR}")),
        {},
        sweep_id="S1",
        run_id="R1",
        agent_dir=tmp_path,
    )
    assert out == [sys.executable, "from-env"]


def test_program_macro_without_a_program_is_a_config_error():
    with pytest.raises(ConfigError) as excinfo:
        render(None, program=None)
    assert excinfo.value.path == "program"
    # a command that does not use ${program} needs none
    assert argv(["python", "-m", "pkg.train", "${args}"], params={"a": 1}, program=None) == [
        "python",
        "-m",
        "pkg.train",
        "--a=1",
    ]


def test_macros_count_only_as_whole_elements():
    command = ["--all=${args}", "${args}x", "x${program}"]
    assert argv(command, params={"a": 1}) == command


def test_unknown_macros_expand_to_nothing_like_wandb():
    command = ["python", "${project}", "${args}", "${envvar:HOME}"]
    assert argv(command, params={"a": 1}, env={"HOME": "/h"}) == ["python", "--a=1", "/h"]
    assert unknown_macros(command) == ["${project}"]
    assert unknown_macros(DEFAULT_COMMAND) == []


def test_values_are_never_split_or_interpreted_by_a_shell(tmp_path):
    script = tmp_path / "echo_argv.py"
    script.write_text("import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    params = {"tag": "two words; echo $HOME \"q\" 'x'", "glob": "*"}
    argv_ = command_argv(
        make_config(("${interpreter}", "${program}", "${args_no_equals}"), program=str(script)),
        params,
        sweep_id="S1",
        run_id="R1",
        agent_dir=tmp_path,
    )
    out = subprocess.run(argv_, capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == ["--tag", params["tag"], "--glob", "*"]
