"""`neurokit selftest`: every check passes on tiny models of every family and on the embedded model, and each
check reports `wrong` when the failure it exists for is put in on purpose."""

from contextlib import contextmanager

import pytest

from neurokit.cli import main
from neurokit.errors import ConfigError
from neurokit.models.random import RandomArchitecture, random_backbone
from neurokit.selftest import CheckState, SelftestConfig, run_selftest
from neurokit.selftest import checks as checks_module

ARCHITECTURES = list(RandomArchitecture)


def _states(results):
    return {result.name: result.state for result in results}


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ARCHITECTURES, ids=[a.value for a in ARCHITECTURES])
def test_no_check_is_wrong_on_tiny_models_of_every_family(architecture):
    results = run_selftest(random_backbone(architecture), config=SelftestConfig(prompt_length=4, max_length=32))
    assert len(results) == 9
    wrong = {r.name: r.measured for r in results if r.state is CheckState.WRONG}
    assert not wrong


@pytest.mark.slow
def test_embedded_model_passes_from_the_cli(capsys):
    assert main(["selftest", "--prompt-length", "4", "--max-length", "32"]) == 0
    table = capsys.readouterr().out
    assert "| padding | supported |" in table
    assert table.count("| supported |") + table.count("| degraded |") == 9


def test_left_padding_on_absolute_positions_is_caught():
    backbone = random_backbone("bert")
    backbone.tokenizer.padding_side = "left"  # BERT's absolute positions then shift with the padding
    results = run_selftest(backbone, config=SelftestConfig(prompt_length=4, max_length=32))
    assert _states(results)["padding"] is CheckState.WRONG


def test_a_leaked_hook_is_caught(monkeypatch):
    original = checks_module.perturbed

    @contextmanager
    def leaky(backbone, perturbation, prompt_length, layout):
        with original(backbone, perturbation, prompt_length, layout) as hooks:
            yield hooks
        backbone.sites()[0].resolve(backbone.model).register_forward_pre_hook(lambda module, args: None)

    monkeypatch.setattr(checks_module, "perturbed", leaky)
    results = run_selftest(random_backbone("bert"), config=SelftestConfig(prompt_length=4, max_length=32))
    states = _states(results)
    assert all(states[f"intervention {m}"] is CheckState.WRONG for m in ("noise", "zero", "mean", "resample"))


def test_an_intervention_that_does_nothing_is_caught(monkeypatch):
    @contextmanager
    def inert(backbone, perturbation, prompt_length, layout):
        class Hooks:
            @contextmanager
            def examples(self, start, count):
                yield

        yield Hooks()

    monkeypatch.setattr(checks_module, "perturbed", inert)
    results = run_selftest(random_backbone("bert"), config=SelftestConfig(prompt_length=4, max_length=32))
    wrong = [r for r in results if r.name.startswith("intervention")]
    assert wrong and all(r.state is CheckState.WRONG and "did not move" in r.detail for r in wrong)


def test_a_prompt_before_the_input_of_a_causal_model_is_caught():
    """The bug the appended layout fixes: a prepended prompt in GPT-2 never sees the input."""
    backbone = random_backbone("gpt2")
    prompt = checks_module.SoftPrompt.initialise(backbone, 4, layout="prepend")
    results = run_selftest(backbone, prompt, SelftestConfig(max_length=32))
    assert _states(results)["prompt sees input"] is CheckState.WRONG


def test_a_prompt_blind_to_the_input_is_caught():
    backbone = random_backbone("bert")
    probe = checks_module._Probe(backbone, checks_module.SoftPrompt.initialise(backbone, 4), SelftestConfig())
    probe.inputs["input_ids"][:] = probe.inputs["input_ids"][0]  # every example the same input
    probe.inputs["attention_mask"][:] = probe.inputs["attention_mask"][0]
    assert checks_module.check_prompt_sees_input(probe).state is CheckState.WRONG


def test_settings_are_validated():
    with pytest.raises(ConfigError, match="reduced_precision|ReducedPrecision"):
        SelftestConfig(reduced_precision="int8")
    with pytest.raises(ConfigError):
        SelftestConfig(prompt_length=1)
