-- Records that cannot be read or break a rule of the model (shared::check): written
-- before the server checked records at the door, or by a document that no longer loads.
-- Rebuilt with each document's projection; the desk and the reports list them as needing
-- correction instead of leaving them silently out.
CREATE TABLE proj_problems (
    doc_id      TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    district_id TEXT,
    salon_id    TEXT,
    kind        TEXT NOT NULL,
    path        TEXT NOT NULL,
    field       TEXT NOT NULL,
    rule        TEXT NOT NULL,
    message     TEXT NOT NULL,
    message_ja  TEXT NOT NULL
);
CREATE INDEX proj_problems_doc ON proj_problems(doc_id);
CREATE INDEX proj_problems_org ON proj_problems(org_id);

-- Every document is projected again to find them.
UPDATE documents SET proj_seq = 0;
