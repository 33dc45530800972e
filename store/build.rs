//! `sqlx::migrate!` reads `migrations/` when the crate compiles, but cargo does not know a new
//! file there changes the crate: without this, a migration added after the last build is left
//! out of the binary until something else changes (sqlx's `migrate!` documentation, "Triggering
//! Recompilation on Migration Changes"; what `sqlx migrate build-script` writes).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
