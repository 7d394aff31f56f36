-- Mimamori schema, SQLite flavour. Keep in step with ../postgres/0001_init.sql: the two
-- differ only in the types of binary columns and of the audit log's id.

-- One row per database: its epoch is part of every sync cursor, so a cursor from
-- another database (or a restored backup) is recognised.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- A 社会福祉協議会. change_seq numbers every change and scope event of the organisation;
-- updating it serialises writers, so sequence order is commit order.
CREATE TABLE organisations (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    change_seq        BIGINT NOT NULL DEFAULT 0,
    directory_version BIGINT NOT NULL DEFAULT 1,
    created_at        BIGINT NOT NULL
);

-- 支所 → 地区 → 小学校区 → 自治会 …: a tree; path is '/root-id/…/own-id/' so a subtree is
-- one prefix match.
CREATE TABLE districts (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organisations(id),
    parent_id  TEXT REFERENCES districts(id),
    name       TEXT NOT NULL,
    level      TEXT NOT NULL,
    path       TEXT NOT NULL,
    map_doc    TEXT,
    lat        DOUBLE PRECISION,
    lon        DOUBLE PRECISION,
    zoom       BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX districts_org ON districts(org_id, path);

CREATE TABLE salons (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organisations(id),
    district_id TEXT REFERENCES districts(id),
    name        TEXT NOT NULL,
    salon_type  TEXT NOT NULL,
    doc_id      TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organisations(id),
    login         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled_at   BIGINT,
    created_at    BIGINT NOT NULL
);

-- Roles: admin, staff, minsei, volunteer, salon_leader, salon_helper, member; limited to
-- a district subtree or a salon where set.
CREATE TABLE memberships (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id),
    role        TEXT NOT NULL,
    district_id TEXT REFERENCES districts(id),
    salon_id    TEXT REFERENCES salons(id),
    created_at  BIGINT NOT NULL
);
CREATE INDEX memberships_user ON memberships(user_id);

-- Which volunteer visits which person (document).
CREATE TABLE assignments (
    user_id    TEXT NOT NULL REFERENCES users(id),
    doc_id     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, doc_id)
);
CREATE INDEX assignments_doc ON assignments(doc_id);

-- A signed-in device. Only the SHA-256 of its token is kept.
CREATE TABLE devices (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id),
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    app_version  TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX devices_user ON devices(user_id);

-- One Automerge document. Its state is snapshot (at snapshot_seq) plus the changes after.
CREATE TABLE documents (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organisations(id),
    kind         TEXT NOT NULL,
    district_id  TEXT REFERENCES districts(id),
    salon_id     TEXT REFERENCES salons(id),
    owner_id     TEXT REFERENCES users(id),
    created_by   TEXT,
    created_at   BIGINT NOT NULL,
    snapshot     BLOB,
    snapshot_seq BIGINT NOT NULL DEFAULT 0,
    last_seq     BIGINT NOT NULL DEFAULT 0,
    proj_seq     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX documents_org ON documents(org_id, kind, district_id);
CREATE INDEX documents_dirty ON documents(proj_seq, last_seq);

-- Append-only: every change ever acknowledged, unique by its hash within a document.
CREATE TABLE changes (
    org_id     TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    doc_id     TEXT NOT NULL REFERENCES documents(id),
    hash       TEXT NOT NULL,
    bytes      BLOB NOT NULL,
    device_id  TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, seq),
    UNIQUE (doc_id, hash)
);
CREATE INDEX changes_doc ON changes(doc_id, seq);

-- A document entering (entered = 1) or leaving (0) a user's scope, numbered in the
-- organisation's change sequence so that a cursor orders it among the changes.
CREATE TABLE scope_events (
    org_id  TEXT NOT NULL,
    seq     BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    doc_id  TEXT NOT NULL,
    entered BIGINT NOT NULL,
    PRIMARY KEY (org_id, seq, user_id, doc_id)
);
CREATE INDEX scope_events_user ON scope_events(user_id, seq);

-- Projections, rebuilt from the documents (never edited by hand).
CREATE TABLE proj_visits (
    doc_id      TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    district_id TEXT,
    date        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    condition   TEXT,
    followup    BIGINT NOT NULL,
    visitors    TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    PRIMARY KEY (doc_id, record_id)
);
CREATE INDEX proj_visits_org ON proj_visits(org_id, date);

CREATE TABLE proj_attendance (
    doc_id    TEXT NOT NULL,
    date      TEXT NOT NULL,
    member_id TEXT NOT NULL,
    org_id    TEXT NOT NULL,
    salon_id  TEXT,
    mark      TEXT NOT NULL,
    PRIMARY KEY (doc_id, date, member_id)
);

CREATE TABLE proj_sessions (
    doc_id    TEXT NOT NULL,
    date      TEXT NOT NULL,
    org_id    TEXT NOT NULL,
    salon_id  TEXT,
    present   BIGINT NOT NULL,
    guests    BIGINT NOT NULL,
    helpers   BIGINT NOT NULL,
    cancelled BIGINT NOT NULL,
    PRIMARY KEY (doc_id, date)
);

CREATE TABLE proj_followups (
    doc_id      TEXT NOT NULL,
    source_id   TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    district_id TEXT,
    raised_on   TEXT NOT NULL,
    what        TEXT NOT NULL,
    done_on     TEXT,
    PRIMARY KEY (doc_id, source_id)
);

-- Append-only record of who did what: sign-ins, refusals, revocations, admin changes.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        BIGINT NOT NULL,
    org_id    TEXT,
    user_id   TEXT,
    device_id TEXT,
    action    TEXT NOT NULL,
    doc_id    TEXT,
    detail    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_org ON audit_log(org_id, at);
