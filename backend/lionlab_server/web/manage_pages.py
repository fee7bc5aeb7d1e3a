"""Management pages: the admins' users and teams (`/admin/users`, `/admin/teams`) and a
project's settings for its owners (`/projects/{id}/settings`: members, tokens, webhooks).

Server-rendered tables (the template autoescapes every name); their forms and buttons post
to the JSON API through `pages/manage.js`, which reloads the page once a change is stored.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lionlab_server.api.access import ADMIN, OWNER, PageNeeds
from lionlab_server.api.deps import SessionDep
from lionlab_server.api.validation import IdPath
from lionlab_server.services.webhooks import SUBSCRIBABLE
from lionlab_server.store import grants, tokens, users, webhooks
from lionlab_server.store.scope import GRANTABLE
from lionlab_server.web.render import project_page, render

router = APIRouter(include_in_schema=False)


def _users_with_teams(session) -> list[tuple[users.UserInfo, list[str]]]:
    return [(u, grants.teams_of(session, u.id)) for u in users.list_users(session)]


@router.get("/admin/users")
def users_page(request: Request, session: SessionDep, access: PageNeeds(ADMIN)) -> Response:
    people = _users_with_teams(session)
    session.rollback()
    return render(request, access, "admin_users.html", active="admin", people=people)


@router.get("/admin/teams")
def teams_page(request: Request, session: SessionDep, access: PageNeeds(ADMIN)) -> Response:
    teams, people = grants.list_teams(session), users.list_users(session)
    session.rollback()
    return render(request, access, "admin_teams.html", active="admin", teams=teams, people=people)


@router.get("/projects/{project_id}/settings")
def settings_page(
    request: Request, project_id: IdPath, session: SessionDep, access: PageNeeds(OWNER, "project")
) -> Response:
    """Members, the tokens narrowed to the project, its webhooks; admins also get the
    names of every user and team to pick from (owners type a name)."""
    admin = access.caller.is_admin
    extra = {
        "members": grants.list_grants(session, project_id),
        "project_tokens": [
            t for t in tokens.list_tokens(session, project_id=project_id) if t.revoked_at is None
        ],
        "hooks": webhooks.list_webhooks(session, project_id),
        "events": [e.value for e in SUBSCRIBABLE],
        "roles": [r.label for r in GRANTABLE],
        "known_users": [u.username for u in users.list_users(session)] if admin else [],
        "known_teams": [t.name for t in grants.list_teams(session)] if admin else [],
    }
    return project_page(request, session, access, project_id, "project_settings.html", **extra)
