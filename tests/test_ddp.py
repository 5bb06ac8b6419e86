"""The lazy optimizer under multi-process (DDP) training (issue 11.6): DDP all-reduces dense
gradients only, the lazy optimizer's are sparse, so lazy + DDP is refused in one line, before
any process starts where the options say so, and at Lightning's start where "auto" devices
turn out to be several. (tests/test_training.py runs the dense DDP path.)"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest
from conftest import CLI_ENV, REPO

from hmf_core.training.settings import LAZY_UNDER_DDP, TrainSettings


def run_cli(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hmf_core", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize(
    "options, several",
    [
        ({"strategy": "ddp"}, True),
        ({"strategy": "ddp_spawn"}, True),
        ({"devices": "2"}, True),
        ({"devices": "0,1"}, True),
        ({"devices": "[0, 1]"}, True),
        ({"num_nodes": 2}, True),
        ({"devices": "1"}, False),
        ({"devices": "auto"}, False),
        ({"devices": "[0]"}, False),
    ],
)
def test_several_processes_are_recognised_from_the_lightning_options(options, several):
    settings = replace(TrainSettings(), **options)
    assert settings.several_processes() is several
    lazy = replace(settings, optimizer="lazy")
    if several:
        with pytest.raises(ValueError) as refused:
            lazy.validate()
        assert str(refused.value) == LAZY_UNDER_DDP
    else:
        lazy.validate()
    replace(settings, optimizer="auto").validate()  # auto and dense are dense under DDP
    replace(settings, optimizer="dense").validate()


def test_cli_refuses_lazy_with_ddp_in_one_line_before_training(tmp_path):
    data = tmp_path / "r.csv"
    rows = "".join(f"{u},{i},3\n" for u in range(9) for i in range(9))
    data.write_text("user,item,rating\n" + rows)
    result = run_cli(
        "train", "--data", str(data), "--run-dir", str(tmp_path / "run"), "--optimizer", "lazy",
        "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp", "--no-projection",
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {LAZY_UNDER_DDP}"
    assert not (tmp_path / "run" / "progress.json").exists()  # refused before any training


LIGHTNING_SCRIPT = """
import sys
import pytorch_lightning as pl
import torch
from hmf_core.training.datamodule import HMFDataModule
from hmf_core.training.lightning_module import HMFModule
from hmf_core.data.split import make_split
from hmf_core.data.synthetic import planted_ratings
from hmf_core.training.trainer import TrainSettings

torch.set_num_threads(1)
split = make_split(planted_ratings(seed=0).data, "random", seed=0)
settings = TrainSettings(user_clusters=[4], item_clusters=[4], split="random")
config = settings.model_config(split, float(split.train["rating"].mean()))


class Kind(pl.Callback):
    def on_train_start(self, trainer, module):
        name = type(trainer.optimizers[0]).__name__
        print(f"rank {trainer.global_rank}: {module.optimizer_kind()} {name}", flush=True)


for optimizer in sys.argv[1:]:
    module = HMFModule(config.to_dict(), lr=1e-2, optimizer=optimizer)
    trainer = pl.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", max_epochs=1, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=0, callbacks=[Kind()],
    )
    try:
        trainer.fit(module, datamodule=HMFDataModule(split, "rating", 64, 0))
    except ValueError as error:
        print(f"rank {trainer.global_rank} refused: {error}", flush=True)
"""


def test_under_real_ddp_auto_is_dense_and_lazy_is_refused_at_start(tmp_path):
    """Two CPU processes through Lightning itself: where the options did not say DDP (a
    Trainer built by hand, "auto" devices on a multi-GPU machine), HMFModule refuses lazy
    when the optimizers are made, and `auto` picks fused dense AdamW."""
    script = tmp_path / "ddp_lazy.py"
    script.write_text(textwrap.dedent(LIGHTNING_SCRIPT))
    result = subprocess.run(
        [sys.executable, str(script), "auto", "lazy"],
        cwd=tmp_path,
        env=CLI_ENV,  # the repository first on PYTHONPATH: this checkout's hmf_core
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout
    assert "rank 0: dense AdamW" in output, result.stderr[-3000:]
    assert f"rank 0 refused: {LAZY_UNDER_DDP}" in output, result.stderr[-3000:]
