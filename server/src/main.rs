//! `server` — run the sync server; `server demo` — load the demo 社協; `server admin …` —
//! manage organisations, districts, salons, users, roles, assignments and devices, and take
//! backups (`server admin backup PATH`, docs/operations.md). Configuration: `DATABASE_URL`
//! (default: SQLite file `mimamori.db` in the working directory), `MIMAMORI_ADDR` (default
//! 127.0.0.1:8080), `MIMAMORI_DIST` (the built PWA, default `dist`).

use anyhow::{Context, bail};
use server::{admin, auth, db, demo};
use shared::codes::{Role, SalonType};

const USAGE: &str = "\
usage:
  server [serve]                         run the server
  server demo [--if-empty]               load the demo 社協 (see README)
  server admin org NAME                  create an organisation; prints its id
  server admin district ORG NAME LEVEL [--parent ID]
  server admin salon ORG NAME [--district ID] [--type fureai|kosodate|…]
  server admin user ORG LOGIN NAME       password from MIMAMORI_PASSWORD or the first line of stdin
  server admin grant LOGIN ROLE [--district ID] [--salon ID] [--view-only]
                                         granting the same role and limit again changes the right
  server admin revoke-role LOGIN ROLE
  server admin assign LOGIN DOC [--view-only]
                                         a volunteer visits the person of DOC (or only views it)
  server admin unassign LOGIN DOC
  server admin devices LOGIN             list a user's devices
  server admin revoke DEVICE_ID          sign a device out
  server admin disable LOGIN             refuse every device of a user
  server admin set-lock-days ORG DAYS    phones lock after DAYS without reaching the server (default 14)
  server admin list                      organisations, districts and salons
  server admin backup PATH               a consistent copy while the server runs: SQLite VACUUM INTO,
                                         PostgreSQL pg_dump -Fc (MIMAMORI_PG_DUMP or pg_dump on PATH);
                                         never overwrites PATH (docs/operations.md, Backups and restore)
  server admin audit-refusals [--hours N]
                                         refusals anyone can provoke without signing in (throttled sign-ins,
                                         foreign Origin, unknown devices), counted by address and action,
                                         and the newest audit rows of no organisation (default: 24 hours)
  server admin new-epoch                 after a restore by other means, servers stopped: every device
                                         reconciles all its documents at its next sync
";

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn arg(args: &[String], i: usize, what: &str) -> anyhow::Result<String> {
    args.get(i)
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .with_context(|| format!("missing {what}\n\n{USAGE}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| db::DEFAULT_URL.to_string());
    match args.first().map(String::as_str) {
        None | Some("serve") => {
            let addr =
                std::env::var("MIMAMORI_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_string());
            let dist = std::path::PathBuf::from(
                std::env::var("MIMAMORI_DIST").unwrap_or_else(|_| "dist".into()),
            );
            let dist = dist.join("index.html").exists().then_some(dist);
            if dist.is_none() {
                eprintln!("note: no built app found (MIMAMORI_DIST); serving the API only");
            }
            server::serve(&url, &addr, dist).await
        }
        Some("demo") => {
            let pool = db::open(&url, 4).await?;
            if !demo::is_empty(&pool).await? {
                if args.iter().any(|a| a == "--if-empty") {
                    println!("the database already has data; demo not loaded");
                    return Ok(());
                }
                bail!(
                    "the database already has an organisation; use an empty database for the demo"
                );
            }
            let today = shared::Date::from_unix_ms_jst(db::now_ms()).context("clock")?;
            let s = demo::load(&pool, today).await?;
            println!(
                "demo loaded: organisation {}, {} persons, {} changes; log in as admin, staff, minsei01…{:02}, vol01…{:02}, salon1…{}, bousai01…{:02} with password {}",
                s.org,
                s.persons,
                s.changes,
                demo::MINSEI,
                demo::VOLUNTEERS,
                demo::SALONS,
                demo::BOUSAI,
                demo::PASSWORD
            );
            Ok(())
        }
        Some("admin") if args.get(1).is_some_and(|a| a == "backup") => {
            // Not through db::open: the backup neither creates nor migrates the database.
            let path = arg(&args, 2, "PATH")?;
            println!(
                "{}",
                admin::backup(&url, std::path::Path::new(&path)).await?
            );
            Ok(())
        }
        Some("admin") => {
            let pool = db::open(&url, 2).await?;
            admin_cmd(&pool, &args[1..]).await
        }
        Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
}

async fn admin_cmd(db: &db::Db, a: &[String]) -> anyhow::Result<()> {
    match a.first().map(String::as_str) {
        Some("org") => println!("{}", admin::create_org(db, &arg(a, 1, "NAME")?).await?),
        Some("district") => {
            let id = admin::create_district(
                db,
                &arg(a, 1, "ORG")?,
                flag(a, "--parent").as_deref(),
                &arg(a, 2, "NAME")?,
                &arg(a, 3, "LEVEL")?,
                None,
            )
            .await?;
            println!("{id}");
        }
        Some("salon") => {
            let t = SalonType::from_code(&flag(a, "--type").unwrap_or_else(|| "fureai".into()));
            let (id, doc) = admin::create_salon(
                db,
                &arg(a, 1, "ORG")?,
                flag(a, "--district").as_deref(),
                &arg(a, 2, "NAME")?,
                &t,
            )
            .await?;
            println!("{id} (document {doc})");
        }
        Some("user") => {
            let password = match std::env::var("MIMAMORI_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            if password.chars().count() < 8 {
                bail!("a password has at least 8 characters");
            }
            let id = admin::create_user(
                db,
                &arg(a, 1, "ORG")?,
                &arg(a, 2, "LOGIN")?,
                &arg(a, 3, "NAME")?,
                &auth::hash_password(&password)?,
            )
            .await?;
            println!("{id}");
        }
        Some("grant") => {
            let (user, _) = admin::user_by_login(db, &arg(a, 1, "LOGIN")?).await?;
            let role = Role::from_code(&arg(a, 2, "ROLE")?);
            if !role.is_known() {
                bail!(
                    "unknown role; one of admin, staff, minsei, volunteer, salon_leader, salon_helper, member, bousai"
                );
            }
            admin::set_grant(
                db,
                &user,
                &role,
                flag(a, "--district").as_deref(),
                flag(a, "--salon").as_deref(),
                !a.iter().any(|x| x == "--view-only"),
            )
            .await?;
        }
        Some("revoke-role") => {
            let (user, _) = admin::user_by_login(db, &arg(a, 1, "LOGIN")?).await?;
            admin::revoke_role(db, &user, &Role::from_code(&arg(a, 2, "ROLE")?)).await?;
        }
        Some("assign") => {
            let (user, _) = admin::user_by_login(db, &arg(a, 1, "LOGIN")?).await?;
            admin::set_assignment(
                db,
                &user,
                &arg(a, 2, "DOC")?,
                !a.iter().any(|x| x == "--view-only"),
            )
            .await?;
        }
        Some("unassign") => {
            let (user, _) = admin::user_by_login(db, &arg(a, 1, "LOGIN")?).await?;
            admin::unassign(db, &user, &arg(a, 2, "DOC")?).await?;
        }
        Some("devices") => {
            let (user, _) = admin::user_by_login(db, &arg(a, 1, "LOGIN")?).await?;
            for (id, name, app, seen, revoked) in admin::devices(db, &user).await? {
                println!(
                    "{id}\t{name}\t{app}\tlast seen {seen}\t{}",
                    if revoked { "revoked" } else { "active" }
                );
            }
        }
        Some("revoke") => {
            if !admin::revoke_device(
                db,
                &arg(a, 1, "DEVICE_ID")?,
                auth::RevokedReason::Revoked,
                "admin",
            )
            .await?
            {
                bail!("no active device with that id");
            }
            println!("revoked");
        }
        Some("disable") => {
            let (user, _) = admin::user_by_login(db, &arg(a, 1, "LOGIN")?).await?;
            admin::disable_user(db, &user).await?;
            println!("disabled");
        }
        Some("set-lock-days") => {
            let org = arg(a, 1, "ORG")?;
            let days: u32 = arg(a, 2, "DAYS")?
                .parse()
                .context("DAYS is a whole number of days")?;
            admin::set_lock_days(db, &org, days).await?;
            println!("phones of {org} lock after {days} days without the server");
        }
        Some("new-epoch") => {
            admin::new_epoch(db).await?;
            println!("new epoch set: every device reconciles its documents at its next sync");
        }
        Some("audit-refusals") => {
            let hours: i64 = flag(a, "--hours")
                .unwrap_or_else(|| "24".into())
                .parse()
                .context("--hours is a whole number")?;
            for line in admin::audit_refusals(db, hours.max(1)).await? {
                println!("{line}");
            }
        }
        Some("list") => {
            for line in admin::list(db).await? {
                println!("{line}");
            }
        }
        _ => bail!("{USAGE}"),
    }
    Ok(())
}
