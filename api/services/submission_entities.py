"""The entities a stored submission creates or updates (ODK Central's entity processing):
called by ingest in the transaction that stores the submission, by review when a submission
is approved, and when a dataset stops requiring approval. Every decision is made before
anything is written; an entity error is an `entity.error` audit row and never loses the
submission. The entity lists themselves: api/services/entities.py."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import asyncpg
from cachetools import LRUCache

from api.auth import Actor, authorize
from api.form_cache import entity_declarations_of_def
from api.i18n import N_
from api.problems import Problem
from api.scopes import require_case_in_scope, row_scope
from api.services.entities import (
    REQUIRED,
    dataset_acted_on,
    entity_acted_on,
    get_dataset,
    problem_from_data_error,
    refuse_taken_uuids,
)
from db import audits
from db import entities as entities_db
from db.scopes import UNSCOPED
from forms.entities import (
    EntityDataError,
    EntityDeclaration,
    SubmissionEntity,
    normalize_uuid,
    parse_version,
    submission_entities,
)
from forms.submission import SubmissionParseError


async def set_approval_required(
    conn: asyncpg.Connection, actor: Actor | None, project_id: int, name: str, value: bool,
    *, convert: bool = False,
) -> asyncpg.Record:
    """PATCH approvalRequired. With convert=true, turning approval off creates the entities of
    the submissions that were waiting for approval (Central's ?convert=true)."""
    actor = authorize(actor, "dataset.update", project_id)
    async with conn.transaction():
        dataset = await get_dataset(conn, project_id, name)
        row = await entities_db.set_approval_required(conn, dataset["id"], value)
        await audits.log_audit(
            conn, actor.id, "dataset.update", dataset_acted_on(project_id, name),
            {"approvalRequired": value},
        )
        if convert and not value:
            for version_id in await entities_db.pending_submission_versions(conn, dataset["id"]):
                await _process_stored_version(conn, version_id, event="convert")
    return row



@dataclass(frozen=True)
class StoredVersion:
    """A stored submission version, as entity processing needs it."""

    project_id: int
    xml_form_id: str
    form_def_id: int
    submission_id: int
    version_id: int
    instance_id: str
    xml: bytes
    submitter_id: int | None
    user_agent: str | None
    review_state: str | None


async def process_submission(
    conn: asyncpg.Connection, stored: StoredVersion, declarations: list[EntityDeclaration],
    *, event: str, fresh: bool = False,
) -> None:
    """Create or update the entities a stored submission declares, inside the caller's
    transaction. An entity error is logged as `entity.error` and the submission stays stored,
    as in Central: every refusal is decided before anything is written, so no savepoint is
    needed. `event`: "create" (a new submission or edit), "approval", "convert" (approval
    turned off) or "backlog" (a held offline update whose predecessor arrived). `fresh`: the
    submission was inserted in this transaction (so it cannot have written entities yet)."""
    if not declarations:
        return
    if not fresh and event != "backlog" and await entities_db.submission_processed(
        conn, stored.submission_id
    ):
        return
    try:
        found = submission_entities(stored.xml, declarations)
    except SubmissionParseError:
        return
    for item in found:
        try:
            await _process_one(conn, stored, item, event)
        except (Problem, EntityDataError) as exc:
            problem = problem_from_data_error(exc) if isinstance(exc, EntityDataError) else exc
            await _log_entity_error(conn, stored, problem, item.dataset)


@dataclass(frozen=True)
class SingleCreate:
    """A submission whose only entity work is creating one entity, checked before it is
    stored, so that both go in one statement."""

    dataset_id: int
    dataset_name: str
    uuid: str
    label: str
    data: dict[str, str]
    received: dict[str, str]
    branch_id: str | None


async def plan_single_create(
    conn: asyncpg.Connection, form_def_id: int, xml: bytes,
    declarations: list[EntityDeclaration],
) -> SingleCreate | None:
    """The entity creation a new submission asks for, when it is the simple case (one entity,
    create only, valid, to a dataset the form may create in); None for anything else, which
    goes the general way (process_submission in a transaction, errors audited)."""
    if len(declarations) != 1:
        return None
    try:
        found = submission_entities(xml, declarations)
    except SubmissionParseError:
        return None
    if len(found) != 1 or not found[0].create or found[0].update:
        return None
    item = found[0]
    dataset = (await _links_of(conn, form_def_id)).get(item.dataset)
    if dataset is None or "create" not in dataset["actions"]:
        return None
    if item.label is None or not item.label.strip():
        return None
    try:
        uuid = normalize_uuid(item.id, "id")
        branch_id = normalize_uuid(item.branch_id, "branchId") if item.branch_id else None
    except EntityDataError:
        return None
    return SingleCreate(dataset["id"], dataset["name"], uuid, item.label, item.data,
                        _received(item), branch_id)


async def store_submission_with_entity(
    conn: asyncpg.Connection, submission_args: list, plan: SingleCreate, stored: StoredVersion,
) -> tuple[int, int] | None:
    """Store a new submission and create its entity in one statement. Returns (submission id,
    version id), or None when the instanceID exists (nothing stored). When the entity could
    not be created because its uuid is taken, that is audited as entity.error, as in Central;
    when its dataset requires approval, it is created on approval."""
    row = await entities_db.insert_submission_with_entity(
        conn, submission_args, dataset_id=plan.dataset_id, uuid=plan.uuid, label=plan.label,
        data=plan.data, data_received=plan.received, branch_id=plan.branch_id,
        source_details={"event": "create"},
        audit_acted_on=entity_acted_on(stored.project_id, plan.dataset_name, plan.uuid),
        audit_details={"entity": {"uuid": plan.uuid, "dataset": plan.dataset_name}},
    )
    if row is None:
        return None
    if row["entity_id"] is None and not await entities_db.approval_required(conn, plan.dataset_id):
        try:
            await refuse_taken_uuids(conn, [plan.uuid])
        except Problem as exc:
            await _log_entity_error(conn, replace(stored, submission_id=row["submission_id"],
                                                  version_id=row["version_id"]),
                                    exc, plan.dataset_name)
    return row["submission_id"], row["version_id"]


async def _log_entity_error(conn, stored: StoredVersion, problem: Problem, dataset: str) -> None:
    await audits.log_audit(
        conn, stored.submitter_id, "entity.error",
        f"submission/{stored.project_id}/{stored.xml_form_id}/{stored.instance_id}",
        {"submissionId": stored.submission_id, "submissionDefId": stored.version_id,
         "errorMessage": problem.detail, "problem": problem.slug, "dataset": dataset},
    )


# Which datasets a form version writes to, with its actions: fixed at publishing, so cached
# for good (a dataset's approvalRequired, which can change, is read by the statements).
_form_def_links: LRUCache[int, dict[str, dict[str, Any]]] = LRUCache(maxsize=10_000)


async def _links_of(conn, form_def_id: int) -> dict[str, dict[str, Any]]:
    links = _form_def_links.get(form_def_id)
    if links is None:
        rows = await entities_db.datasets_of_form_def(conn, form_def_id)
        links = {r["name"]: {"id": r["id"], "name": r["name"], "actions": list(r["actions"])}
                 for r in rows}
        _form_def_links[form_def_id] = links
    return links


async def _process_one(conn, stored: StoredVersion, item: SubmissionEntity, event: str) -> None:
    if not item.dataset.strip():
        raise Problem("entity-parameter-missing", REQUIRED, params={"name": "dataset"})
    dataset = (await _links_of(conn, stored.form_def_id)).get(item.dataset)
    if dataset is None:
        raise Problem(
            "submission-dataset-not-found",
            N_("The dataset (%(name)s) specified in the submission does not exist."),
            params={"name": item.dataset},
        )
    for action, asked in (("create", item.create), ("update", item.update)):
        if asked and action not in dataset["actions"]:
            raise Problem(
                "entity-action-not-permitted",
                N_("The submission attempts an entity %(action)s, but the form does not "
                   "permit that action. The form permits: %(actions)s."),
                params={"action": action, "actions": ", ".join(dataset["actions"])},
            )
    uuid = normalize_uuid(item.id, "id")
    if item.update:  # a creation needs no lock: its insert refuses a taken uuid by itself
        await entities_db.lock_entity_uuid(conn, uuid)
        try:
            await _update_from_submission(conn, stored, dataset, uuid, item, event)
            return
        except Problem as exc:
            if not (item.create and exc.slug == "submission-entity-not-found"):
                raise
    if item.create:
        await _create_from_submission(conn, stored, dataset, uuid, item, event)


def _received(item: SubmissionEntity) -> dict[str, str]:
    label = item.label if item.label is not None and item.label.strip() else None
    return {**item.data, **({"label": label} if label is not None else {})}


async def _create_from_submission(conn, stored, dataset, uuid, item, event) -> None:
    """Without approval required, a submission creates its entity when it arrives; with it,
    when it is approved (or approval is turned off with convert)."""
    approving = event in ("approval", "convert")
    if approving and not await entities_db.approval_required(conn, dataset["id"]):
        if event == "approval":
            return  # created when it arrived
    if item.label is None or not item.label.strip():
        raise Problem("entity-parameter-missing", REQUIRED, params={"name": "label"})
    branch_id = normalize_uuid(item.branch_id, "branchId") if item.branch_id else None
    row = await entities_db.insert_entity(
        conn, dataset_id=dataset["id"], uuid=uuid, creator_id=stored.submitter_id,
        label=item.label, data=item.data, data_received=_received(item),
        user_agent=stored.user_agent, source_type="submission",
        source_details={"event": event}, submission_id=stored.submission_id,
        submission_version_id=stored.version_id, branch_id=branch_id,
        unless_approval_required=not approving,
        audit_acted_on=entity_acted_on(stored.project_id, dataset["name"], uuid),
        audit_details={"entity": {"uuid": uuid, "dataset": dataset["name"]},
                       "submissionId": stored.submission_id,
                       "submissionDefId": stored.version_id},
    )
    if row is None:
        await refuse_taken_uuids(conn, [uuid])
        return  # not taken: the dataset requires approval, so it is created when approved
    await _apply_next_held(conn, uuid, branch_id, 0)


async def refuse_cases_out_of_scope(
    conn: asyncpg.Connection, actor: Actor, project_id: int, form_def_id: int, xml: bytes,
    declarations: list[EntityDeclaration],
) -> None:
    """Before a submission is stored: when its submitter is limited to centres (an app user
    tied to one, a scoped web user), every case it creates or updates must be of those centres
    (api/scopes.py `require_case_in_scope`), or nothing is stored."""
    if not declarations or not row_scope(actor, project_id).limited:
        return
    try:
        found = submission_entities(xml, declarations)
    except SubmissionParseError:
        return
    links = await _links_of(conn, form_def_id)
    for item in found:
        dataset = links.get(item.dataset)
        if dataset is None:
            continue
        if item.update and item.id:
            try:
                uuid = normalize_uuid(item.id, "id")
            except EntityDataError:
                continue  # refused (audited) the usual way, and changes no case
            server = await entities_db.get_entity(conn, dataset["id"], uuid, scope=UNSCOPED)
            if server is not None:
                require_case_in_scope(actor, project_id, server["data"].get("centre"))
        elif item.create:
            require_case_in_scope(actor, project_id, item.data.get("centre"))


async def _entity_to_update(conn, dataset, uuid: str) -> asyncpg.Record:
    # the submitter's scope was checked before the submission was stored
    server = await entities_db.get_entity(conn, dataset["id"], uuid, scope=UNSCOPED)
    if server is not None:
        return server
    if await entities_db.get_entity(conn, dataset["id"], uuid, deleted=True,
                                    scope=UNSCOPED) is not None:
        raise Problem("entity-deleted", N_("The entity with UUID (%(uuid)s) has been deleted."),
                      params={"uuid": uuid})
    raise Problem(
        "submission-entity-not-found",
        N_("The entity with UUID (%(uuid)s) specified in the submission does not exist "
           "in the dataset (%(name)s)."),
        params={"uuid": uuid, "name": dataset["name"]},
    )


async def _conflict_of(
    conn, server, base, received: dict[str, str], branch_id: str | None,
    trunk_version: int | None,
) -> tuple[str | None, list[str] | None]:
    """The entity's conflict after this update ("soft", "hard" or what it was) and the
    properties both sides changed."""
    conflict = server["conflict"]
    conflicting: list[str] | None = None
    if base["version"] != server["version"]:
        # what the server changed since the writer's base; the writer's changes to the same
        # properties (with another value) are a hard conflict, any other update a soft one
        server_now = {**server["data"], "label": server["label"]}
        base_then = {**base["data"], "label": base["label"]}
        server_changed = {k: server_now[k] for k in server_now
                          if k not in base_then or base_then[k] != server_now[k]}
        conflicting = [k for k in received if k in server_changed and received[k] != server_changed[k]]
        if conflict != "hard":
            conflict = "hard" if conflicting else "soft"
    elif branch_id is not None and await entities_db.branch_interrupted(
        conn, server["id"], branch_id, trunk_version or 1
    ):
        if conflict != "hard":
            conflict = "soft"
    return conflict, conflicting


async def _update_from_submission(conn, stored, dataset, uuid, item, event) -> None:
    if event in ("approval", "convert"):
        return  # updates apply when the submission arrives, approved or not (as Central)
    base_version = parse_version(item.base_version, "baseVersion")
    if base_version is None:
        raise EntityDataError("missing", "baseVersion", "Required parameter baseVersion missing.")
    trunk_version = parse_version(item.trunk_version, "trunkVersion")
    branch_id = normalize_uuid(item.branch_id, "branchId") if item.branch_id else None
    if trunk_version is not None and branch_id is None:
        raise EntityDataError("missing", "branchId", "Required parameter branchId missing.")
    server = await _entity_to_update(conn, dataset, uuid)
    if branch_id is None or base_version == 1 or base_version == trunk_version:
        base = await entities_db.get_def_by_version(conn, server["id"], base_version)
    else:  # the middle of an offline branch: the base is this branch's previous update
        base = await entities_db.get_def_in_branch(conn, server["id"], branch_id, base_version - 1)
        if base is None:
            await entities_db.hold_submission(conn, stored.version_id, uuid, branch_id, base_version)
            await audits.log_audit(
                conn, stored.submitter_id, "submission.backlog.hold",
                f"submission/{stored.project_id}/{stored.xml_form_id}/{stored.instance_id}",
                {"submissionId": stored.submission_id, "submissionDefId": stored.version_id},
            )
            return
    if base is None:
        raise Problem(
            "entity-base-version-not-found",
            N_("Base version (%(version)s) does not exist for entity UUID (%(uuid)s) in "
               "dataset (%(name)s)."),
            params={"version": base_version, "uuid": uuid, "name": dataset["name"]},
        )
    if trunk_version is not None and trunk_version > server["version"]:
        raise Problem(
            "entity-base-version-not-found",
            N_("Base version (trunkVersion=%(version)s) does not exist for entity UUID "
               "(%(uuid)s) in dataset (%(name)s)."),
            params={"version": trunk_version, "uuid": uuid, "name": dataset["name"]},
        )
    received = _received(item)
    conflict, conflicting = await _conflict_of(
        conn, server, base, received, branch_id, trunk_version
    )
    def_id = await entities_db.insert_version(
        conn, entity_id=server["id"], version=server["version"] + 1,
        base_version=base["version"],
        label=received.get("label", server["label"]),
        data={**server["data"], **item.data}, data_received=received, conflict=conflict,
        conflicting_properties=conflicting, creator_id=stored.submitter_id,
        user_agent=stored.user_agent, source_type="submission", source_details={"event": event},
        submission_id=stored.submission_id, submission_version_id=stored.version_id,
        trunk_version=trunk_version, branch_id=branch_id,
        branch_base_version=base_version if branch_id is not None else None,
    )
    await audits.log_audit(
        conn, stored.submitter_id, "entity.update.version",
        entity_acted_on(stored.project_id, dataset["name"], uuid),
        {"entity": {"uuid": uuid, "dataset": dataset["name"]}, "entityId": server["id"],
         "entityDefId": def_id, "submissionId": stored.submission_id,
         "submissionDefId": stored.version_id, "baseVersion": base["version"],
         **({"conflict": conflict} if conflict and conflict != server["conflict"] else {})},
    )
    if branch_id is not None:
        await _apply_next_held(conn, uuid, branch_id, base_version)


async def _apply_next_held(conn, uuid: str, branch_id: str | None, branch_base: int) -> None:
    """A held offline update that follows the one just applied in its branch goes next."""
    if branch_id is None:
        return
    version_id = await entities_db.take_next_held(conn, uuid, branch_id, branch_base + 1)
    if version_id is not None:
        await _process_stored_version(conn, version_id, event="backlog")


async def stored_version(conn, version_id: int) -> StoredVersion | None:
    row = await entities_db.get_submission_version(conn, version_id)
    return _stored(row) if row is not None else None


def _stored(row) -> StoredVersion:
    return StoredVersion(
        project_id=row["project_id"], xml_form_id=row["xml_form_id"],
        form_def_id=row["form_def_id"], submission_id=row["submission_id"],
        version_id=row["id"], instance_id=row["instance_id"], xml=bytes(row["xml"]),
        submitter_id=row["submitter_id"], user_agent=row["user_agent"],
        review_state=row["review_state"],
    )


async def _process_stored_version(conn, version_id: int, *, event: str) -> None:
    row = await entities_db.get_submission_version(conn, version_id)
    if row is None:
        return
    declarations = await entity_declarations_of_def(conn, row["form_def_id"])
    await process_submission(conn, _stored(row), declarations, event=event)


async def submission_approved(conn: asyncpg.Connection, submission_id: int) -> None:
    """A submission was approved (inside the review's transaction): create the entities of
    approvalRequired datasets that it declares."""
    row = await entities_db.get_current_submission_version(conn, submission_id)
    if row is None:
        return
    declarations = await entity_declarations_of_def(conn, row["form_def_id"])
    await process_submission(conn, _stored(row), declarations, event="approval")
