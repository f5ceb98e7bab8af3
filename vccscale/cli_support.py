"""Shared pieces of the command-line interface (:mod:`vccscale.cli`): the list option, reading DATA, and the data
preparation several commands share -- one scale's items (item-analysis, reliability, efa) and a model's variables
as construct scores or data columns (mediate, rsa). Computations stay in the library
(:mod:`vccscale.clean.scoring`, :mod:`vccscale.validate`); these helpers call it and say on stderr what was done.
Heavy modules are imported inside the functions, so that ``vccscale --help`` stays fast.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from .jsonsafe import jsonable

__all__ = ["FORMAT", "ListOption", "analysis_frame", "echo_json", "fmt_value", "item_columns", "load_registry_for",
           "model_text", "model_variables", "n_out", "pooled_note", "print_table", "read_data", "records",
           "registry_option", "reverse_key_warnings", "scale_frame", "scale_options", "variables_options"]

FORMAT = click.Choice(["table", "json"])


class ListOption(click.Option):
    """A list option written as the issues write it: ``--items A1 A2 A3`` takes every following argument up to
    the next option (repeating the option works too). Put positional arguments before such an option. A negative
    number is a value, not an option: ``--na NA -99 .``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("multiple", True)
        super().__init__(*args, **kwargs)

    def add_to_parser(self, parser: Any, ctx: click.Context) -> Any:
        retval = super().add_to_parser(parser, ctx)
        for name in self.opts:
            target = parser._long_opt.get(name) or parser._short_opt.get(name)
            if target is None:
                continue
            previous = target.process

            def process(value: Any, state: Any, previous: Any = previous, prefixes: Any = target.prefixes) -> None:
                values = [value]
                while state.rargs and (_negative_number(state.rargs[0])
                                       or not any(state.rargs[0].startswith(p) for p in prefixes)):
                    values.append(state.rargs.pop(0))
                for v in values:
                    previous(v, state)

            target.process = process
            break
        return retval


def _negative_number(arg: str) -> bool:
    try:
        return arg.startswith("-") and float(arg) < 0
    except ValueError:
        return False


def read_data(path: Path, codebook: Path | None = None, identifiers: str = "drop", salt: str | None = None,
              encoding: str | None = None, **options: Any):
    """A Dataset from an export (any Qualtrics format) or from data written by `vccscale import --out`.
    ``options`` (``na``, ``redact_emails``) go to :func:`vccscale.io.read_export` (data written by import were
    read with them already)."""
    from .instrument.codebook import Codebook
    from .io import read_export
    from .io.dataset import load_dataset

    cb = Codebook.read(codebook) if codebook is not None else None
    if path.suffix.lower() in (".parquet", ".csv") and path.with_name(path.name + ".meta.json").exists():
        ds = load_dataset(path)
        if cb is not None:  # --codebook applies to data written by import/clean/run too (never silently ignored)
            import dataclasses

            from .errors import DataError

            ds = dataclasses.replace(ds, codebook=cb)
            if not ds.item_columns():
                raise DataError(f"none of the codebook's item columns is in this file (it was imported without "
                                f"this codebook): import the export with --codebook {codebook}, or pass the "
                                "export itself", file=path)
        return ds
    return read_export(path, cb, identifiers=identifiers, salt=salt, encoding=encoding, **options)


def item_columns(ds: Any, items: tuple[str, ...], file: Path) -> list[str]:
    """The --items columns, each checked to be a column of DATA (``file``, named in the error)."""
    from .errors import DataError

    if not items:
        raise click.UsageError("name the item columns: --items I1 I2 I3 ...")
    missing = [c for c in items if c not in ds.data.columns]
    if missing:
        raise DataError(f"item column(s) not in the data: {', '.join(missing)}", file=file, column=missing[0])
    return list(items)


def scale_options(f: Any) -> Any:
    """DATA, --items, --codebook, --perspective and --format of item-analysis, reliability and efa."""
    f = click.option("--format", "fmt", type=FORMAT, default="table", show_default=True)(f)
    f = click.option("--perspective", default=None, help="With item ids: only this version's rows (provider, "
                     "customer, a stakeholder role); default: every version's rows, pooled.")(f)
    f = click.option("--codebook", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Codebook of the export: missing codes -> missing, reverse-keyed items reversed; "
                     "--items may then be item ids (versions stacked).")(f)
    f = click.option("--items", cls=ListOption, help="Item columns: --items I1 I2 I3 (export columns, or item ids "
                     "with --codebook).")(f)
    return click.argument("data", type=click.Path(dir_okay=False, path_type=Path))(f)


def scale_frame(data: Path, items: tuple[str, ...], codebook: Path | None, perspective: str | None
                ) -> tuple[Any, list[str], dict[str, Any]]:
    """The --items of DATA as one scale's frame (vccscale.clean.scoring.scale_items), saying what was done."""
    from .clean.scoring import scale_items

    ds = read_data(data, codebook)
    cols = item_columns(ds, items, data) if codebook is None else list(items)
    if not cols:
        raise click.UsageError("name the item columns: --items I1 I2 I3 ...")
    frame, info = scale_items(ds, cols, perspective=perspective)
    if info["codebook_reversed"]:
        click.echo(f"note: reverse-keyed in the codebook, reversed (min + max - x): "
                   f"{', '.join(info['codebook_reversed'])}", err=True)
    pooled_note(info, perspective)
    return frame, cols, info


def pooled_note(info: dict[str, Any], perspective: str | None) -> None:
    """Say when the rows of several versions (perspectives) are analysed together."""
    rows = info.get("rows_by_perspective", {})
    if len(rows) > 1 and perspective is None:
        click.echo("note: rows of the versions " + ", ".join(f"{k} ({v})" for k, v in rows.items()) + " pooled; "
                   "--perspective NAME keeps one", err=True)


def n_out(n: int, n_empty: int, n_items: int, info: dict[str, Any]) -> dict[str, Any]:
    """n, the rows given, the rows left out for answering none of the items (said on stderr), what was reversed."""
    if n_empty:
        click.echo(f"note: {n_empty} of {n + n_empty} rows answered none of the {n_items} items (e.g. another "
                   f"version's respondents on a wide export) and were left out: n = {n}. psych counts every row "
                   "(nrow), which narrows the Feldt CI and inflates Bartlett's chi-square.", err=True)
    return {"n": n, "n_rows": n + n_empty, "n_rows_without_answers": n_empty, "perspective": info["perspective"],
            "codebook_reversed_items": info["codebook_reversed"]}


def reverse_key_warnings(caught: list[Any]) -> None:
    """Print caught warnings on stderr; psych's check.keys warning names the CLI's flags (--reverse ITEM...)."""
    from .validate import ReverseKeyWarning

    for w in caught:
        m = w.message
        if isinstance(m, ReverseKeyWarning) and m.items:
            items = " ".join(m.items)
            text = (f"item(s) {', '.join(m.items)} correlate negatively with the total scale (negative loading on the "
                    "first principal component) and were reversed (--check-keys)" if m.reversed else
                    f"item(s) {', '.join(m.items)} correlate negatively with the total scale (negative loading on the "
                    f"first principal component): reverse-worded? Reverse with --reverse {items} (or --check-keys)")
            click.echo(f"warning: {text}", err=True)
        else:
            click.echo(f"warning: {m}", err=True)


def variables_options(f: Any) -> Any:
    """--codebook and --perspective of mediate and rsa (construct ids as variables)."""
    f = click.option("--perspective", default=None, help="Only this version's rows (provider, customer, a "
                     "stakeholder role); default: every version's rows, pooled.")(f)
    return click.option("--codebook", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="Codebook of the export: construct ids name their scale scores (vccscale score), "
                        "other names stay data columns.")(f)


def model_variables(data: Path, codebook: Path | None, names: list[str], perspective: str | None, registry: Any,
                    pooled: bool = True) -> tuple[Any, dict[str, Any]]:
    """The model's variables as one frame (vccscale.clean.scoring.variables_frame), saying what was scored."""
    from .clean.scoring import variables_frame

    ds = read_data(data, codebook)
    frame, info = variables_frame(ds, names, perspective=perspective, registry=registry)
    for c in info.get("scores", {}).get("constructs", []):
        click.echo(f"note: {c['id']} = scale score ({c['n_items']} items, n scored {c['n_scored']}"
                   + (f"; reversed {', '.join(c['reversed_items'])}" if c["reversed_items"] else "") + ")", err=True)
    if pooled:
        pooled_note(info, perspective)
    return frame, info


# ---------------------------------------------------------------- shared by the command modules


def echo_json(obj: Any) -> None:
    """JSON on stdout only (NaN/inf -> null, numpy -> Python: vccscale.jsonsafe.jsonable)."""
    click.echo(json.dumps(jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False))


def print_table(columns: list[str], rows: list[list[Any]], title: str | None = None) -> None:
    """A rich table on stdout (wide when piped)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold")
    for k, col in enumerate(columns):
        table.add_column(col, overflow="fold", no_wrap=k == 0)  # ids are never broken
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    # piped output (files, grep) gets a wide table instead of rich's default 80 columns
    Console(soft_wrap=False, width=None if sys.stdout.isatty() else 160).print(table)


def registry_option(f: Any) -> Any:
    """The --registry option of commands that read the registry."""
    return click.option("--registry", "registry_dir", type=click.Path(file_okay=False, path_type=Path),
                        default=None, help="Registry directory (constructs/, items/, hypotheses.yaml, seeds.yaml) "
                        "to use instead of the shipped one; also $VCCSCALE_REGISTRY.")(f)


def load_registry_for(ctx: click.Context, registry_dir: Path | None):
    """The registry of this command: --registry, the group's --registry, or the shipped one."""
    from .registry import load_registry

    root = ctx.find_root()
    chosen = registry_dir or (root.obj or {}).get("registry_dir")
    if chosen is not None and not Path(chosen).is_dir():
        raise click.BadParameter(f"{chosen} is not a directory", param_hint="--registry")
    return load_registry(chosen)


def model_text(model: Path) -> str:
    """The lavaan syntax of a --model file (ModelError naming the file when it is missing)."""
    from .errors import ModelError

    try:
        return model.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError("model file not found", file=model) from None


def analysis_frame(data: Path, codebook: Path | None, long: bool) -> Any:
    """The frame a model is fitted to: the data as read, or stacked by item id (one row per respondent version,
    a `perspective` column) with --long, which is what an instrument's measurement.lavaan refers to."""
    ds = read_data(data, codebook)
    if not long:
        return ds.data
    from .clean.scoring import rescored_long

    return rescored_long(ds)


def records(frame: Any) -> list[dict[str, Any]]:
    """Rows of a frame as JSON records (NaN -> None, numpy scalars -> Python)."""
    return [{str(k): jsonable(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]


def fmt_value(v: Any) -> str:
    """A number with 3 decimals for tables (empty for None)."""
    return "" if v is None else f"{v:.3f}"
