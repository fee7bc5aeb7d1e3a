"""Authorization: the one dependency that resolves the caller and its role on the target.

Every route declares what it needs with `Annotated[Access, require(ROLE, on=TARGET)]`
(API) or `page(ROLE, on=TARGET)` (dashboard pages); `public()` marks the few routes that
need no caller (sign-in, static files). tests/server/test_authorization.py walks
`app.routes` and fails for a route that declares none of them, then checks every route
against every kind of caller.

The rules, in order:
1. No credential, or a revoked/expired one: 401 (pages redirect to sign-in).
2. The target (the run, sweep, project ... named in the path) is looked up with its
   project. Missing, or on a project the caller cannot see: 404, the same answer, so ids
   do not leak. A worker token sees no project; a share link sees only its object.
3. The caller's role there (the highest of its grants, bounded by its token's narrowing)
   is below the route's: 403.
Routes without a path target (lists, creation with a project in the body) read through
`access.scope`, which filters to the visible projects, and check a named project with
`access.project(id)`.
"""

from __future__ import annotations

import inspect
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

from cachetools import LRUCache
from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from lionlab_server.api.deps import (
    ScopeDep,
    SessionDep,
    cookie_credential,
    end_read,
    resolve_credential,
)
from lionlab_server.api.validation import IdPath
from lionlab_server.errors import Forbidden, NotFound
from lionlab_server.models import Project, Run, SavedComparison, Sweep, Webhook
from lionlab_server.store.scope import Role, Scope, Share

VIEWER, EDITOR, OWNER, ADMIN = Role.VIEWER, Role.EDITOR, Role.OWNER, Role.ADMIN

# What a worker token may do on a route (None: nothing): claim a queued job of its
# projects, serve (heartbeat, log, finish) a job it holds, or report on itself.
CLAIM, HELD, REPORT = "claim", "held", "report"


@dataclass(frozen=True)
class Target:
    """A kind of object a route acts on: its path parameter and how to find its project.
    `cached`: its project may be cached per process, true only of kinds that are never
    deleted (runs, sweeps, projects): a deleted row's id can be reused by SQLite, and another
    process would not hear of the delete."""

    kind: str  # the error's noun: run, sweep, ...
    param: str  # the path parameter naming it
    project_of: Callable[[Session, int], int | None]
    cached: bool = False


def _column_lookup(model, column="project_id") -> Callable[[Session, int], int | None]:
    def project_of(session: Session, ident: int) -> int | None:
        return session.scalar(select(getattr(model, column)).where(model.id == ident))

    return project_of


TARGETS: dict[str, Target] = {
    "project": Target("project", "project_id", _column_lookup(Project, "id"), cached=True),
    "run": Target("run", "run_id", _column_lookup(Run), cached=True),
    "sweep": Target("sweep", "sweep_id", _column_lookup(Sweep), cached=True),
    "comparison": Target("comparison", "comparison_id", _column_lookup(SavedComparison)),
    "webhook": Target("webhook", "webhook_id", _column_lookup(Webhook)),
}

# Per database (engine): (kind, id) -> project id, for the `cached` kinds.
_caches: weakref.WeakKeyDictionary[Any, LRUCache[tuple[str, int], int]] = (
    weakref.WeakKeyDictionary()
)
_caches_lock = threading.Lock()


def project_cache(session: Session) -> LRUCache[tuple[str, int], int]:
    engine = session.get_bind()
    with _caches_lock:
        cache = _caches.get(engine)
        if cache is None:
            cache = _caches[engine] = LRUCache(maxsize=65536)
    return cache


def project_of(session: Session, target: Target, ident: int) -> int | None:
    """The project of the target object (None: there is none)."""
    if not target.cached:
        return target.project_of(session, ident)
    cache, key = project_cache(session), (target.kind, ident)
    with _caches_lock:
        found = cache.get(key)
    if found is None:
        found = target.project_of(session, ident)
        if found is not None:
            with _caches_lock:
                cache[key] = found
    return found


# A share link's reach: (share, target kind, object id, session) -> may it read it?
SharePolicy = Callable[[Session, Share, str, int], bool]
_share_policy: list[SharePolicy] = []


def set_share_policy(policy: SharePolicy) -> None:
    _share_policy[:] = [policy]


def _share_permits(session: Session, share: Share, kind: str, ident: int) -> bool:
    return bool(_share_policy) and _share_policy[0](session, share, kind, ident)


@dataclass(frozen=True)
class Access:
    """The authorized caller: `caller` as resolved, `scope` what the route reads through
    (for a worker or share link: the one project it was let into), the need the route
    declared, the target's project and the caller's role there."""

    caller: Scope
    need: Role
    scope: Scope
    project_id: int | None = None
    role: Role | None = None
    session: Session | None = field(default=None, repr=False, compare=False)

    def project(self, project_id: int) -> Scope:
        """Check the declared need on a project the request names in its body or query
        (404 when it does not exist, for an admin too); returns the scope to act through."""
        return self.project_with(project_id, self.need)

    def project_with(self, project_id: int, need: Role) -> Scope:
        """`project`, for a need other than the route's (e.g. a worker token's owner)."""
        assert self.session is not None
        if project_of(self.session, TARGETS["project"], project_id) is None:
            raise NotFound("project", project_id, "project_id")
        role = self.caller.role_on(project_id)
        if role is None:
            raise NotFound("project", project_id, "project_id")
        _check_role(self.caller, need, role)
        return self.caller

    def on(self, project_id: int | None, kind: str, ident: int, param: str) -> Scope:
        if project_id is None:
            raise NotFound(kind, ident, param)
        role = self.caller.role_on(project_id)
        if role is None:
            raise NotFound(kind, ident, param)
        _check_role(self.caller, self.need, role)
        return self.caller

    def runs(self, run_ids: Iterable[int]) -> Scope:
        """Check the need on each named run (series, compare): 404 for any not visible.
        For a share link, every run must be within what it shares."""
        assert self.session is not None
        scope = self.scope
        for run_id in dict.fromkeys(run_ids):
            project_id = project_of(self.session, TARGETS["run"], run_id)
            if self.caller.share is not None:
                if project_id is None or not _share_permits(
                    self.session, self.caller.share, "run", run_id
                ):
                    raise NotFound("run", run_id, "run")
                scope = _acting(self.caller, project_id, VIEWER)  # the shared object's project
                continue
            if project_id is None or self.caller.role_on(project_id) is None:
                raise NotFound("run", run_id, "run")
            _check_role(self.caller, self.need, self.caller.role_on(project_id))
        return scope


def _read_only(need: Role) -> Forbidden:
    return Forbidden(f"this token is read-only: it cannot do what needs the {need.label} role")


def _check_role(caller: Scope, need: Role, role: Role) -> None:
    if role >= need:
        return
    if caller.cap < need:
        raise _read_only(need)
    raise Forbidden(
        f"this needs the {need.label} role on the project; you hold {role.label} "
        "(a project owner can grant more on the project's Members page)"
    )


def _acting(caller: Scope, project_id: int, role: Role) -> Scope:
    """The scope a worker token or share link reads through once let into one project."""
    return Scope(
        token_id=caller.token_id,
        user_id=caller.user_id,
        username=caller.username,
        roles={project_id: role},
        cap=role,
    )


def authorize(
    session: Session,
    caller: Scope,
    need: Role,
    target: Target | None,
    ident: int | None,
    worker: str | None = None,
    share: bool = False,
) -> Access:
    """The rules of the module docstring, for an authenticated caller."""
    if target is None:
        if caller.worker:
            if worker == REPORT:
                return Access(caller, need, caller, session=session)
            raise Forbidden(
                "a worker token may only claim jobs and heartbeat, log and finish the ones it "
                "claimed; use a personal token for this"
            )
        if caller.share is not None:
            if share:
                return Access(caller, need, caller, session=session)
            raise Forbidden("a share link opens one shared object only")
        if need == ADMIN and not caller.is_admin:
            raise Forbidden(
                "this needs an admin: an admin user or an admin token (narrowed tokens act "
                "within their project)"
            )
        if caller.cap < need:
            raise _read_only(need)
        return Access(caller, need, caller, session=session)
    assert ident is not None
    project_id = project_of(session, target, ident)
    if project_id is None:
        raise NotFound(target.kind, ident, target.param)
    if caller.worker:
        if (worker == CLAIM and caller.may_claim(project_id)) or (
            worker == HELD and _holds(session, caller, ident)
        ):
            scope = _acting(caller, project_id, EDITOR)
            return Access(caller, need, scope, project_id, EDITOR, session)
        raise NotFound(target.kind, ident, target.param)
    if caller.share is not None:
        if share and need == VIEWER and _share_permits(session, caller.share, target.kind, ident):
            scope = _acting(caller, project_id, VIEWER)
            return Access(caller, need, scope, project_id, VIEWER, session)
        raise NotFound(target.kind, ident, target.param)
    role = caller.role_on(project_id)
    if role is None:
        raise NotFound(target.kind, ident, target.param)
    _check_role(caller, need, role)
    return Access(caller, need, caller, project_id, role, session)


def _holds(session: Session, caller: Scope, run_id: int) -> bool:
    holder = session.scalar(select(Run.claim_token_id).where(Run.id == run_id))
    return holder is not None and holder == caller.token_id


REQUIREMENT = "__lionlab_requirement__"  # marks the dependencies this module makes


@dataclass(frozen=True)
class Requirement:
    """What a route needs: a role on the `on` object of its path (None: no single object),
    what a worker token may do there, and whether a share link may read it."""

    need: Role | None
    on: str | None = None
    worker: str | None = None
    share: bool = False
    where: str = "api"  # api / page / public

    @property
    def target(self) -> Target | None:
        return TARGETS[self.on] if self.on is not None else None

    def authorize(self, session: Session, caller: Scope, ident: int | None) -> Access:
        assert self.need is not None
        return authorize(session, caller, self.need, self.target, ident, self.worker, self.share)


def _with_target(fn: Callable[..., Any], base: list[inspect.Parameter], req: Requirement) -> Any:
    params = list(base)
    if req.target is not None:
        params.append(
            inspect.Parameter(req.target.param, inspect.Parameter.KEYWORD_ONLY, annotation=IdPath)
        )
    fn.__signature__ = inspect.Signature(params, return_annotation=Access)  # type: ignore[attr-defined]
    setattr(fn, REQUIREMENT, req)
    return Depends(fn)


def require(
    need: Role, on: str | None = None, *, worker: str | None = None, share: bool = False
) -> Any:
    """The dependency of an API route: the caller (bearer token, sign-in cookie or share
    link) must hold `need` on the `on` object named in the path (see the module rules)."""
    req = Requirement(need, on, worker, share)

    def dependency(session: Session, caller: Scope, **path) -> Access:
        ident = path[req.target.param] if req.target is not None else None
        access = req.authorize(session, caller, ident)
        end_read(session)
        return access

    base = [
        inspect.Parameter(
            "session", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=SessionDep
        ),
        inspect.Parameter("caller", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=ScopeDep),
    ]
    return _with_target(dependency, base, req)


def declared(req: Requirement) -> Any:
    """For a route that checks `req` itself (the metric ingest path, which authenticates
    and parses in one worker-thread hop): declares it, so the route walk sees it."""

    async def declaration() -> None:
        return None

    setattr(declaration, REQUIREMENT, req)
    return Depends(declaration)


class PageRefused(Exception):
    """A page the caller may not see (404) or act on (403); rendered by web/render.py."""

    def __init__(self, caller: Scope, error: NotFound | Forbidden):
        self.caller, self.error = caller, error


def page(need: Role, on: str | None = None, *, share: bool = False) -> Any:
    """The dependency of a dashboard page: the sign-in cookie's caller (else a redirect to
    the sign-in page) holding `need` on the `on` object; refusals render the 404 or 403 page."""
    from lionlab_server.web.session import SignInRequired

    req = Requirement(need, on, None, share, "page")

    def dependency(request: Request, session: Session, **path) -> Access:
        credential = cookie_credential(request)
        caller = None if credential is None else resolve_credential(request, session, credential)
        if caller is None:
            query = f"?{request.url.query}" if request.url.query else ""
            raise SignInRequired(request.url.path + query)
        ident = path[req.target.param] if req.target is not None else None
        try:
            access = req.authorize(session, caller, ident)
        except (NotFound, Forbidden) as error:
            raise PageRefused(caller, error) from None
        finally:
            end_read(session)
        return access

    base = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
        inspect.Parameter(
            "session", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=SessionDep
        ),
    ]
    return _with_target(dependency, base, req)


def _public() -> None:
    return None


setattr(_public, REQUIREMENT, Requirement(None, where="public"))


def public() -> Any:
    """Marks a route that needs no caller (sign-in, static files, health)."""
    return Depends(_public)


def Needs(need: Role, on: str | None = None, **kw: Any) -> Any:  # noqa: N802 (a type alias)
    """`access: Needs(EDITOR, "run")` is `Annotated[Access, require(EDITOR, on="run")]`."""
    return Annotated[Access, require(need, on, **kw)]


def PageNeeds(need: Role, on: str | None = None, **kw: Any) -> Any:  # noqa: N802
    return Annotated[Access, page(need, on, **kw)]


Public = Annotated[None, public()]
