-- The coordinator's desk: report projections, and where a person was when. Keep in step
-- with ../postgres/0004_desk.sql: the two are the same text.
--
-- Reports (server/src/reports.rs, docs/reports.md) are computed in SQL from these
-- projections, which the projection worker rebuilds from the documents; nothing here is
-- counted by hand.

-- A person document moved from one district to another (people.rs: POST
-- /api/desk/people/move). effective_on (YYYY-MM-DD) is the first day in the new district.
-- A visit or consultation counts in the district the person belonged to on its own date:
-- the from_district of the earliest move effective after that date, else the document's
-- current district (projection.rs, district_on).
CREATE TABLE district_moves (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organisations(id),
    doc_id        TEXT NOT NULL REFERENCES documents(id),
    from_district TEXT REFERENCES districts(id),
    to_district   TEXT NOT NULL REFERENCES districts(id),
    effective_on  TEXT NOT NULL,
    moved_by      TEXT REFERENCES users(id),
    moved_at      BIGINT NOT NULL
);
CREATE INDEX district_moves_doc ON district_moves(doc_id, effective_on);

-- Visits: what the overdue board needs to apply the watch plan's rule (shared::watch) —
-- the time and recording time that order two visits of one day, the planned next
-- contact — and the last visit's note; the つなぎ先 (comma-separated codes).
-- district_id is from now on the district at the time of the visit.
ALTER TABLE proj_visits ADD COLUMN visit_time TEXT NOT NULL DEFAULT '';
ALTER TABLE proj_visits ADD COLUMN recorded_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE proj_visits ADD COLUMN next_contact TEXT;
ALTER TABLE proj_visits ADD COLUMN note TEXT NOT NULL DEFAULT '';
ALTER TABLE proj_visits ADD COLUMN referrals TEXT NOT NULL DEFAULT '';
CREATE INDEX proj_visits_district ON proj_visits(org_id, district_id, date);

-- Who made each visit (one row per visitor; the recorder when no visitor is listed), for
-- the 民生委員's 訪問・連絡活動 count and 活動日数.
CREATE TABLE proj_visit_visitors (
    doc_id    TEXT NOT NULL,
    record_id TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    org_id    TEXT NOT NULL,
    date      TEXT NOT NULL,
    PRIMARY KEY (doc_id, record_id, user_id)
);
CREATE INDEX proj_visit_visitors_user ON proj_visit_visitors(org_id, user_id, date);

-- 相談・支援: consultations about a person (person documents) and anonymous ones (a
-- 民生委員's activity document, anonymous = 1, district_id NULL, recorded_by = the owner).
CREATE TABLE proj_consultations (
    doc_id      TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    district_id TEXT,
    date        TEXT NOT NULL,
    field       TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    anonymous   BIGINT NOT NULL,
    followup    BIGINT NOT NULL,
    referrals   TEXT NOT NULL,
    PRIMARY KEY (doc_id, record_id)
);
CREATE INDEX proj_consultations_org ON proj_consultations(org_id, date);

-- 相談・支援の内容: one row per topic chosen (a consultation may have several).
CREATE TABLE proj_consultation_topics (
    doc_id    TEXT NOT NULL,
    record_id TEXT NOT NULL,
    topic     TEXT NOT NULL,
    PRIMARY KEY (doc_id, record_id, topic)
);

-- A 民生委員's other activities (activity documents): kind, 分野 where recorded, how many.
CREATE TABLE proj_activities (
    doc_id    TEXT NOT NULL,
    record_id TEXT NOT NULL,
    org_id    TEXT NOT NULL,
    owner_id  TEXT NOT NULL,
    date      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    field     TEXT,
    amount    BIGINT NOT NULL,
    PRIMARY KEY (doc_id, record_id)
);
CREATE INDEX proj_activities_owner ON proj_activities(org_id, owner_id, date);

-- Follow-ups: from now on every visit or consultation that asks for one — follow-up
-- flagged or a つなぎ先 given — with its kind, つなぎ先, recorder and who recorded it done.
ALTER TABLE proj_followups ADD COLUMN kind TEXT NOT NULL DEFAULT 'visit';
ALTER TABLE proj_followups ADD COLUMN referrals TEXT NOT NULL DEFAULT '';
ALTER TABLE proj_followups ADD COLUMN recorded_by TEXT NOT NULL DEFAULT '';
ALTER TABLE proj_followups ADD COLUMN done_by TEXT;

-- The watch plan's frequency, for the overdue board.
ALTER TABLE proj_people ADD COLUMN frequency TEXT NOT NULL DEFAULT '';

-- Person and activity documents are projected again to fill the new columns and tables.
UPDATE documents SET proj_seq = 0 WHERE kind IN ('person', 'activity');
