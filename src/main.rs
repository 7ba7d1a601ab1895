//! secure-init binary: everything lives in the library (`secure_init::run`).

fn main() {
    std::process::exit(secure_init::run());
}
