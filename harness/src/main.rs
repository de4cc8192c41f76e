fn main() {
    std::process::exit(hl7_harness::cli::main());
}
