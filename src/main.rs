fn main() -> std::process::ExitCode {
    tx_cli::main()
}
