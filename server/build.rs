// The migrations are embedded by `sqlx::migrate!`, which cannot tell cargo to watch them on
// a stable compiler: a new migration file must still rebuild the server.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
