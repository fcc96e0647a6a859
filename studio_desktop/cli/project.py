"""``studio project create|list|rename|delete``."""

from __future__ import annotations

import sys

from ..core.errors import InvalidInput
from ..core.projects import ProjectService
from ..tasks import TASKS
from .common import open_workspace, print_json


def register(sub) -> None:
    p = sub.add_parser("project", help="create, list, rename and delete projects")
    psub = p.add_subparsers(dest="action", metavar="ACTION")
    psub.required = True

    c = psub.add_parser("create", help="create a project")
    c.add_argument("name")
    c.add_argument("--task", required=True, choices=list(TASKS), help="the project's task")
    c.add_argument("--classes", nargs="*", default=None, help="class names (optional; imports add them)")
    c.add_argument("--json", action="store_true", help="print the project as JSON")
    c.set_defaults(func=_create)

    ls = psub.add_parser("list", help="list projects")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=_list)

    r = psub.add_parser("rename", help="rename a project (its id does not change)")
    r.add_argument("project", help="name or id")
    r.add_argument("new_name")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=_rename)

    d = psub.add_parser("delete", help="delete a project and all its files")
    d.add_argument("project", help="name or id")
    d.add_argument("--yes", action="store_true", help="confirm the deletion (required)")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=_delete)


def _create(args) -> int:
    with open_workspace(args, write=True) as ws:
        p = ProjectService(ws).create(args.name, args.task, classes=args.classes)
    if args.json:
        print_json(p.model_dump(mode="json"))
    else:
        print(f"created project '{p.name}' ({TASKS[p.task].display_name}), id {p.id}")
    return 0


def _list(args) -> int:
    with open_workspace(args, write=False) as ws:
        good, bad = ProjectService(ws).scan()
    for problem in bad:
        print(f"warning: {problem.reason}", file=sys.stderr)
    if args.json:
        print_json({"projects": [s.as_json() for s in good], "problems": [b.as_json() for b in bad]})
        return 0
    if not good:
        print("no projects yet: create one with 'studio project create NAME --task TASK'")
        return 0
    width = max(len(s.project.name) for s in good)
    for s in good:
        print(f"{s.project.id}  {s.project.name:<{width}}  {s.project.task:<26} "
              f"{s.images:>7} images  {s.experiments:>3} experiments  {s.modified:%Y-%m-%d %H:%M}")
    return 0


def _rename(args) -> int:
    with open_workspace(args, write=True) as ws:
        p = ProjectService(ws).rename(args.project, args.new_name)
    if args.json:
        print_json(p.model_dump(mode="json"))
    else:
        print(f"renamed to '{p.name}' (id {p.id})")
    return 0


def _delete(args) -> int:
    if not args.yes:
        raise InvalidInput(f"deleting '{args.project}' removes all its images, splits and experiments; "
                           "add --yes to confirm")
    with open_workspace(args, write=True) as ws:
        p = ProjectService(ws).delete(args.project)
    if args.json:
        print_json({"deleted": p.id, "name": p.name})
    else:
        print(f"deleted project '{p.name}' (id {p.id})")
    return 0
