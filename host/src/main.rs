fn main() -> std::process::ExitCode {
    kms_host::cli::main()
}
