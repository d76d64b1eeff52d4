"""`neurokit models`: the supported architecture families and the embedded default."""

from __future__ import annotations

from neurokit.models.adapters import ADAPTERS
from neurokit.models.backbone import (
    EMBEDDED_DESCRIPTION,
    EMBEDDED_MODEL,
    embedded_model_path,
)


def _list_models(args) -> int:
    print(f"{'family':<9} {'model types':<14} {'default scoring':<16} other scorings")
    for adapter in ADAPTERS:
        others = ", ".join(s.value for s in adapter.allowed_scorings if s is not adapter.default_scoring) or "-"
        print(f"{adapter.family.value:<9} {', '.join(adapter.model_types):<14} "
              f"{adapter.default_scoring.value:<16} {others}")
    print(f"\nembedded default (--model {EMBEDDED_MODEL}): {EMBEDDED_DESCRIPTION}")
    print(f"  loaded offline from {embedded_model_path()}")
    print("any other Hugging Face checkpoint of these families loads by Hub id or local folder.")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list supported model families and the embedded default")
    parser.set_defaults(handler=_list_models)
