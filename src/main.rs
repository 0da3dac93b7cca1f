//! The `autorekey` binary: everything lives in the library; see `autorekey::commands`.

fn main() -> std::process::ExitCode {
    autorekey::commands::main()
}
