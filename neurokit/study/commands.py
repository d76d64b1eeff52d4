"""`neurokit study FILE --out DIR [--set key=value …]` and `neurokit report DIR`."""

from __future__ import annotations

from neurokit.cli import add_progress_argument


def _study(args) -> int:
    from neurokit.study import StudyConfig, run_study

    config = StudyConfig.from_toml(args.file, args.set)  # every setting is checked before a model loads
    report = run_study(config, args.out, device=args.device, progress=not args.no_progress)
    print(f"wrote {report}")
    return 0


def _report(args) -> int:
    from neurokit.study import write_report

    print(f"wrote {write_report(args.folder)}")
    return 0


def register(subparsers) -> None:
    study = subparsers.add_parser(
        "study", help="run a paper's study file (analyses/*.toml) end to end, resuming, into a report",
        description="Prompt-tune, extract, analyse, perturb and transfer as a study file says, then write the "
                    "reproduction report. Finished prompts and stores are reused when run again.")
    study.add_argument("file", help="study file, e.g. analyses/wang2022.toml")
    study.add_argument("--out", required=True, help="study folder (created; an earlier run's is resumed)")
    study.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a setting, value in TOML syntax (e.g. --set seeds=[0] --set prompt.max_steps=10)")
    study.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    add_progress_argument(study)
    study.set_defaults(handler=_study)
    report = subparsers.add_parser("report", help="(re)write the reproduction report of a study folder")
    report.add_argument("folder", help="a folder written by 'neurokit study'")
    report.set_defaults(handler=_report)
