//! Administration: the organisation's structure and who may see what. Used by the
//! `server admin …` commands, by `server demo`, and by tests.
//!
//! Every change of access (a role, an assignment) is written together with the scope
//! events it causes: documents entering or leaving each affected user's scope, numbered in
//! the organisation's change sequence, so devices learn of them on their next sync.

use crate::auth;
use crate::db::{Db, audit, new_id, now_ms};
use crate::scope;
use crate::store::{self, NewRow};
use anyhow::{Context, bail};
use shared::codes::{DocKind, Role, SalonType};
use sqlx::Row;

pub async fn create_org(db: &Db, name: &str) -> anyhow::Result<String> {
    let id = new_id();
    sqlx::query("INSERT INTO organisations (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(id.clone())
        .bind(name.to_string())
        .bind(now_ms())
        .execute(db)
        .await?;
    audit(db, Some(&id), None, None, "org_created", None, name).await?;
    Ok(id)
}

pub(crate) async fn bump_directory(tx: &mut crate::db::Tx<'_>, org: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE organisations SET directory_version = directory_version + 1 WHERE id = $1")
        .bind(org.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Makes a document on the server with its first change (salon and map documents).
async fn create_doc(
    tx: &mut crate::db::Tx<'_>,
    row: NewRow<'_>,
    kind: &DocKind,
) -> anyhow::Result<()> {
    store::insert_doc(tx, &row).await?;
    store::append_locked(tx, row.org, row.id, &store::genesis(kind)?).await?;
    Ok(())
}

/// A district (支所, 地区, 小学校区, 自治会 …) under `parent`, with its support-map document.
pub async fn create_district(
    db: &Db,
    org: &str,
    parent: Option<&str>,
    name: &str,
    level: &str,
    center: Option<(f64, f64, u8)>,
) -> anyhow::Result<String> {
    let id = new_id();
    let map = new_id();
    let mut tx = db.begin().await?;
    let parent_path = match parent {
        Some(p) => sqlx::query_scalar::<_, String>(
            "SELECT path FROM districts WHERE id = $1 AND org_id = $2",
        )
        .bind(p.to_string())
        .bind(org.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .with_context(|| format!("no district {p} in this organisation"))?,
        None => "/".to_string(),
    };
    sqlx::query(
        "INSERT INTO districts (id, org_id, parent_id, name, level, path, map_doc, lat, lon, zoom, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id.clone())
    .bind(org.to_string())
    .bind(parent.map(str::to_string))
    .bind(name.to_string())
    .bind(level.to_string())
    .bind(format!("{parent_path}{id}/"))
    .bind(map.clone())
    .bind(center.map(|c| c.0))
    .bind(center.map(|c| c.1))
    .bind(center.map(|c| i64::from(c.2)))
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    create_doc(
        &mut tx,
        NewRow {
            id: &map,
            org,
            kind: "map",
            district: Some(&id),
            ..Default::default()
        },
        &DocKind::Map,
    )
    .await?;
    bump_directory(&mut tx, org).await?;
    audit(
        &mut *tx,
        Some(org),
        None,
        None,
        "district_created",
        None,
        name,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// A salon, with its document. Returns (salon id, document id).
pub async fn create_salon(
    db: &Db,
    org: &str,
    district: Option<&str>,
    name: &str,
    salon_type: &SalonType,
) -> anyhow::Result<(String, String)> {
    let id = new_id();
    let doc = new_id();
    let mut tx = db.begin().await?;
    sqlx::query("INSERT INTO salons (id, org_id, district_id, name, salon_type, doc_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(id.clone())
        .bind(org.to_string())
        .bind(district.map(str::to_string))
        .bind(name.to_string())
        .bind(salon_type.code().to_string())
        .bind(doc.clone())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    create_doc(
        &mut tx,
        NewRow {
            id: &doc,
            org,
            kind: "salon",
            salon: Some(&id),
            ..Default::default()
        },
        &DocKind::Salon,
    )
    .await?;
    bump_directory(&mut tx, org).await?;
    audit(
        &mut *tx,
        Some(org),
        None,
        None,
        "salon_created",
        Some(&doc),
        name,
    )
    .await?;
    tx.commit().await?;
    Ok((id, doc))
}

/// A user. `password_hash` from [`auth::hash_password`].
pub async fn create_user(
    db: &Db,
    org: &str,
    login: &str,
    name: &str,
    password_hash: &str,
) -> anyhow::Result<String> {
    let login = login.trim();
    if login.is_empty() || login.len() > 64 {
        bail!("a login id is 1 to 64 characters");
    }
    let id = new_id();
    let mut tx = db.begin().await?;
    sqlx::query("INSERT INTO users (id, org_id, login, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id.clone())
        .bind(org.to_string())
        .bind(login.to_string())
        .bind(name.to_string())
        .bind(password_hash.to_string())
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .with_context(|| format!("cannot create user {login} (is the login id taken?)"))?;
    bump_directory(&mut tx, org).await?;
    audit(
        &mut *tx,
        Some(org),
        Some(&id),
        None,
        "user_created",
        None,
        login,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn user_by_login(db: &Db, login: &str) -> anyhow::Result<(String, String)> {
    let r = sqlx::query("SELECT id, org_id FROM users WHERE login = $1")
        .bind(login.to_string())
        .fetch_optional(db)
        .await?
        .with_context(|| format!("no user with login id {login}"))?;
    Ok((r.get(0), r.get(1)))
}

/// Who changed access through the API (the desk), for the audit row; the admin commands
/// and the demo have none.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub user: &'a str,
    pub device: &'a str,
}

/// Runs `mutate` (a change of `user`'s access) in one transaction with the scope events it
/// causes, audited as `permission_change` with `detail` (roles, rights and ids only).
async fn rescope<F>(
    db: &Db,
    user: &str,
    detail: &str,
    doc: Option<&str>,
    mutate: F,
) -> anyhow::Result<()>
where
    F: for<'t> FnOnce(&'t mut sqlx::AnyConnection) -> futures_like::BoxFut<'t>,
{
    let mut tx = db.begin().await?;
    rescope_in(&mut tx, user, detail, doc, None, mutate).await?;
    tx.commit().await?;
    Ok(())
}

/// [`rescope`] inside the caller's transaction (the desk's roster import makes documents
/// and assignments in one transaction). With an `actor`, the audit row names them (`by
/// <user id>` in the detail, their device).
pub async fn rescope_in<F>(
    tx: &mut crate::db::Tx<'_>,
    user: &str,
    detail: &str,
    doc: Option<&str>,
    actor: Option<Actor<'_>>,
    mutate: F,
) -> anyhow::Result<()>
where
    F: for<'t> FnOnce(&'t mut sqlx::AnyConnection) -> futures_like::BoxFut<'t>,
{
    // Take the sequence lock first, before reading anything: scope events are numbered
    // like changes. And on SQLite a transaction that has read cannot wait for another
    // writer once it starts writing: it fails at once ("database is locked") if anything
    // was committed since its read (say the projection worker of a running server, while
    // `server admin assign` runs). Writing first, it waits its turn (busy_timeout).
    let row = sqlx::query(
        "UPDATE organisations SET change_seq = change_seq \
         WHERE id = (SELECT org_id FROM users WHERE id = $1) RETURNING id, change_seq",
    )
    .bind(user.to_string())
    .fetch_one(&mut **tx)
    .await?;
    let org: String = row.get(0);
    let mut next = row.get::<i64, _>(1) + 1;
    let grants = auth::grants(&mut **tx, user).await?;
    let before = scope::scope(tx, &org, user, &grants).await?;
    mutate(tx).await?;
    let grants = auth::grants(&mut **tx, user).await?;
    let after = scope::scope(tx, &org, user, &grants).await?;
    let entered = after
        .keys()
        .filter(|k| !before.contains_key(*k))
        .map(|k| (k, 1i64));
    let left = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .map(|k| (k, 0i64));
    for (doc, e) in entered.chain(left) {
        sqlx::query("INSERT INTO scope_events (org_id, seq, user_id, doc_id, entered) VALUES ($1, $2, $3, $4, $5)")
            .bind(org.clone())
            .bind(next)
            .bind(user.to_string())
            .bind(doc.clone())
            .bind(e)
            .execute(&mut **tx)
            .await?;
        next += 1;
    }
    store::set_seq(tx, &org, next - 1).await?;
    // A change of the right alone (view ↔ edit) moves no document in or out of scope; the
    // new directory version makes devices fetch the new `can_edit`.
    bump_directory(tx, &org).await?;
    let detail = match actor {
        Some(a) => format!("{detail} by {}", a.user),
        None => detail.to_string(),
    };
    audit(
        &mut **tx,
        Some(&org),
        Some(user),
        actor.map(|a| a.device),
        "permission_change",
        doc,
        &detail,
    )
    .await?;
    Ok(())
}

pub mod futures_like {
    pub type BoxFut<'t> =
        std::pin::Pin<Box<dyn std::future::Future<Output = sqlx::Result<()>> + Send + 't>>;
}

fn right(can_edit: bool) -> &'static str {
    if can_edit { "edit" } else { "view" }
}

/// Gives `user` a role, limited to a district subtree or a salon where given, with the
/// right to change the documents it opens.
pub async fn grant(
    db: &Db,
    user: &str,
    role: &Role,
    district: Option<&str>,
    salon: Option<&str>,
) -> anyhow::Result<()> {
    set_grant(db, user, role, district, salon, true).await
}

/// Gives `user` a role (limited to a district subtree or a salon where given) that opens
/// its documents for editing, or for viewing only. Granting the same role and limit again
/// changes the right of the existing grant.
pub async fn set_grant(
    db: &Db,
    user: &str,
    role: &Role,
    district: Option<&str>,
    salon: Option<&str>,
    can_edit: bool,
) -> anyhow::Result<()> {
    let (role, district, salon) = (
        role.code().to_string(),
        district.map(str::to_string),
        salon.map(str::to_string),
    );
    let mut detail = format!("grant {role} {}", right(can_edit));
    if let Some(d) = &district {
        detail.push_str(&format!(" district {d}"));
    }
    if let Some(s) = &salon {
        detail.push_str(&format!(" salon {s}"));
    }
    let user_s = user.to_string();
    rescope(db, user, &detail, None, move |c| {
        Box::pin(async move {
            let edit = i64::from(can_edit);
            let same = sqlx::query(
                "UPDATE memberships SET can_edit = $1 WHERE user_id = $2 AND role = $3 \
                 AND COALESCE(district_id, '') = COALESCE($4, '') AND COALESCE(salon_id, '') = COALESCE($5, '')",
            )
            .bind(edit)
            .bind(user_s.clone())
            .bind(role.clone())
            .bind(district.clone())
            .bind(salon.clone())
            .execute(&mut *c)
            .await?;
            if same.rows_affected() > 0 {
                return Ok(());
            }
            sqlx::query("INSERT INTO memberships (id, user_id, role, district_id, salon_id, created_at, can_edit) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(new_id())
                .bind(user_s)
                .bind(role)
                .bind(district)
                .bind(salon)
                .bind(now_ms())
                .bind(edit)
                .execute(c)
                .await
                .map(|_| ())
        })
    })
    .await
}

/// Takes every role of `role` from `user`.
pub async fn revoke_role(db: &Db, user: &str, role: &Role) -> anyhow::Result<()> {
    let (u, r) = (user.to_string(), role.code().to_string());
    let detail = format!("revoke-role {}", role.code());
    rescope(db, user, &detail, None, move |c| {
        Box::pin(async move {
            sqlx::query("DELETE FROM memberships WHERE user_id = $1 AND role = $2")
                .bind(u)
                .bind(r)
                .execute(c)
                .await
                .map(|_| ())
        })
    })
    .await
}

/// Assigns a volunteer to visit the person of document `doc` (with the right to record).
pub async fn assign(db: &Db, user: &str, doc: &str) -> anyhow::Result<()> {
    set_assignment(db, user, doc, true).await
}

/// Assigns a volunteer to the person of document `doc`, to record visits or to view
/// only; assigning again changes the right.
pub async fn set_assignment(db: &Db, user: &str, doc: &str, can_edit: bool) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    set_assignment_in(&mut tx, user, doc, can_edit, None).await?;
    tx.commit().await?;
    Ok(())
}

/// [`set_assignment`] inside the caller's transaction, naming who did it.
pub async fn set_assignment_in(
    tx: &mut crate::db::Tx<'_>,
    user: &str,
    doc: &str,
    can_edit: bool,
    actor: Option<Actor<'_>>,
) -> anyhow::Result<()> {
    let (u, d) = (user.to_string(), doc.to_string());
    let detail = format!("assign {}", right(can_edit));
    rescope_in(tx, user, &detail, Some(doc), actor, move |c| {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO assignments (user_id, doc_id, created_at, can_edit) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id, doc_id) DO UPDATE SET can_edit = excluded.can_edit",
            )
            .bind(u)
            .bind(d)
            .bind(now_ms())
            .bind(i64::from(can_edit))
            .execute(c)
            .await
            .map(|_| ())
        })
    })
    .await
}

pub async fn unassign(db: &Db, user: &str, doc: &str) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    unassign_in(&mut tx, user, doc, None).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn unassign_in(
    tx: &mut crate::db::Tx<'_>,
    user: &str,
    doc: &str,
    actor: Option<Actor<'_>>,
) -> anyhow::Result<()> {
    let (u, d) = (user.to_string(), doc.to_string());
    rescope_in(tx, user, "unassign", Some(doc), actor, move |c| {
        Box::pin(async move {
            sqlx::query("DELETE FROM assignments WHERE user_id = $1 AND doc_id = $2")
                .bind(u)
                .bind(d)
                .execute(c)
                .await
                .map(|_| ())
        })
    })
    .await
}

/// Moves `user`'s grant of `role` from district `from` to district `to` (a grant already
/// held at `to` is kept and the one at `from` dropped), with its scope events.
pub async fn move_grant_in(
    tx: &mut crate::db::Tx<'_>,
    user: &str,
    role: &Role,
    from: &str,
    to: &str,
    actor: Option<Actor<'_>>,
) -> anyhow::Result<()> {
    let (u, r, f, t) = (
        user.to_string(),
        role.code().to_string(),
        from.to_string(),
        to.to_string(),
    );
    let detail = format!("move-grant {} district {from} to {to}", role.code());
    rescope_in(tx, user, &detail, None, actor, move |c| {
        Box::pin(async move {
            let held: Option<String> = sqlx::query_scalar(
                "SELECT id FROM memberships WHERE user_id = $1 AND role = $2 AND district_id = $3 AND salon_id IS NULL",
            )
            .bind(u.clone())
            .bind(r.clone())
            .bind(t.clone())
            .fetch_optional(&mut *c)
            .await?;
            if held.is_some() {
                sqlx::query(
                    "DELETE FROM memberships WHERE user_id = $1 AND role = $2 AND district_id = $3 AND salon_id IS NULL",
                )
                .bind(u)
                .bind(r)
                .bind(f)
                .execute(c)
                .await
                .map(|_| ())
            } else {
                sqlx::query(
                    "UPDATE memberships SET district_id = $4 WHERE user_id = $1 AND role = $2 AND district_id = $3 AND salon_id IS NULL",
                )
                .bind(u)
                .bind(r)
                .bind(f)
                .bind(t)
                .execute(c)
                .await
                .map(|_| ())
            }
        })
    })
    .await
}

/// Disables a user: every device of theirs is refused from now on (401 `revoked`), and
/// their devices are signed out with their wrapping secrets destroyed.
pub async fn disable_user(db: &Db, user: &str) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL")
        .bind(now_ms())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await?;
    let org: String = sqlx::query_scalar("SELECT org_id FROM users WHERE id = $1")
        .bind(user.to_string())
        .fetch_one(&mut *tx)
        .await?;
    let devices: Vec<String> =
        sqlx::query_scalar("SELECT id FROM devices WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(user.to_string())
            .fetch_all(&mut *tx)
            .await?;
    for d in &devices {
        if auth::revoke_in(&mut tx, d, auth::RevokedReason::Revoked).await? {
            audit(
                &mut *tx,
                Some(&org),
                Some(user),
                Some(d),
                "device_revoked",
                None,
                "user disabled",
            )
            .await?;
        }
    }
    audit(
        &mut *tx,
        Some(&org),
        Some(user),
        None,
        "user_disabled",
        None,
        "",
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// How many days a phone of `org` may go without reaching the server before it locks
/// (`server admin set-lock-days`). Audited.
pub async fn set_lock_days(db: &Db, org: &str, days: u32) -> anyhow::Result<()> {
    if !(1..=365).contains(&days) {
        bail!("the lock period is 1 to 365 days");
    }
    let mut tx = db.begin().await?;
    let r = sqlx::query("UPDATE organisations SET lock_after_days = $1 WHERE id = $2")
        .bind(i64::from(days))
        .bind(org.to_string())
        .execute(&mut *tx)
        .await?;
    if r.rows_affected() != 1 {
        bail!("no organisation {org}");
    }
    audit(
        &mut *tx,
        Some(org),
        None,
        None,
        "lock_days_changed",
        None,
        &days.to_string(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Signs a device out: its token stops working at once, its wrapping secret and PIN hash
/// are destroyed; audited (`device_revoked`, detail `by`). Returns whether it was signed in.
pub async fn revoke_device(
    db: &Db,
    device: &str,
    why: auth::RevokedReason,
    by: &str,
) -> anyhow::Result<bool> {
    let mut tx = db.begin().await?;
    let done = auth::revoke_in(&mut tx, device, why).await?;
    let row = sqlx::query(
        "SELECT u.org_id, u.id FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = $1",
    )
    .bind(device.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = row.filter(|_| done) {
        let (org, user): (String, String) = (row.get(0), row.get(1));
        audit(
            &mut *tx,
            Some(&org),
            Some(&user),
            Some(device),
            "device_revoked",
            None,
            by,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(done)
}

/// The devices of a user: (id, name, app version, last seen, revoked).
pub async fn devices(
    db: &Db,
    user: &str,
) -> anyhow::Result<Vec<(String, String, String, i64, bool)>> {
    let rows = sqlx::query("SELECT id, name, app_version, last_seen_at, revoked_at FROM devices WHERE user_id = $1 ORDER BY created_at")
        .bind(user.to_string())
        .fetch_all(db)
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get::<Option<i64>, _>(4).is_some(),
            )
        })
        .collect())
}

/// Organisations, districts (indented by depth) and salons, one line each.
pub async fn list(db: &Db) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for o in sqlx::query("SELECT id, name FROM organisations ORDER BY created_at")
        .fetch_all(db)
        .await?
    {
        let org: String = o.get(0);
        out.push(format!("organisation {} {}", org, o.get::<String, _>(1)));
        for d in sqlx::query(
            "SELECT id, name, level, path, map_doc FROM districts WHERE org_id = $1 ORDER BY path",
        )
        .bind(org.clone())
        .fetch_all(db)
        .await?
        {
            let depth = d.get::<String, _>(3).matches('/').count().saturating_sub(1);
            out.push(format!(
                "{}district {} {} ({}) map {}",
                "  ".repeat(depth),
                d.get::<String, _>(0),
                d.get::<String, _>(1),
                d.get::<String, _>(2),
                d.get::<Option<String>, _>(4).unwrap_or_default()
            ));
        }
        for s in sqlx::query("SELECT id, name, doc_id FROM salons WHERE org_id = $1 ORDER BY name")
            .bind(org)
            .fetch_all(db)
            .await?
        {
            out.push(format!(
                "  salon {} {} document {}",
                s.get::<String, _>(0),
                s.get::<String, _>(1),
                s.get::<String, _>(2)
            ));
        }
    }
    Ok(out)
}

// ───────────────────────────── backups ─────────────────────────────

/// `server admin backup PATH`: a consistent copy of the database at `url`, taken while the
/// server runs, written to `dest` (never overwriting a file). SQLite: `VACUUM INTO`, then
/// an integrity check of the copy. PostgreSQL: `pg_dump --format=custom` (the binary from
/// `MIMAMORI_PG_DUMP`, else `pg_dump` on the `PATH`), restored with `pg_restore`.
///
/// The copy carries no epoch (the `meta` table, which holds only the epoch, is left
/// empty): the server that starts on a restored backup makes a new one, so every device's
/// cursor is unknown to it and every device reconciles all its documents (sync-protocol.md,
/// *resync*). Keeping the old epoch would let a device whose cursor is newer than the
/// backup pass as up to date once the restored server's sequence has caught up, and the
/// work it alone held would never come back.
///
/// The copy is written to `PATH.partial` and renamed once complete and on disk, so `PATH`
/// is always a whole backup. Returns a one-line summary.
pub async fn backup(url: &str, dest: &std::path::Path) -> anyhow::Result<String> {
    if dest.exists() {
        bail!(
            "{} already exists; backups are never overwritten, choose a new name",
            dest.display()
        );
    }
    let name = dest
        .file_name()
        .context("PATH must name a file")?
        .to_string_lossy()
        .to_string();
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!("the directory {} does not exist", dir.display());
    }
    let partial = dir.join(format!("{name}.partial"));
    let _ = std::fs::remove_file(&partial);
    let made = if crate::db::is_sqlite(url) {
        backup_sqlite(url, &partial).await
    } else {
        backup_postgres(url, &partial).await
    };
    let summary = match made {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, dest)?;
    std::fs::File::open(&dir)?.sync_all()?;
    let bytes = std::fs::metadata(dest)?.len();
    Ok(format!(
        "backup written to {} ({bytes} bytes): {summary}",
        dest.display()
    ))
}

async fn backup_sqlite(url: &str, partial: &std::path::Path) -> anyhow::Result<String> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;
    let target = partial
        .to_str()
        .context("the backup path must be valid UTF-8")?
        .to_string();
    // The live database: never created here (a typo in DATABASE_URL must not back up an
    // empty new file); waits for a writer rather than failing.
    let mut live = SqliteConnectOptions::from_str(url)
        .context("DATABASE_URL is not a database address")?
        .create_if_missing(false)
        .busy_timeout(std::time::Duration::from_secs(30))
        .connect()
        .await
        .with_context(|| format!("cannot open the database at {}", crate::db::redact(url)))?;
    // One read transaction: a consistent snapshot even while the server writes (WAL).
    sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&mut live)
        .await
        .context("VACUUM INTO failed")?;
    live.close().await?;

    let mut copy = SqliteConnectOptions::new()
        .filename(partial)
        .create_if_missing(false)
        .journal_mode(SqliteJournalMode::Delete)
        .connect()
        .await?;
    sqlx::query("DELETE FROM meta WHERE key = 'epoch'")
        .execute(&mut copy)
        .await?;
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut copy)
        .await?;
    if check != "ok" {
        bail!("the copy failed its integrity check: {check}");
    }
    let docs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM documents")
        .fetch_one(&mut copy)
        .await?;
    let changes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM changes")
        .fetch_one(&mut copy)
        .await?;
    copy.close().await?;
    Ok(format!(
        "SQLite copy, integrity ok, {docs} documents, {changes} changes; restore: stop the server, put the file in place of the database (remove its -wal and -shm files), start the server"
    ))
}

/// Percent-decoding of a URL part (the password of `DATABASE_URL`).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn backup_postgres(url: &str, partial: &std::path::Path) -> anyhow::Result<String> {
    let pg_dump = std::env::var_os("MIMAMORI_PG_DUMP").unwrap_or_else(|| "pg_dump".into());
    // The password goes through the environment, not the command line (visible in `ps`).
    let mut u = reqwest::Url::parse(url).context("DATABASE_URL is not a database address")?;
    let password = u.password().map(percent_decode);
    let _ = u.set_password(None);
    let mut cmd = tokio::process::Command::new(&pg_dump);
    cmd.arg("--format=custom")
        .arg("--exclude-table-data=meta")
        .arg("--file")
        .arg(partial)
        .arg("--dbname")
        .arg(u.as_str());
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let status = match cmd.status().await {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "PostgreSQL backups are made with pg_dump, which was not found ({}). Install the \
             PostgreSQL client of the server's major version or newer (Debian: postgresql-client), \
             or set MIMAMORI_PG_DUMP to its path. By hand: pg_dump -Fc --exclude-table-data=meta \
             -f PATH \"$DATABASE_URL\"",
            std::path::Path::new(&pg_dump).display()
        ),
        Err(e) => return Err(e).context("cannot run pg_dump"),
    };
    if !status.success() {
        bail!("pg_dump failed ({status}); nothing was written");
    }
    Ok(
        "pg_dump custom format (without the epoch); restore: pg_restore --no-owner -d NEW_DATABASE PATH into a new empty database, point DATABASE_URL at it, start the server"
            .to_string(),
    )
}

/// `server admin new-epoch`: after the database was restored by other means than a
/// `server admin backup` file (a file-system snapshot, `pg_basebackup` or point-in-time
/// recovery, a plain `pg_dump`), with every server process stopped: a new epoch, so every
/// device reconciles all its documents at its next sync.
pub async fn new_epoch(db: &Db) -> anyhow::Result<()> {
    sqlx::query("UPDATE meta SET value = $1 WHERE key = 'epoch'")
        .bind(new_id())
        .execute(db)
        .await?;
    audit(db, None, None, None, "new_epoch", None, "").await?;
    Ok(())
}

/// `server admin audit-refusals [--hours N]`: for the platform administrator, the refusals
/// anyone can provoke without signing in (db::audit_refusal) over the last `hours`: first
/// one line per address and action with every refusal counted (recorded as audit rows or
/// not), most first; then the newest audit rows that belong to no organisation.
pub async fn audit_refusals(db: &Db, hours: i64) -> anyhow::Result<Vec<String>> {
    crate::db::summarise_refusals(db).await?;
    let since = now_ms() - hours * 3_600_000;
    let limit = crate::db::REFUSALS_AUDITED_PER_MINUTE;
    let mut out = vec![format!(
        "refusals in the last {hours} hours, by address and action (at most {limit} a minute are audit rows):"
    )];
    let rows = sqlx::query(
        "SELECT ip, action, CAST(SUM(count) AS BIGINT), CAST(SUM(CASE WHEN count > $2 THEN $2 ELSE count END) AS BIGINT), MIN(minute), MAX(minute) \
         FROM audit_quota WHERE minute >= $1 GROUP BY ip, action ORDER BY SUM(count) DESC, ip, action LIMIT 200",
    )
    .bind(since / 60_000)
    .bind(limit)
    .fetch_all(db)
    .await?;
    for r in &rows {
        let (ip, action, total, recorded, first, last): (String, String, i64, i64, i64, i64) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
        out.push(format!(
            "{ip}\t{action}\t{total} refusals\t{recorded} audited\tfirst {}\tlast {}",
            minute_text(first),
            minute_text(last)
        ));
    }
    if rows.is_empty() {
        out.push("(none)".into());
    }
    out.push("newest audit rows of no organisation:".into());
    let rows = sqlx::query(
        "SELECT at, action, detail FROM audit_log WHERE org_id IS NULL AND at >= $1 ORDER BY id DESC LIMIT 50",
    )
    .bind(since)
    .fetch_all(db)
    .await?;
    for r in &rows {
        let (at, action, detail): (i64, String, String) = (r.get(0), r.get(1), r.get(2));
        out.push(format!("{}\t{action}\t{detail}", minute_text(at / 60_000)));
    }
    Ok(out)
}

/// A minute number (unix ms / 60,000) as `YYYY-MM-DD HH:MM` in JST.
fn minute_text(minute: i64) -> String {
    let ms = minute * 60_000;
    let date = shared::Date::from_unix_ms_jst(ms).map_or_else(|| "?".into(), |d| d.to_string());
    let jst = (ms / 60_000 + 9 * 60).rem_euclid(24 * 60);
    format!("{date} {:02}:{:02} JST", jst / 60, jst % 60)
}
