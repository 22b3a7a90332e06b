"""``airflow-healer``: the command line of the healer (reads the same [healer] settings as Airflow)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from airflow_healer.core.config import HealerConfig
from airflow_healer.exceptions import HealerError


def _store(args: argparse.Namespace):
    from airflow_healer.core.store import open_store

    config = HealerConfig.load()
    return open_store(args.store_url or config.store_url)


def _incident_row(incident: Any) -> str:
    actions = ", ".join(f"{a.strategy}#{a.attempt}:{a.outcome}" for a in incident.actions) or "-"
    label = f"{incident.error_type or '?'}" + (f" ({incident.confidence:.2f})" if incident.confidence is not None else "")
    return (f"{incident.created_at[:19]}  {incident.dag_id}.{incident.task_id}  {incident.run_id}  "
            f"tries={incident.last_try_number}  {label}  {incident.status}  actions: {actions}"
            + (f"\n    reason: {incident.reason}" if incident.reason else ""))


def cmd_incidents_list(args: argparse.Namespace) -> int:
    incidents = _store(args).list_incidents(dag_id=args.dag_id, status=args.status, limit=args.limit)
    if args.format == "json":
        json.dump([i.as_dict() for i in incidents], sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    elif not incidents:
        print("No incidents.")
    else:
        for incident in incidents:
            print(_incident_row(incident))
    return 0


def cmd_incidents_show(args: argparse.Namespace) -> int:
    incident = _store(args).get_incident(args.incident_id)
    if incident is None:
        print(f"No incident {args.incident_id}.", file=sys.stderr)
        return 1
    json.dump(incident.as_dict(), sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


def cmd_ledger(args: argparse.Namespace) -> int:
    for event in _store(args).ledger(args.incident_id, limit=args.limit):
        print(json.dumps(event, default=str))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from airflow_healer.core.capture import Spool

    config = HealerConfig.load()
    spool = Spool(config.spool_dir)
    waiting = len(spool)
    written = spool.replay(_store(args))
    print(f"Replayed {written} of {waiting} spooled failure(s) from {spool.path}.")
    return 0 if written == waiting else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="airflow-healer", description=__doc__)
    parser.add_argument("--store-url", help="store to use instead of [healer] store_url")
    sub = parser.add_subparsers(dest="command", required=True)

    incidents = sub.add_parser("incidents", help="list and show incidents").add_subparsers(dest="sub", required=True)
    p = incidents.add_parser("list", help="recent incidents with their classification, actions and outcomes")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--dag-id")
    p.add_argument("--status", choices=("open", "healing", "recovered", "not_recovered", "escalated"))
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_incidents_list)
    p = incidents.add_parser("show", help="one incident with its failures and actions, as JSON")
    p.add_argument("incident_id")
    p.set_defaults(func=cmd_incidents_show)

    p = sub.add_parser("ledger", help="the append-only ledger, oldest first, one JSON object a line")
    p.add_argument("--incident-id")
    p.add_argument("--limit", type=int, default=1000)
    p.set_defaults(func=cmd_ledger)

    p = sub.add_parser("replay", help="write failures spooled while the store was down")
    p.set_defaults(func=cmd_replay)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HealerError as exc:
        print(f"airflow-healer: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
