"""Before benchmarks/gpu_suite.sh measures anything: is everything it needs there? Prints one line per problem
and exits 3, so that a scarce GPU session ends within seconds instead of failing half-way.

Checks: the Python version and every requirement of neurokit (pyproject.toml's dependencies, and
``distributed`` of the ``distributed`` extra) against what is importable; that every package the carried wheels
(``--site``) require is there (other versions than they ask for are printed as warnings, in the report's
header); that neurokit and the benchmarks' modules import; the tokenizer the random models use; CUDA (unless
``--smoke``); free disk space.

    python benchmarks/gpu_preflight.py [--smoke] [--site DIR] [--workdir DIR --need-gb 20]
"""

from __future__ import annotations

import argparse
import importlib
import platform
import shutil
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
#: Of the optional extras, what the suite uses: dask.distributed clusters, without a dashboard (no bokeh).
EXTRAS_USED = {"distributed": ("distributed",)}
MODULES = ("neurokit.models.random", "neurokit.prompts", "neurokit.extract.extraction", "neurokit.analysis",
           "distributed", "torch")


def unmet(requirement: Requirement, context: str) -> str | None:
    """Why ``requirement`` is not satisfied in this environment, or None."""
    if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
        return None
    try:
        found = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        return f"{requirement.name} is missing ({context} needs {requirement})"
    if requirement.specifier and not requirement.specifier.contains(Version(found), prereleases=True):
        return f"{requirement.name} {found} does not satisfy {requirement} ({context})"
    return None


def project_problems() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    problems = []
    if not SpecifierSet(project["requires-python"]).contains(platform.python_version()):
        problems.append(f"Python {platform.python_version()} does not satisfy {project['requires-python']}")
    requirements = [Requirement(text) for text in project["dependencies"]]
    for extra, names in EXTRAS_USED.items():
        requirements += [Requirement(text) for text in project["optional-dependencies"][extra]
                         if Requirement(text).name in names]
    problems += [problem for requirement in requirements if (problem := unmet(requirement, "neurokit"))]
    return problems


def carried_problems(site: Path) -> tuple[list[str], list[str]]:
    """Unmet requirements of the distributions installed into ``site`` from the carried wheels: (missing
    packages, other versions). A missing package stops the suite; another version only warns, since the
    machine's own packages are newer or older than the ones the wheels were tested with and usually work (the
    import check below stops the suite when one does not)."""
    missing, versions = [], []
    for distribution in metadata.distributions(path=[str(site)]):
        context = f"{distribution.metadata['Name']} {distribution.version}, carried"
        for text in distribution.requires or []:
            requirement = Requirement(text)
            if "extra" in str(requirement.marker or ""):
                continue
            if problem := unmet(requirement, context):
                (missing if problem.startswith(f"{requirement.name} is missing") else versions).append(problem)
    return missing, versions


def import_problems() -> list[str]:
    problems = []
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - any failure to import is a finding, reported in one line
            problems.append(f"import {name} failed: {type(error).__name__}: {str(error).splitlines()[0]}")
    if not problems:
        from neurokit.models.backbone import embedded_model_path

        if not (embedded_model_path() / "tokenizer.json").is_file():
            problems.append(f"no tokenizer in {embedded_model_path()} (the random models' tokenizer)")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="CPU run at tiny sizes: no CUDA needed")
    parser.add_argument("--site", type=Path, help="folder the carried wheels were installed into")
    parser.add_argument("--workdir", type=Path, default=Path("."), help="where the suite writes its stores")
    parser.add_argument("--need-gb", type=float, default=0.0, help="free disk space the suite needs there")
    args = parser.parse_args()
    problems = project_problems()
    warnings: list[str] = []
    if args.site is not None:
        missing, warnings = carried_problems(args.site)
        problems += missing
    problems += import_problems()
    if not problems and not args.smoke:
        import torch

        if not torch.cuda.is_available():
            problems.append(f"torch {torch.__version__} sees no CUDA device (use --smoke on a CPU)")
    free = shutil.disk_usage(args.workdir).free / 1e9
    if free < args.need_gb:
        problems.append(f"{args.workdir} has {free:.1f} GB free; the suite needs {args.need_gb:.0f} GB")
    if problems:
        for problem in problems:
            print(f"gpu_suite: {problem}", file=sys.stderr)
        packages = any(" is missing " in problem or "does not satisfy" in problem or problem.startswith("import ")
                       for problem in problems)
        hint = " (packages: run benchmarks/gpu_wheels.sh where pip works and carry .whl/ along)" if packages else ""
        print(f"gpu_suite: nothing measured{hint}", file=sys.stderr)
        sys.exit(3)
    versions = {name: metadata.version(name) for name in ("torch", "transformers", "zarr", "dask", "distributed",
                                                          "xarray", "numpy")}
    print(f"preflight ok: Python {platform.python_version()}, "
          + ", ".join(f"{name} {version}" for name, version in versions.items())
          + "".join(f"; warning: {warning}" for warning in warnings))


if __name__ == "__main__":
    main()
