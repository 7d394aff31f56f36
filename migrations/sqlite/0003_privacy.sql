-- Privacy: device keys and the PIN, view versus edit, disaster mode and the evacuation
-- roster, the audit log for staff. Keep in step with ../postgres/0003_privacy.sql: the two
-- differ only in how the audit log refuses changes (triggers in each dialect).

-- Device keys (auth.rs, keys.rs). wrap_secret: 32 random bytes as hex, the server-held
-- half of the key that wraps the phone's data key; NULL once destroyed (revocation).
-- pin_hash: Argon2id of the phone's PIN proof (never the PIN). pin_failures: wrong proofs
-- in a row. revoked_reason: 'logout' (the device's own log-out), 'revoked' (by its user
-- or the office), 'password' (the password was changed on another device), 'pin' (too
-- many wrong PINs); it picks the 401 code the device gets (revoked / signed_out).
ALTER TABLE devices ADD COLUMN wrap_secret TEXT;
ALTER TABLE devices ADD COLUMN pin_hash TEXT;
ALTER TABLE devices ADD COLUMN pin_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN revoked_reason TEXT;

-- Devices signed out before this migration: the reason from the audit log where it says
-- (a log-out was audited 'self', a revocation 'by …' or 'admin'); the rest were signed
-- out by a password change, which left no row per device.
UPDATE devices SET revoked_reason = CASE
    WHEN EXISTS (SELECT 1 FROM audit_log a WHERE a.device_id = devices.id
                 AND a.action = 'device_revoked' AND a.detail = 'self') THEN 'logout'
    WHEN EXISTS (SELECT 1 FROM audit_log a WHERE a.device_id = devices.id
                 AND a.action = 'device_revoked') THEN 'revoked'
    ELSE 'password' END
WHERE revoked_at IS NOT NULL;

-- A phone that has not reached the server for this many days locks until it unlocks
-- online (`server admin set-lock-days ORG N`).
ALTER TABLE organisations ADD COLUMN lock_after_days BIGINT NOT NULL DEFAULT 14;

-- View versus edit (scope.rs): 0 = the grant or assignment opens documents for reading
-- only (`--view-only` in the admin commands).
ALTER TABLE memberships ADD COLUMN can_edit BIGINT NOT NULL DEFAULT 1;
ALTER TABLE assignments ADD COLUMN can_edit BIGINT NOT NULL DEFAULT 1;

-- Disaster mode (disaster.rs): staff open a district's evacuation roster, regardless of
-- consent, until ends_at (at most 72 hours after started_at) or until ended early.
CREATE TABLE disaster_modes (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organisations(id),
    district_id TEXT NOT NULL REFERENCES districts(id),
    started_by  TEXT NOT NULL REFERENCES users(id),
    started_at  BIGINT NOT NULL,
    ends_at     BIGINT NOT NULL,
    ended_at    BIGINT,
    ended_by    TEXT REFERENCES users(id),
    reason      TEXT NOT NULL
);
CREATE INDEX disaster_modes_org ON disaster_modes(org_id, ends_at);

-- Projection of every person document's profile, evacuation needs and consent to share
-- with the 自主防災組織, for the evacuation roster (rebuilt from the documents like
-- proj_visits; never edited by hand).
CREATE TABLE proj_people (
    doc_id         TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL,
    district_id    TEXT,
    name           TEXT NOT NULL,
    kana           TEXT NOT NULL,
    birth_year     BIGINT,
    address        TEXT NOT NULL,
    phone          TEXT NOT NULL,
    household      TEXT,
    status         TEXT NOT NULL,
    listed         BIGINT NOT NULL,
    support_needed TEXT NOT NULL,
    helper         TEXT NOT NULL,
    shelter        TEXT NOT NULL,
    contacts_json  TEXT NOT NULL,
    consent_bousai BIGINT NOT NULL
);
CREATE INDEX proj_people_roster ON proj_people(org_id, listed, district_id);

-- Person documents projected before this table existed are projected again.
UPDATE documents SET proj_seq = 0 WHERE kind = 'person';

-- The audit page (audit.rs) pages the organisation's log by id, filters by action, and
-- read reports look up earlier rows of a document.
CREATE INDEX audit_org_id ON audit_log(org_id, id);
CREATE INDEX audit_org_action ON audit_log(org_id, action, id);
CREATE INDEX audit_doc ON audit_log(doc_id);

-- The audit log is append-only, enforced by the database.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
