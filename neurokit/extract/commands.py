"""Sub-commands of the extraction stage: ``neurokit check STORE`` and ``neurokit info STORE``.

``neurokit extract`` (running a backbone and prompt over a split into a store) is registered here by the
extraction driver once it exists; it needs ``neurokit.models`` and ``neurokit.prompts``.
"""

from __future__ import annotations

import argparse

from neurokit.extract.check import check_store, store_info


def _check(args: argparse.Namespace) -> int:
    problems = check_store(args.store, scan_values=not args.quick)
    for problem in problems:
        print(f"{args.store}: {problem}")
    if not problems:
        print(f"{args.store}: OK")
    return 1 if problems else 0


def _info(args: argparse.Namespace) -> int:
    print(store_info(args.store))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    check = subparsers.add_parser(
        "check", help="validate an activation store", description=(
            "Check an activation store's provenance, schema, completeness and values; "
            "prints one line per problem and exits 1 if there is any."
        ),
    )
    check.add_argument("store", help="path of the zarr store")
    check.add_argument("--quick", action="store_true", help="skip the scan of every value (metadata and files only)")
    check.set_defaults(handler=_check)
    info = subparsers.add_parser("info", help="describe an activation store", description=(
        "Print an activation store's completeness, provenance, dims, variables and layout."
    ))
    info.add_argument("store", help="path of the zarr store")
    info.set_defaults(handler=_info)
