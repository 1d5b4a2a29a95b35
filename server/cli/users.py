"""`robust-canvas users add|list|remove`: the people of a server, kept in its data dir's database.

A person's token is printed once, when they are added: the database keeps only its hash. A
running server reads the people on every request, so adding and removing take effect at once.
"""
import argparse
import time
from contextlib import closing
from pathlib import Path


def cmd_users(args) -> int:
    from ..store.files import default_data_dir
    from ..store.sqlite import ResultStore
    data_dir = Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()
    with closing(ResultStore(data_dir)) as store:
        return ACTIONS[args.action](store, args)


def add(store, args) -> int:
    token = store.add_person(args.name, admin=args.admin)
    print(f"added {args.name}{' (admin)' if args.admin else ''}; their token, shown only now:")
    print(token)
    return 0


def listing(store, args) -> int:
    for person in store.list_people():
        added = time.strftime("%Y-%m-%d %H:%M", time.localtime(person["created"]))
        print(f"{person['name']}\t{'admin' if person['admin'] else 'person'}\tadded {added}")
    return 0


def remove(store, args) -> int:
    if not store.remove_person(args.name):
        raise ValueError(f"there is nobody named {args.name!r} (see `robust-canvas users list`)")
    print(f"removed {args.name}: their token is refused from their next request on")
    return 0


ACTIONS = {"add": add, "list": listing, "remove": remove}


def add_users_parser(sub) -> None:
    p = sub.add_parser("users", help="the people of a server, each with their own token",
                       description="People of the server whose data dir this is (its database). Each sees only "
                                   "their own results; an admin sees everyone's. See docs/DEPLOY.md.")
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--data-dir", dest="data_dir", metavar="DIR",
                       help="the server's data dir (also ROBUST_CANVAS_DATA_DIR; default ~/.local/share/robust-canvas)")
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser("add", parents=[where], help="add a person and print their token (once)")
    a.add_argument("name", help="letters, digits, '.', '_' or '-'")
    a.add_argument("--admin", action="store_true", help="may see and delete everyone's results")
    actions.add_parser("list", parents=[where], help="the people, one a line: name, role, when added")
    r = actions.add_parser("remove", parents=[where], help="revoke a person's token (what they made stays, for an "
                                                           "admin)")
    r.add_argument("name")
    p.set_defaults(func=cmd_users)
