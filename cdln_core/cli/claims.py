"""``cdln claims``: run the claims ledger and print it beside the papers' numbers.

    cdln claims [--quick] [--only ID ...] [--seeds N] [--out FILE] [--markdown FILE] [--readme FILE] [--list]

Prints one row per claim (claim · paper's number · ours as median [min, max] over seeds · seeds
passing · verdict), writes the ``cdln.claims/1`` JSON to ``--out``, the Markdown page to ``--markdown``
(docs/claims.md is the full run's) and the short table into the README given to ``--readme``. Exit 0
when every verdict is the one the ledger expects, 1 otherwise (the changed claims are named on the
last line), 2 for a bad flag.
"""

from __future__ import annotations

import sys

from . import common

__all__ = ["add_parser", "handler"]

EXIT_CHANGED = 1


def add_parser(subparsers):
    p = common.add_command(subparsers, "claims", handler, help="check every claim of the series against runs",
                           description="Measure the claims ledger and compare each verdict with the expected one.")
    p.add_argument("--quick", action="store_true",
                   help="smaller sizes and fewer seeds (for CI); each claim's setting is in the JSON")
    p.add_argument("--only", nargs="+", metavar="ID", default=None, help="run only these claims (see --list)")
    p.add_argument("--seeds", type=common.number(int, 1, 20), default=None,
                   help="seeds per claim, in [1, 20] (default: the ledger's, 5 where cheap, 3 in --quick)")
    p.add_argument("--markdown", default=None, metavar="FILE", help="also write the ledger as a Markdown page")
    p.add_argument("--readme", default=None, metavar="FILE",
                   help="also rewrite the claims table of FILE (a README) between its two claims-table markers")
    p.add_argument("--list", action="store_true", help="list the claim ids and their notebooks, run nothing")
    p.add_argument("--from", dest="saved", nargs="+", default=None, metavar="JSON",
                   help="run nothing: print and write the verdicts of saved --out files (merged, in the "
                        "ledger's order), judged against the ledger's current expectations")
    common.add_out(p)
    return p


def _command_line(args) -> str:
    parts = ["cdln claims"] + (["--quick"] if args.quick else [])
    if args.saved:
        return " ".join(parts) + "`, its saved JSON rendered with `cdln claims --from"
    if args.only:
        parts += ["--only", *args.only]
    if args.seeds is not None:
        parts += ["--seeds", str(args.seeds)]
    return " ".join(parts)


def _load(paths, claims) -> list:
    import json

    found = {}
    for path in paths:
        try:
            with open(path) as f:
                for v in claims.from_report(json.load(f)):
                    found[v.claim.id] = v
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise common.FlagError(f"--from {path!r}: {getattr(err, 'strerror', None) or err}") from None
    return [found[c.id] for c in claims.ledger() if c.id in found]


def _run(ids, args, claims) -> list:
    stream = sys.stderr if args.out == "-" else sys.stdout
    mode = "quick: smaller sizes and fewer seeds (settings in the JSON)" if args.quick else "full"
    stream.write(f"cdln claims, {mode}: {len(ids)} claim(s)\n")
    stream.flush()
    verdicts = []
    try:
        with common.quiet_native_output():
            for i, cid in enumerate(ids, 1):
                verdicts += claims.check([cid], quick=args.quick, seeds=args.seeds)
                if sys.stderr.isatty():
                    sys.stderr.write(f"[{i}/{len(ids)}] {cid}: {verdicts[-1].verdict}\n")
    except KeyboardInterrupt as err:  # the claims finished so far go to --out (common.execute writes them)
        from .. import __version__

        err.result = {**claims.report(verdicts, quick=args.quick, version=__version__), "interrupted": True}
        raise
    return verdicts


def handler(args, parser) -> int:
    from .. import __version__, claims

    known = [c.id for c in claims.ledger()]
    if args.list:
        for c in claims.ledger():
            sys.stdout.write(f"{c.id:26s} notebooks {','.join(c.notebooks):8s} {c.sentence}\n")
        return common.EXIT_OK
    unknown = [i for i in (args.only or []) if i not in known]
    if unknown:
        raise common.FlagError(f"--only must name claims of the ledger (see --list), got unknown {', '.join(unknown)}")
    if args.markdown is not None:
        if args.markdown == "-":
            raise common.FlagError("--markdown must be a file path, got '-'")
        common.check_out(args.markdown, "--markdown")
    if args.readme is not None:
        try:
            with open(args.readme) as f:
                claims.readme(f.read(), [], command="")
        except (OSError, ValueError) as err:
            raise common.FlagError(f"--readme {args.readme!r}: {getattr(err, 'strerror', None) or err}") from None
    ids = list(dict.fromkeys(args.only)) if args.only else known
    if args.saved:
        verdicts = _load(args.saved, claims)
        args.quick = any(v.quick for v in verdicts)
        verdicts = [v for v in verdicts if v.claim.id in ids]
    else:
        verdicts = _run(ids, args, claims)
    changed = claims.changed(verdicts)
    summary = [claims.table(verdicts), "",
               f"{len(verdicts) - len(changed)} of {len(verdicts)} verdicts as the ledger expects"
               + (f"; changed: {', '.join(changed)}" if changed else "")]
    result = claims.report(verdicts, quick=args.quick, version=__version__)
    common.emit(result, args.out, summary=summary)
    if args.markdown is not None:
        common.write_text(claims.document(verdicts, quick=args.quick, command=_command_line(args)), args.markdown,
                          "--markdown")
    if args.readme is not None:
        with open(args.readme) as f:
            text = claims.readme(f.read(), verdicts, command=_command_line(args))
        common.write_text(text, args.readme, "--readme")
    return EXIT_CHANGED if changed else common.EXIT_OK
