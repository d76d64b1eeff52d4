"""The one-command demo end to end at its quick size on the embedded MiniLM, and its refusals."""

from __future__ import annotations

import json

import pytest

from neurokit.cli import main
from neurokit.demo import DemoConfig, run_demo, summary
from neurokit.demo.summary import FAILS, HOLDS, INCONCLUSIVE, UNTESTED
from neurokit.errors import ConfigError

# One worker runs the whole module, so the quick demo below runs once per test session.
pytestmark = pytest.mark.xdist_group("demo")


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "run"
    with pytest.MonkeyPatch.context() as patch:
        # Four steps teach a prompt nothing: every prompt counts as learned here, so that each finding's
        # statistics run on the real results of the pipeline instead of being skipped.
        patch.setattr(summary, "LEARNED_ALPHA", 1.0)
        assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.mark.slow
def test_demo_writes_every_stage_into_one_folder(demo_folder):
    quick = DemoConfig.quick()
    prompts = sorted(path.name for path in (demo_folder / "prompts").iterdir())
    assert prompts == ["toy_sentiment_movies-seed0", "toy_sentiment_movies-seed1", "toy_sentiment_movies-untuned",
                       "toy_sentiment_products-seed0", "toy_sentiment_products-untuned"]
    tuned_stores = sorted(path.name for path in (demo_folder / "stores" / "toy_sentiment_movies-seed0").iterdir())
    assert tuned_stores == ["adversarial.zarr", "dev.zarr", "train.zarr"]
    assert sorted(p.name for p in (demo_folder / "stores" / "toy_sentiment_movies-untuned").iterdir()) == [
        "dev.zarr", "train.zarr"]
    figures = {path.name for path in (demo_folder / "figures").iterdir()}
    assert {"toy_sentiment_movies__skill_map.png", "tasks__task_overlap.png",
            "toy_sentiment_movies__ablation_curve.png", "transfer__transfer_heatmap.png",
            "toy_sentiment_movies__null_comparison.png"} <= figures
    assert all(name.endswith(tuple(quick.figure_formats)) for name in figures)
    assert any((demo_folder / "tables").glob("toy_sentiment_movies__skill__score.csv"))


@pytest.mark.slow
def test_summary_states_a_verdict_and_its_evidence_for_every_finding(demo_folder):
    summary = json.loads((demo_folder / "summary.json").read_text())
    findings = summary["findings"]
    assert len(findings) == 10
    assert all(finding["verdict"] in (HOLDS, FAILS, INCONCLUSIVE, UNTESTED) and finding["evidence"]
               and finding["criterion"] for finding in findings)
    # Every finding says how its interval or test is made, and every setting it judges has an interval or a
    # p-value.
    assert all(finding["statistics"] for finding in findings)
    for setting in (setting for finding in findings for setting in finding["settings"]):
        assert setting["p_value"] is not None or None not in (setting["low"], setting["high"]), setting
    # Two seeds, three prompts with adversarial data, a null per task: these findings each judge settings.
    counts = {finding["claim"]: len(finding["settings"]) for finding in findings}
    assert [counts[claim] for claim in (
        "Prompt tuning of a frozen backbone learns each task",
        "Skill neurons stand out: tuned prompts make some neurons far more predictive than an untuned prompt does",
        "Skill neurons are consistent across prompts of one task (seeds)",
        "Prompts fail on adversarial data",
        "Skill neurons found on clean data stay skill neurons on adversarial data, above chance overlap",
        "Soft-prompt vectors have label words among their nearest vocabulary tokens",
        "Perturbing skill neurons hurts accuracy more than perturbing random neurons")] == [3, 2, 1, 3, 3, 3, 1], counts
    # Two sentiment tasks only: nothing of another type to compare with.
    by_claim = {finding["claim"]: finding["verdict"] for finding in findings}
    assert by_claim["Prompts transfer within a task type, not across types"] == UNTESTED
    assert [row["prompt"] for row in summary["prompts"]] == [
        "toy_sentiment_movies-seed0", "toy_sentiment_movies-seed1", "toy_sentiment_products-seed0"]
    text = (demo_folder / "summary.md").read_text()
    assert text.count("| ") > 20 and "## Findings" in text


@pytest.mark.slow
def test_rerun_reuses_finished_prompts_and_stores(demo_folder):
    checkpoint = demo_folder / "prompts" / "toy_sentiment_movies-seed0" / "prompt.safetensors"
    store_attrs = demo_folder / "stores" / "toy_sentiment_movies-seed0" / "dev.zarr" / "zarr.json"
    before = checkpoint.stat().st_mtime_ns, store_attrs.read_bytes()
    run_demo(demo_folder, DemoConfig.quick(), progress=False)
    assert (checkpoint.stat().st_mtime_ns, store_attrs.read_bytes()) == before


def test_a_foreign_non_empty_folder_is_refused(tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(ConfigError, match="not written by 'neurokit demo'"):
        run_demo(tmp_path, DemoConfig.quick(), progress=False)
    assert [path.name for path in tmp_path.iterdir()] == ["thesis.tex"]


@pytest.mark.parametrize("changes, message", [({"seeds": 0}, "seeds"), ({"tasks": ()}, "at least one task"),
                                              ({"steps": 0}, "steps must be a positive integer, got 0")])
def test_invalid_settings_are_one_line_errors(changes, message):
    with pytest.raises(ConfigError, match=message):
        DemoConfig(**changes)
